/**
 * The OpenAI-compatible proxy as a plain `(Request) => Response` handler: resolves the opaque
 * model slug through the router, rewrites only `model`, and streams the upstream answer straight
 * back. Testable without sockets; {@linkcode startProxyServer} puts it on the network.
 *
 * @module
 */
import type { ProxyConfig } from "../config/mod.ts";
import type { EndpointTarget, Lease, LeaseOutcome, Router } from "../registry/mod.ts";
import {
  type CounterSeries,
  counterSeries,
  type DataPlaneMetrics,
  getLogger,
  type HistogramSeries,
  histogramSeries,
  type Logger,
} from "../telemetry/mod.ts";
import { BodyBudget, readBody, type ReadBodyOptions, type ReadBodyResult } from "./body_reader.ts";
import { readCappedText } from "../http/mod.ts";
import { type Deadline, DeadlineQueue } from "./deadlines.ts";
import * as errors from "./errors.ts";
import {
  pickRequestId,
  toClientResponseFields,
  toClientResponseHeaders,
  upstreamRequestHeaders,
} from "./headers.ts";
import { findModelSpans, replaceSpans, type Span } from "./model_rewrite.ts";
import { extractUsage, TailBuffer, type UsageKey, type UsageLedger, usageTail } from "./usage.ts";
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
  /**
   * Uses `max_body_bytes`, `retry_connect_failures` and `body_timeout_ms`; upstream timeouts
   * live in the client.
   */
  proxy:
    & Pick<ProxyConfig, "max_body_bytes" | "retry_connect_failures">
    & Partial<Pick<ProxyConfig, "body_timeout_ms">>;
  /**
   * Budget shared by every request body in flight; pass the same one to the handler a reload
   * creates. @default unlimited
   */
  bodyBudget?: BodyBudget;
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

/**
 * How long an exchange runs before the proxy listens for its client going away: short enough
 * that a disconnect during a long completion frees the endpoint within tens of milliseconds,
 * long enough that the usual answer never pays for the signal (docs/performance.md §3).
 */
