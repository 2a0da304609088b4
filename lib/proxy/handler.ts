/**
 * The OpenAI-compatible proxy as a plain `(Request) => Response` handler: resolves the opaque
 * model slug through the router, rewrites only `model`, and streams the upstream answer straight
 * back. Testable without sockets; {@linkcode startProxyServer} puts it on the network.
 *
 * @module
 */
import type { ProxyConfig } from "../config/schema.ts";
import type { EndpointTarget, Lease, LeaseOutcome, Router } from "../registry/types.ts";
import {
  type CounterSeries,
  counterSeries,
  type DataPlaneMetrics,
  getLogger,
  type HistogramSeries,
  histogramSeries,
  type Logger,
} from "../telemetry/mod.ts";
import * as errors from "./errors.ts";
import {
  pickRequestId,
  toClientResponseFields,
  toClientResponseHeaders,
  upstreamRequestHeaders,
} from "./headers.ts";
import { findModelSpans, replaceSpans, type Span } from "./model_rewrite.ts";
import { extractUsage, tapUsage, type UsageLedger, usageTail } from "./usage.ts";
import {
  type BodyEnd,
  type UpstreamClient,
  type UpstreamClientFactory,
  UpstreamError,
  type UpstreamResponse,
} from "./upstream_client.ts";

export interface ProxyHandlerOptions {
  router: Router;
  /** Upstream client per target: a factory (one pool per origin) or a plain function. */
  client: UpstreamClientFactory | ((target: EndpointTarget) => UpstreamClient);
  /** Uses `max_body_bytes` and `retry_connect_failures`; timeouts live in the client. */
  proxy: Pick<ProxyConfig, "max_body_bytes" | "retry_connect_failures">;
  metrics?: DataPlaneMetrics;
  /** Monotonic milliseconds. @default performance.now */
  now?: () => number;
  /** Token usage per (tenant, slug, endpoint, model) for the relay's `usage_report`. */
  usage?: UsageLedger;
}

export interface ProxyHandler {
  fetch(req: Request, info?: Deno.ServeHandlerInfo): Promise<Response>;
  /** Requests received and not yet finished (body fully sent, failed or cancelled). */
  inFlight(): number;
  /** Aborts every in-flight request (shutdown after the grace period). */
  abortAll(reason?: unknown): void;
}

const PROXIED_PATHS = new Set(["/v1/chat/completions", "/v1/completions", "/v1/embeddings"]);
const NULL_BODY_STATUS = new Set([101, 103, 204, 205, 304]);
const decoder = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();
const baseLog = getLogger("proxy");

/** Creates the proxy handler. */
export function createProxyHandler(options: ProxyHandlerOptions): ProxyHandler {
  const { router, proxy, metrics } = options;
  const now = options.now ?? (() => performance.now());
  const client = options.client;
  const clientFor = typeof client === "function"
    ? client
    : (target: EndpointTarget) => client.clientFor(target);
  const active = new Set<Exchange>();
  const series = metrics === undefined ? undefined : new SeriesCache(metrics);
  const shared: Shared = {
    router,
    proxy,
    metrics,
    series,
    now,
    clientFor,
    active,
    usage: options.usage,
  };

  return {
    async fetch(req: Request): Promise<Response> {
      const ex = new Exchange(shared, req);
      try {
        return await ex.run();
      } catch (err) {
        ex.fail(err);
        throw err;
      }
    },
    inFlight: () => active.size,
    abortAll(reason?: unknown): void {
      const why = reason ?? new DOMException("Proxy is shutting down", "AbortError");
      for (const ex of [...active]) ex.abort(why);
    },
  };
}

interface Shared {
  router: Router;
  proxy: ProxyHandlerOptions["proxy"];
  metrics: DataPlaneMetrics | undefined;
  series: SeriesCache | undefined;
  now: () => number;
  clientFor: (target: EndpointTarget) => UpstreamClient;
  active: Set<Exchange>;
  usage: UsageLedger | undefined;
}

/** The per-request series of one (model, endpoint): duration, TTFB and requests by status. */
interface RouteSeries {
  duration: HistogramSeries;
  ttfb: HistogramSeries;
  byStatus: Map<number, CounterSeries>;
}

/**
 * Labelled series resolved once per (model, endpoint), so a request does no label hashing.
 * `model` is client input (unknown models answer 404 under their own label), so the cache is
 * bounded: past the bound it starts over, costing only a re-resolve.
 */
class SeriesCache {
  static readonly MAX_ROUTES = 1024;
  #routes = new Map<string, Map<string, RouteSeries>>();
  #size = 0;
  constructor(readonly metrics: DataPlaneMetrics) {}

  route(model: string, endpoint: string): RouteSeries {
    let byEndpoint = this.#routes.get(model);
    let route = byEndpoint?.get(endpoint);
    if (route !== undefined) return route;
    if (this.#size >= SeriesCache.MAX_ROUTES) {
      this.#routes.clear();
      this.#size = 0;
      byEndpoint = undefined;
    }
    if (byEndpoint === undefined) this.#routes.set(model, byEndpoint = new Map());
    const labels = { model, endpoint };
    route = {
      duration: histogramSeries(this.metrics.duration, labels),
      ttfb: histogramSeries(this.metrics.ttfb, labels),
      byStatus: new Map(),
    };
    byEndpoint.set(endpoint, route);
    this.#size++;
    return route;
  }

  requests(route: RouteSeries, model: string, endpoint: string, status: number): CounterSeries {
    let counter = route.byStatus.get(status);
    if (counter === undefined) {
      counter = counterSeries(this.metrics.requests, { model, endpoint, status: String(status) });
      route.byStatus.set(status, counter);
    }
    return counter;
  }
}

type Parsed = { ok: true; bytes: Uint8Array; text: string; slug: string; spans: Span[] } | {
  ok: false;
  response: Response;
};

/** One proxied request, from arrival to the last body byte; owns the lease and the metrics. */
class Exchange {
  readonly requestId: string;
  readonly #s: Shared;
  readonly #req: Request;
  readonly #started: number;
  readonly #controller = new AbortController();
  #log: Logger | undefined;
  #lease: Lease | null = null;
  #slug = "";
  #endpoint = "";
  #status = 0;
  #done = false;
  #cancelled = false;
  /** True once the upstream response was handed to `#respond`. */
  #responded = false;
  /** A body end reported before `request()` resolved (bodies that came with the head). */
  #earlyEnd: BodyEnd | null = null;