const CLIENT_WATCH_AFTER_MS = 20;
const clientWatch = new DeadlineQueue({ resolutionMs: 10 });

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
  const bodyBudget = options.bodyBudget;
  const shared: Shared = {
    router,
    proxy,
    metrics,
    series,
    now,
    clientFor,
    active,
    bodyBudget,
    usage: options.usage,
  };

  return {
    async fetch(req: Request): Promise<Response> {
      const ex = new Exchange(shared, req);
      try {
        return await ex.run();
      } catch (err) {
        // A bug or a router failure: logged with the request id, answered 500 without detail.
        ex.fail(err);
        return errors.internalError();
      } finally {
        ex.releaseBody();
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
  bodyBudget: BodyBudget | undefined;
  usage: UsageLedger | undefined;
}

/** The `model` label of requests whose model the router does not know (bounded cardinality). */
export const UNKNOWN_MODEL_LABEL = "unknown";

/** The per-request series of one (model, endpoint): duration, TTFB and requests by status. */
interface RouteSeries {
  duration: HistogramSeries;
  ttfb: HistogramSeries;
  byStatus: Map<number, CounterSeries>;
}

/**
 * Labelled series resolved once per (model, endpoint), so a request does no label hashing.
 * `model` is a slug the router knew (anything else is {@linkcode UNKNOWN_MODEL_LABEL}), yet the
 * slug table changes over time, so the cache is bounded: past the bound it starts over, costing
 * only a re-resolve.
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
  /** The `model` metric label: the slug once the router knew it, else "unknown". */
  #label = UNKNOWN_MODEL_LABEL;
  /** Bytes of the request body reserved in the shared budget. */
  #reserved = 0;
  #endpoint = "";
  #status = 0;
  #done = false;
  #cancelled = false;
  /** True once the upstream response was handed to `#respond`. */
  #responded = false;
  /** A body end reported before `request()` resolved (bodies that came with the head). */
  #earlyEnd: BodyEnd | null = null;
  /** Set while a streamed body's usage is counted: the ledger key, and the body's tail. */
  #usageKey: UsageKey | null = null;
  #tail: TailBuffer | null = null;
  /** Until it fires, nobody listens on `request.signal` (see #watchClient). */
  readonly #watch: Deadline;

  constructor(shared: Shared, req: Request) {
    this.#s = shared;
    this.#req = req;
    this.#started = shared.now();
    this.requestId = pickRequestId(req.headers.get("x-request-id"));
    shared.active.add(this);
    this.#watch = clientWatch.add(CLIENT_WATCH_AFTER_MS, this.#watchClient);
  }

  /**
   * Subscribes to `request.signal` once the exchange has lasted {@linkcode CLIENT_WATCH_AFTER_MS}.
   * Deno creates a request's signal on first access, with an async op and a listener behind it;
   * most answers are complete long before a disconnect could matter, and a streamed answer's
   * disconnect also arrives as a cancel of its body. A signal that aborted before we looked
   * aborts the exchange at once.
   */
  readonly #watchClient = (): void => {
    if (this.#done) return;
    const signal = this.#req.signal;
    if (signal.aborted) this.abort(signal.reason);
    else signal.addEventListener("abort", this.#onClientAbort);
  };

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
    const parsed = await this.#parseBody();
    if (!parsed.ok) return parsed.response;
    this.#slug = parsed.slug;
    return await this.#forward(path.slice(3) + query, parsed);
  }

  /** A bug (or router failure) escaped `run`: free what we hold; the client gets a 500. */
  fail(err: unknown): void {
    if (this.#done) return;
    this.log.error("Proxy handler failed: {error}", { error: String(err) });
    this.#finish("upstream_error", 500);
  }

  /** Gives the body's bytes back to the shared budget: the proxy no longer holds them. */
  releaseBody(): void {
    if (this.#reserved === 0) return;
    this.#s.bodyBudget?.release(this.#reserved);
    this.#reserved = 0;
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
      if (acquired.ok || acquired.status === 429 || s.router.knows?.(this.#slug) === true) {
        this.#label = this.#slug;
      }
      if (signal.aborted) {
        if (acquired.ok) this.#lease = acquired.lease;
        return this.#clientGone();
      }
      if (!acquired.ok) {
        if (firstFailure !== undefined) {
          return this.#reply(errors.upstreamFailed(
            `Cannot reach endpoint "${this.#endpoint}" (${
              describeFailure(firstFailure.kind)
            }) and no other endpoint serves this model now — retry later`,
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
          ...(s.usage !== undefined ? { onData: this.#onData } : {}),
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
        // The client learns the endpoint's configured name and what kind of failure it was;
        // the URL and the upstream's own words stay in the log above (invariant 9).
        if (failure.kind === "timeout") {
          return this.#reply(
            errors.upstreamTimeout(`Endpoint "${target.endpoint}" did not answer in time`),
            "timeout",
          );
        }
        return this.#reply(
          errors.upstreamFailed(
            `Endpoint "${target.endpoint}" failed: ${describeFailure(failure.kind)}`,
          ),
          failure.kind === "connect" ? "connect_error" : "upstream_error",
        );
      }
      // The body went out and will not be retried: stop holding its bytes.
      this.releaseBody();
      if (upstream.status >= 400 && upstream.status <= 599 && isStandardStatus(upstream.status)) {
        return await this.#upstreamError(upstream);
      }
      if (upstream.status >= 300 && upstream.status <= 399) {
        // A redirect points into the LAN and an API client cannot follow it anyway.
        if (upstream.bytes === undefined) upstream.body?.cancel().catch(() => {});
        this.#s.metrics?.upstreamErrors.inc({ endpoint: this.#endpoint, kind: "protocol" });
        this.log.warn("Upstream {endpoint} answered a redirect ({status})", {
          endpoint: this.#endpoint,
          status: upstream.status,
        });
        return this.#reply(
          errors.upstreamFailed(
            `Endpoint "${this.#endpoint}" answered ${upstream.status} (a redirect), which the ` +
              "proxy does not follow",
          ),
          "upstream_error",
        );
      }
      return this.#respond(upstream);
    }
  }

  /**
   * An upstream 4xx/5xx: its body and headers are the upstream's own words (they may name LAN
   * hosts), so the client gets an OpenAI-shaped error with the status and the endpoint name,
   * keeping only identifier-like `type`/`code`/`param` values; the log keeps the body.
   */
  async #upstreamError(upstream: UpstreamResponse): Promise<Response> {
    const status = upstream.status;
    const endpoint = this.#endpoint;
    this.#s.metrics?.upstreamErrors.inc({
      endpoint,
      kind: status >= 500 ? "http_5xx" : "http_4xx",
    });
    const text = await readErrorBody(upstream, this.#onBodyEnd);
    this.log.warn("Upstream {endpoint} answered {status}: {body}", {
      endpoint,
      status,
      body: text,
    });
    let upstreamError: Record<string, unknown> | undefined;
    try {
      const json = JSON.parse(text);
      if (typeof json?.error === "object" && json.error !== null) upstreamError = json.error;
    } catch {
      // not JSON: nothing but the status is used
    }
    const ident = (v: unknown) =>
      typeof v === "string" && /^[A-Za-z0-9_.-]{1,64}$/.test(v) ? v : undefined;
    const retryAfter = upstream.fields !== undefined
      ? upstream.fields.find(([n]) => n.toLowerCase() === "retry-after")?.[1]
      : upstream.headers.get("retry-after") ?? undefined;
    const headers: Record<string, string> = {};
    if (retryAfter !== undefined && /^\d{1,9}$/.test(retryAfter)) {
      headers["retry-after"] = retryAfter;
    }
    const res = errors.openAIError(
      status,
      `Endpoint "${endpoint}" answered ${status} ${statusPhrase(status)}`,
      {
        ...(ident(upstreamError?.type) ? { type: ident(upstreamError?.type) } : {}),
        code: ident(upstreamError?.code) ?? (status >= 500 ? "upstream_error" : null),
        param: ident(upstreamError?.param) ?? null,
        headers,
      },
    );
    this.#status = status;
    this.#responded = true;
    return this.#reply(res, this.#outcomeFor(status));
  }

  #respond(upstream: UpstreamResponse): Response {
    const s = this.#s;
    const status = upstream.status;
    if (!isStandardStatus(status) || status < 200) {
      if (upstream.bytes === undefined) upstream.body?.cancel().catch(() => {});
      s.metrics?.upstreamErrors.inc({ endpoint: this.#endpoint, kind: "protocol" });
      return this.#reply(
        errors.upstreamFailed(`Endpoint answered with status ${status}`),
        "upstream_error",
      );
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
    if (s.usage !== undefined && status < 300 && body !== null) this.#countUsage(s.usage, body);
    // The upstream body goes to the client as is: no second stream, no buffering. Its end
    // (done, client cancel, upstream failure) comes back through #onBodyEnd.
    const res = new Response(body, { status, headers });
    this.#status = status;
    this.#responded = true;
    const early = this.#earlyEnd;
    if (early !== null) this.#settle(early, undefined);
    return res;
  }

  /**
   * Usage accounting: only the body's tail is kept (lib/proxy/usage.ts). A streamed body's
   * pieces reach the tail through the client's `onData` hook as they pass, so the stream goes
   * to the client unwrapped (a `TransformStream` here cost a pipe and several promises per
   * chunk); its usage is booked when the body ends normally (#settle), never on cancel or error.
   */
  #countUsage(ledger: UsageLedger, body: Uint8Array | ReadableStream<Uint8Array>): void {
    const t = this.#lease?.target;
    if (t === undefined) return;
    const key = { tenant: t.tenant, slug: this.#slug, endpoint: t.endpoint, model: t.model };
    if (body instanceof ReadableStream) this.#usageKey = key;
    else ledger.add(key, extractUsage(usageTail(body)));
  }

  /** Keeps a streamed body's tail while usage is counted; a no-op otherwise. */
  readonly #onData = (chunk: Uint8Array): void => {
    if (this.#usageKey === null) return; // not a 2xx stream (an error body is read for the log)
    (this.#tail ??= new TailBuffer()).push(chunk);
  };

  readonly #onFirstByte = (): void => {
    const series = this.#s.series;
    if (series === undefined) return;
    series.route(this.#label, this.#endpoint).ttfb.observe((this.#s.now() - this.#started) / 1000);
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
    if (end === "done") {
      const key = this.#usageKey;
      if (key !== null) this.#s.usage?.add(key, extractUsage(this.#tail?.text() ?? ""));
      return this.#finish(this.#outcomeFor(this.#status), this.#status);
    }
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

  /**
   * The exchange was aborted before an answer: the client went away (nobody reads what we
   * send) or the proxy is shutting down (the client gets a standard 503, never a 499).
   */
  #clientGone(gone = this.#req.signal.aborted): Response {
    if (gone) {
      this.#finishCancelled();
    } else {
      this.#finish("cancelled", 503);
    }
    const res = errors.unavailable("Request aborted: the node's proxy is shutting down", 1);
    res.headers.set("x-request-id", this.requestId);
    return res;
  }

  #finishCancelled(): void {
    if (this.#done) return;
    this.#s.metrics?.cancellations.inc({ endpoint: this.#endpoint });
    // One line per disconnect, with the request id (from `this.log`); never an error.
    if (baseLog.isEnabledFor("debug")) {
      this.log.debug("Client disconnected before the response finished ({endpoint})", {
        endpoint: this.#endpoint,
      });
    }
    // 499 (nginx's "client closed request") exists only in metrics: nobody is there to read it.
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
    // A listener on `req.signal` stays: the signal dies with the request, #onClientAbort
    // ignores a finished exchange, and removing it cost more than the rest of #finish.
    this.#watch.cancel();
    s.active.delete(this);
    const lease = this.#lease;
    this.#lease = null;
    lease?.release(outcome);
    const series = s.series;
    if (series !== undefined) {
      const route = series.route(this.#label, this.#endpoint);
      series.requests(route, this.#label, this.#endpoint, status).inc();
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

  /** Reads and checks the body; one promise, no async frame of its own (per-request cost). */
  #parseBody(): Promise<Parsed> {
    const s = this.#s;
    const options: ReadBodyOptions = { maxBytes: s.proxy.max_body_bytes };
    if (s.bodyBudget !== undefined) options.budget = s.bodyBudget;
    if (s.proxy.body_timeout_ms !== undefined) options.timeoutMs = s.proxy.body_timeout_ms;
    return readBody(this.#req, options).then(this.#parsed);
  }

  readonly #parsed = (read: ReadBodyResult): Parsed => {
    const s = this.#s;
    const max = s.proxy.max_body_bytes;
    switch (read.kind) {
      case "too_large":
        return { ok: false, response: this.#reply(errors.bodyTooLarge(max)) };
      case "over_budget":
        s.metrics?.rejected.inc({ reason: "body_budget" });
        this.log.warn("Refused a request body: request bodies in flight reached {limit} bytes", {
          limit: s.bodyBudget?.limit,
        });
        return {
          ok: false,
          response: this.#reply(errors.unavailable(
            "Cannot accept the request body now: the node holds its limit of request bodies " +
              "in flight (proxy.max_body_bytes_in_flight) — retry later",
            1,
          )),
        };
      case "timeout":
        s.metrics?.rejected.inc({ reason: "body_timeout" });
        this.log.info("Request body not received within {ms} ms ({bytes} bytes came)", {
          ms: s.proxy.body_timeout_ms,
          bytes: read.received,
        });
        return { ok: false, response: this.#reply(closing(errors.requestTimeout())) };
      case "failed":
        if (this.#req.signal.aborted || !isFramingError(read.error)) {
          // The client went away mid-upload: a cancellation, not an error.
          return { ok: false, response: this.#clientGone(true) };
        }
        this.log.info("Cannot read request body: {error}", { error: String(read.error) });
        return { ok: false, response: this.#reply(closing(errors.malformedBody())) };
      case "ok":
        break;
    }
    this.#reserved = read.reserved;
    const bytes = read.bytes;
    let text: string;
    let json: unknown;
    try {
      text = decoder.decode(bytes);
      json = JSON.parse(text);
    } catch (err) {
      const why = err instanceof SyntaxError ? err.message : "body is not valid UTF-8";
      return { ok: false, response: this.#reply(errors.invalidJson(why)) };
    }
    if (typeof json !== "object" || json === null || Array.isArray(json)) {
      return { ok: false, response: this.#reply(errors.invalidJson("expected a JSON object")) };
    }
    const model = (json as Record<string, unknown>).model;
    if (model === undefined) return { ok: false, response: this.#reply(errors.missingModel()) };
    if (typeof model !== "string") {
      return { ok: false, response: this.#reply(errors.modelNotString()) };
    }
    return { ok: true, bytes, text, slug: model, spans: findModelSpans(text) };
  };
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

/** Router messages quote the client's model string: keep answers small whatever it sent. */
const MAX_MESSAGE_CHARS = 1024;

function acquireError(status: 404 | 429 | 503, text: string, retryAfterS?: number): Response {
  const message = text.length > MAX_MESSAGE_CHARS
    ? `${text.slice(0, MAX_MESSAGE_CHARS)}… (truncated)`
    : text;
  if (status === 404) return errors.modelNotFound(message);
  if (status === 429) return errors.queueFull(message, retryAfterS);
  return errors.unavailable(message, retryAfterS);
}

/** Asks the server to close the connection after this answer (its framing is not trusted). */
function closing(res: Response): Response {
  res.headers.set("connection", "close");
  return res;
}

/**
 * Whether a body read failed on broken framing (bad chunk size or extension, …) rather than on
 * the peer going away (EOF, reset): the former still has a client to answer 400.
 */
function isFramingError(err: unknown): boolean {
  const text = err instanceof Error ? `${err.message} ${String(err.cause ?? "")}` : String(err);
  return /invalid|chunk|parse|malformed|too large|extension/i.test(text) &&
    !/closed before|unexpected eof|end of file|reset|broken pipe/i.test(text);
}

/** Client-facing words for a failure kind: no URL, host, port or upstream text. */
function describeFailure(kind: UpstreamError["kind"]): string {
  switch (kind) {
    case "connect":
      return "cannot connect";
    case "timeout":
      return "no answer in time";
    case "protocol":
      return "malformed response";
    case "reset":
      return "connection lost";
  }
}

/**
 * Statuses registered with IANA (RFC 9110 and friends). An upstream answering anything else
 * (nginx's 499, 520-style vendor codes, 600+) gets a 502: only standard statuses go on the wire.
 */
const STANDARD_STATUS = new Set([
  ...range(200, 208),
  226,
  ...range(300, 308),
  ...range(400, 418),
  ...range(421, 426),
  428,
  429,
  431,
  451,
  ...range(500, 508),
  510,
  511,
]);

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

function isStandardStatus(status: number): boolean {
  return STANDARD_STATUS.has(status);
}

const STATUS_PHRASES: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  408: "Request Timeout",
  409: "Conflict",
  413: "Content Too Large",
  422: "Unprocessable Content",
  429: "Too Many Requests",
  500: "Internal Server Error",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

function statusPhrase(status: number): string {
  return STATUS_PHRASES[status] ?? (status >= 500 ? "Server Error" : "Client Error");
}

/** Upstream error bodies kept for the log, at most. */
const ERROR_BODY_LOG_BYTES = 4096;

/** Reads (at most a few KB of) an upstream error body for the log, then drops the rest. */
async function readErrorBody(
  upstream: UpstreamResponse,
  onBodyEnd: (end: BodyEnd, error?: unknown) => void,
): Promise<string> {
  if (upstream.bytes !== undefined) {
    return new TextDecoder().decode(upstream.bytes.subarray(0, ERROR_BODY_LOG_BYTES));
  }
  try {
    const { text } = await readCappedText(upstream.body, ERROR_BODY_LOG_BYTES, {
      overflow: "truncate",
    });
    return text;
  } catch (err) {
    onBodyEnd("failed", err);
    return "";
  }
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