  constructor(shared: Shared, req: Request) {
    this.#s = shared;
    this.#req = req;
    this.#started = shared.now();
    this.requestId = pickRequestId(req.headers.get("x-request-id"));
    shared.active.add(this);
    req.signal.addEventListener("abort", this.#onClientAbort);
  }

  get log(): Logger {
    return this.#log ??= baseLog.with({ request_id: this.requestId });
  }

  /**
   * Deno 2.9 also fires `request.signal` after a successful response (legacy abort): only an
   * abort before the exchange finished is a client disconnect.
   */
  readonly #onClientAbort = (): void => {
    if (this.#done) return;
    this.abort(this.#req.signal.reason);
  };

  abort(reason: unknown): void {
    if (this.#done) return;
    this.#cancelled = true;
    this.#controller.abort(reason);
  }

  async run(): Promise<Response> {
    const req = this.#req;
    const [path, query] = splitUrl(req.url);
    if (path === "/v1/models") {
      if (req.method !== "GET") {
        return this.#reply(errors.methodNotAllowed(req.method, path, "GET"));
      }
      const data = this.#s.router.listModels();
      return this.#reply(Response.json({ object: "list", data }));
    }
    if (!PROXIED_PATHS.has(path)) return this.#reply(errors.unknownUrl(req.method, path));
    if (req.method !== "POST") {
      return this.#reply(errors.methodNotAllowed(req.method, path, "POST"));
    }
    let parsed: Parsed;
    try {
      parsed = await this.#parseBody();
    } catch (err) {
      // Reading the request body only fails when the client went away mid-upload.
      if (baseLog.isEnabledFor("debug")) {
        this.log.debug("Cannot read request body: {error}", { error: String(err) });
      }
      return this.#clientGone();
    }
    if (!parsed.ok) return this.#reply(parsed.response);
    this.#slug = parsed.slug;
    return await this.#forward(path.slice(3) + query, parsed);
  }

  /** A bug (or router failure) escaped `run`: free what we hold; the server answers 500. */
  fail(err: unknown): void {
    if (this.#done) return;
    this.log.error("Proxy handler failed: {error}", { error: String(err) });
    this.#finish("upstream_error", 500);
  }

  async #forward(
    upstreamPath: string,
    parsed: { bytes: Uint8Array; text: string; spans: Span[] },
  ): Promise<Response> {
    const s = this.#s;
    const signal = this.#controller.signal;
    let exclude: Set<string> | undefined;
    let firstFailure: UpstreamError | undefined;
    for (let attempt = 0;; attempt++) {
      const acquired = await s.router.acquire(this.#slug, { signal, exclude }).catch((err) => {
        if (signal.aborted) return null;
        throw err;
      });
      if (acquired === null) return this.#clientGone();
      if (signal.aborted) {
        if (acquired.ok) this.#lease = acquired.lease;
        return this.#clientGone();
      }
      if (!acquired.ok) {
        if (firstFailure !== undefined) {
          return this.#reply(errors.upstreamFailed(
            `Cannot reach the endpoint for model ${this.#slug}: ${firstFailure.message}; ` +
              `no other endpoint available (${acquired.message})`,
          ));
        }
        return this.#reply(acquireError(acquired.status, acquired.message, acquired.retryAfterS));
      }
      const lease = acquired.lease;
      const target = lease.target;
      this.#lease = lease;
      this.#endpoint = target.endpoint;
      if (baseLog.isEnabledFor("debug")) {
        this.log.debug("Routing {model} to {endpoint} as {upstream_model}", {
          model: this.#slug,
          endpoint: target.endpoint,
          upstream_model: target.model,
          queued_ms: lease.queuedMs,
        });
      }

      let upstream: UpstreamResponse;
      try {
        const body = rewriteBody(parsed, target.model);
        upstream = await s.clientFor(target).request({
          method: "POST",
          url: target.baseUrl + upstreamPath,
          headers: upstreamRequestHeaders(this.#req.headers, this.requestId, target.apiKey),
          body,
          signal,
          onFirstByte: this.#onFirstByte,
          onBodyEnd: this.#onBodyEnd,
        });
      } catch (err) {
        if (signal.aborted) return this.#clientGone();
        const failure = err instanceof UpstreamError
          ? err
          : new UpstreamError("reset", err instanceof Error ? err.message : String(err), {
            cause: err,
          });
        s.metrics?.upstreamErrors.inc({ endpoint: target.endpoint, kind: failure.kind });
        this.log.warn("Upstream {endpoint} failed ({kind}): {message}", {
          endpoint: target.endpoint,
          kind: failure.kind,
          message: failure.message,
        });
        if (failure.kind === "connect" && attempt === 0 && s.proxy.retry_connect_failures) {
          // Nothing reached the endpoint, so nothing reached the client: try another one.
          this.#lease = null;
          lease.release("connect_error");
          exclude = new Set([target.endpoint]);
          firstFailure = failure;
          continue;
        }
        if (failure.kind === "timeout") {
          return this.#reply(
            errors.upstreamTimeout(`Endpoint timed out: ${failure.message}`),
            "timeout",
          );
        }
        return this.#reply(
          errors.upstreamFailed(`Endpoint failed: ${failure.message}`),
          failure.kind === "connect" ? "connect_error" : "upstream_error",
        );
      }
      return this.#respond(upstream);
    }
  }

  #respond(upstream: UpstreamResponse): Response {
    const s = this.#s;
    const status = upstream.status;
    if (status < 200 || status > 599) {
      if (upstream.bytes === undefined) upstream.body?.cancel().catch(() => {});
      s.metrics?.upstreamErrors.inc({ endpoint: this.#endpoint, kind: "protocol" });
      return this.#reply(
        errors.upstreamFailed(`Endpoint answered with status ${status}`),
        "upstream_error",
      );
    }
    if (status >= 400) {
      s.metrics?.upstreamErrors.inc({
        endpoint: this.#endpoint,
        kind: status >= 500 ? "http_5xx" : "http_4xx",
      });
    }
    const fields = upstream.fields;
    const headers = fields !== undefined
      ? toClientResponseFields(fields, this.requestId)
      : toClientResponseHeaders(upstream.headers, this.requestId);
    let body: Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array> | null =
      (upstream.bytes as Uint8Array<ArrayBuffer> | undefined) ?? upstream.body;
    if (body !== null && NULL_BODY_STATUS.has(status)) {
      if (body instanceof ReadableStream) body.cancel().catch(() => {});
      this.#earlyEnd = "done"; // nothing of it goes to the client: not a cancellation
      body = null;
    }
    if (s.usage !== undefined && status < 300 && body !== null) {
      body = this.#tapUsage(s.usage, body);
    }
    // The upstream body goes to the client as is: no second stream, no buffering. Its end
    // (done, client cancel, upstream failure) comes back through #onBodyEnd.
    const res = new Response(body, { status, headers });
    this.#status = status;
    this.#responded = true;
    const early = this.#earlyEnd;
    if (early !== null) this.#settle(early, undefined);
    return res;
  }

  /** Usage accounting: only the body's tail is kept (lib/proxy/usage.ts). */
  #tapUsage(
    ledger: UsageLedger,
    body: Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array>,
  ): Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array> {
    const t = this.#lease?.target;
    if (t === undefined) return body;
    const key = { tenant: t.tenant, slug: this.#slug, endpoint: t.endpoint, model: t.model };
    if (body instanceof ReadableStream) return tapUsage(body, (u) => ledger.add(key, u));
    ledger.add(key, extractUsage(usageTail(body)));
    return body;
  }

  readonly #onFirstByte = (): void => {
    const series = this.#s.series;
    if (series === undefined) return;
    series.route(this.#slug, this.#endpoint).ttfb.observe((this.#s.now() - this.#started) / 1000);
  };

  readonly #onBodyEnd = (end: BodyEnd, error?: unknown): void => {
    if (!this.#responded) {
      this.#earlyEnd ??= end;
      return;
    }
    this.#settle(end, error);
  };

  #settle(end: BodyEnd, error: unknown): void {
    if (this.#done) return;
    if (end === "done") return this.#finish(this.#outcomeFor(this.#status), this.#status);
    if (end === "cancelled" || this.#cancelled) {
      // The client went away mid-body (Deno cancels the response stream, or request.signal).
      this.#cancelled = true;
      return this.#finishCancelled();
    }
    const kind = error instanceof UpstreamError ? error.kind : "reset";
    this.#s.metrics?.upstreamErrors.inc({ endpoint: this.#endpoint, kind });
    this.log.warn("Upstream {endpoint} body failed ({kind}): {message}", {
      endpoint: this.#endpoint,
      kind,
      message: error instanceof Error ? error.message : String(error),
    });
    this.#finish(kind === "timeout" ? "timeout" : "upstream_error", this.#status);
  }

  #outcomeFor(status: number): LeaseOutcome {
    return status >= 500 ? "upstream_error" : "ok";
  }

  /** The client disconnected before the response finished. */
  #clientGone(): Response {
    this.#finishCancelled();
    // Nobody reads this; 499 keeps the metrics honest.
    return new Response(null, { status: 499 });
  }

  #finishCancelled(): void {
    if (this.#done) return;
    this.#s.metrics?.cancellations.inc({ endpoint: this.#endpoint });
    if (baseLog.isEnabledFor("debug")) {
      this.log.debug("Client cancelled request for {model}", { model: this.#slug });
    }
    this.#finish("cancelled", 499);
  }

  /** Answers from the proxy itself (no upstream body follows). */
  #reply(res: Response, outcome: LeaseOutcome = "ok"): Response {
    res.headers.set("x-request-id", this.requestId);
    this.#finish(outcome, res.status);
    return res;
  }

  /** Exactly once per request: releases the lease, records metrics, leaves the active set. */
  #finish(outcome: LeaseOutcome, status: number): void {
    if (this.#done) return;
    this.#done = true;
    const s = this.#s;
    s.active.delete(this);
    this.#req.signal.removeEventListener("abort", this.#onClientAbort);
    const lease = this.#lease;
    this.#lease = null;
    lease?.release(outcome);
    const series = s.series;
    if (series !== undefined) {
      const route = series.route(this.#slug, this.#endpoint);
      series.requests(route, this.#slug, this.#endpoint, status).inc();
      if (this.#endpoint !== "") route.duration.observe((s.now() - this.#started) / 1000);
    }
    if (baseLog.isEnabledFor("debug")) {
      this.log.debug("Finished {model} on {endpoint}: {status} {outcome} in {ms} ms", {
        model: this.#slug,
        endpoint: this.#endpoint,
        status,
        outcome,
        ms: Math.round((s.now() - this.#started) * 1000) / 1000,
      });
    }
  }

  async #parseBody(): Promise<Parsed> {
    const max = this.#s.proxy.max_body_bytes;
    const bytes = await readLimited(this.#req, max);
    if (bytes === null) return { ok: false, response: errors.bodyTooLarge(max) };
    let text: string;
    let json: unknown;
    try {
      text = decoder.decode(bytes);
      json = JSON.parse(text);
    } catch (err) {
      const why = err instanceof SyntaxError ? err.message : "body is not valid UTF-8";
      return { ok: false, response: errors.invalidJson(why) };
    }
    if (typeof json !== "object" || json === null || Array.isArray(json)) {
      return { ok: false, response: errors.invalidJson("expected a JSON object") };
    }
    const model = (json as Record<string, unknown>).model;
    if (model === undefined) return { ok: false, response: errors.missingModel() };
    if (typeof model !== "string") return { ok: false, response: errors.modelNotString() };
    return { ok: true, bytes, text, slug: model, spans: findModelSpans(text) };
  }
}

/**
 * The body for the endpoint. When every `model` value already reads exactly as the rewrite would
 * write it (local mode routes model ids as they are), the client's bytes go out unchanged: the
 * result is byte-identical and skips re-encoding the whole body.
 */
function rewriteBody(
  parsed: { bytes: Uint8Array; text: string; spans: readonly Span[] },
  model: string,
): Uint8Array {
  const { bytes, text, spans } = parsed;
  const literal = JSON.stringify(model);
  // A UTF-8 BOM is dropped by the decoder, so such a body is re-encoded as before.
  let same = !(bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf);
  for (const [start, end] of spans) {
    if (end - start !== literal.length || !text.startsWith(literal, start)) {
      same = false;
      break;
    }
  }
  return same ? bytes : encoder.encode(replaceSpans(text, spans, model));
}

function acquireError(status: 404 | 429 | 503, message: string, retryAfterS?: number): Response {
  if (status === 404) return errors.modelNotFound(message);
  if (status === 429) return errors.queueFull(message, retryAfterS);
  return errors.unavailable(message, retryAfterS);
}

/**
 * Reads the body, never holding more than `max` bytes; null when it is larger. A declared
 * Content-Length is checked before reading (the HTTP server enforces it on the wire).
 */
async function readLimited(req: Request, max: number): Promise<Uint8Array | null> {
  const declared = req.headers.get("content-length");
  if (declared !== null) {
    if (Number(declared) > max) {
      await req.body?.cancel().catch(() => {});
      return null;
    }
    // Not `req.body` first: touching it makes Deno build a ReadableStream per request, and those
    // outlive young-generation GCs (the bench traced multi-ms old-generation pauses to them).
    return await req.bytes();
  }
  // Chunked (or an in-process Request): read the stream with the limit enforced as it comes.
  const stream = req.body;
  if (stream === null) return new Uint8Array(0);
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > max) {
      await reader.cancel().catch(() => {});
      return null;
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

/** Path and `?query` of an absolute URL without building a URL object. */
function splitUrl(url: string): [path: string, query: string] {
  const scheme = url.indexOf("://");
  let start = url.indexOf("/", scheme === -1 ? 0 : scheme + 3);
  if (start === -1) start = url.length;
  let end = url.indexOf("?", start);
  const hash = url.indexOf("#", start);
  const stop = hash === -1 ? url.length : hash;
  if (end === -1 || end > stop) end = stop;
  return [start === url.length ? "/" : url.slice(start, end), url.slice(end, stop)];
}
