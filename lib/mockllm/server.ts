/**
 * A mock OpenAI-compatible server standing in for a GPU box (vLLM, llama.cpp, Ollama) in
 * `labman dev`, the integration tests and the benchmark.
 *
 * @module
 */
import { getLogger } from "../telemetry/mod.ts";
import {
  chatCompletion,
  chatStreamPlan,
  makeReply,
  SSE_DONE,
  sseFrame,
  type StreamPlan,
  textCompletion,
  textStreamPlan,
} from "./chunks.ts";
import {
  chatPrompt,
  chatText,
  completionPrompt,
  countTokens,
  echoWords,
  embeddingInputs,
  embeddingVector,
  float32Base64,
} from "./content.ts";
import type { ServerKind } from "../registry/mod.ts";
import { type DialectReply, listedModelIds, MOCK_DIALECTS, type MockDialect } from "./dialects.ts";
import { applyModePatch, DEFAULT_MOCK_MODE, type MockMode } from "./mode.ts";
import {
  badRequest,
  errorForStatus,
  invalidApiKey,
  methodNotAllowed,
  modelNotFound,
  type OpenAiError,
  unknownRoute,
} from "./openai_error.ts";
import { openConnectionsOn } from "./proc_net.ts";
import { bracketHost } from "../net/mod.ts";

/** Models served when none are configured. */
export const DEFAULT_MOCK_MODELS: readonly string[] = Object.freeze([
  "mock-llama-3-8b",
  "mock-qwen-2.5-7b",
  "mock-embed-small",
]);

/** How to start the mock. */
export interface MockLlmOptions {
  /** @default "127.0.0.1" */
  hostname?: string;
  /** 0 binds an ephemeral port. @default 0 */
  port?: number;
  /** Model ids listed and accepted. @default DEFAULT_MOCK_MODELS */
  models?: readonly string[];
  /** When set, `/v1/*` requires `Authorization: Bearer <apiKey>` (401 otherwise). */
  apiKey?: string;
  /** Initial mode, applied over {@linkcode DEFAULT_MOCK_MODE}. */
  mode?: Partial<MockMode>;
  /** Embedding length when the request has no `dimensions`. @default 16 */
  embeddingDimensions?: number;
  /**
   * Benchmark fast path: non-streamed `POST /v1/chat/completions` in a healthy mode answers
   * with precomputed bytes without parsing the request. `true` uses a small built-in
   * `chat.completion`; a string is sent as the JSON body verbatim.
   */
  fixedBody?: boolean | string;
  /** Wall clock in epoch ms for `created` fields; tests pin it. @default Date.now */
  now?: () => number;
  /**
   * Play a real server's dialect (lib/mockllm/dialects.ts): its fingerprint and health
   * routes, model list shape, capacity signals, errors and overload. @default plain OpenAI
   */
  dialect?: ServerKind;
  /** Requests served at once; past it the dialect queues or refuses. @default unlimited */
  slots?: number;
  /** Start "loading the model" (the dialect's loading answer) until `setLoading(false)`. */
  loading?: boolean;
}

/** The last request the mock saw on a `/v1` route. */
export interface MockLlmRequestRecord {
  method: string;
  path: string;
  headers: Record<string, string>;
  /** Parsed JSON when the body was JSON, the raw text otherwise, null without a body. */
  body: unknown;
}

/** Counters for assertions; `/_mock/*` control requests are not counted. */
export interface MockLlmStats {
  totalRequests: number;
  /** Requests by path, e.g. `{"/v1/models": 3}`. */
  requests: Record<string, number>;
  /** Streams the client (or a proxy) cancelled before `[DONE]`. */
  abortedStreams: number;
  /** Streams that sent `[DONE]`. */
  completedStreams: number;
  /** Responses the mock broke on purpose (`dieAfterChunks`). */
  diedResponses: number;
  /** Requests whose client left while the mock was delaying or hanging. */
  abortedRequests: number;
  /** Streaming bodies currently being sent. */
  openStreams: number;
  /** Requests currently held by `latencyMs` / `hang`. */
  pendingRequests: number;
  /** ESTABLISHED TCP connections to the mock's port (from /proc), null when unknown. */
  openConnections: number | null;
  /** Distinct client `address:port` pairs seen: a proxy's upstream connection count. */
  connectionsSeen: number;
  /** Completion requests holding a slot now. */
  running: number;
  /** Completion requests waiting for a slot now. */
  waiting: number;
  /** Completion requests refused because every slot was busy (dialects that refuse). */
  overloaded: number;
  lastRequest: MockLlmRequestRecord | null;
}

/** A running mock; close it (or `await using`) to release the port. */
export interface MockLlm extends AsyncDisposable {
  /** Base URL ending in `/v1`, ready for `new OpenAI({ baseURL })`. */
  readonly url: string;
  readonly port: number;
  readonly hostname: string;
  readonly models: readonly string[];
  /** The current mode. */
  getMode(): MockMode;
  /** Switches behaviour for requests that arrive from now on; returns the new mode. */
  setMode(patch: Partial<MockMode>): MockMode;
  stats(): MockLlmStats;
  resetStats(): void;
  /** Switches the dialect's "loading the model" state. */
  setLoading(loading: boolean): void;
  /** Breaks open streams, releases hanging requests and stops the server. */
  close(): Promise<void>;
}

const log = getLogger("mockllm");
const encoder = new TextEncoder();
const JSON_HEADERS = { "content-type": "application/json" };
const SSE_HEADERS = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-cache",
};
const STREAM_TRUE = /"stream"\s*:\s*true/;
const MAX_TRACKED_CONNECTIONS = 65_536;

/** Thrown into a response body to abort the connection on purpose; not logged. */
class MockAbort extends Error {
  override name = "MockAbort";
}

type Wait = "ok" | "client" | "closed";

interface LiveStream {
  kill(): void;
}

function jsonResponse(status: number, body: unknown, headers?: Record<string, string>): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: headers ? { ...JSON_HEADERS, ...headers } : JSON_HEADERS,
  });
}

function errorResponse(err: OpenAiError): Response {
  return jsonResponse(err.status, err.body, err.headers);
}

function pathOf(url: string): string {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  if (start < 0) return "/";
  const query = url.indexOf("?", start);
  return query < 0 ? url.slice(start) : url.slice(start, query);
}

function isHealthy(mode: MockMode): boolean {
  return mode.latencyMs === 0 && !mode.hang && mode.failStatus === null &&
    mode.dieAfterChunks === null;
}

function positiveInt(value: unknown): boolean {
  return typeof value === "number" && Number.isInteger(value) && value >= 1;
}

function urlHost(hostname: string): string {
  if (hostname === "0.0.0.0") return "127.0.0.1";
  if (hostname === "::") return "[::1]";
  return bracketHost(hostname);
}

/** Starts the mock and resolves once it listens. */
export function startMockLlm(options: MockLlmOptions = {}): Promise<MockLlm> {
  const models = Object.freeze([...(options.models ?? DEFAULT_MOCK_MODELS)]);
  if (models.length === 0) {
    throw new TypeError("Cannot start mock LLM: models is empty — list at least one model id");
  }
  const dialect: MockDialect | undefined = options.dialect
    ? MOCK_DIALECTS[options.dialect]
    : undefined;
  // Dialects that rename models (KoboldCpp's prefix, mistral.rs's "default") accept those too.
  const modelSet = new Set([
    ...models,
    ...(options.dialect ? listedModelIds(options.dialect, models) : []),
  ]);
  const slots = options.slots;
  if (slots !== undefined && !positiveInt(slots)) {
    throw new TypeError("Cannot start mock LLM: slots must be a positive integer — fix it");
  }
  let loading = options.loading ?? false;
  let running = 0;
  let overloaded = 0;
  const slotWaiters: { grant: () => void; cancel: () => void }[] = [];
  const now = options.now ?? Date.now;
  const defaultDimensions = options.embeddingDimensions ?? 16;
  if (!positiveInt(defaultDimensions)) {
    throw new TypeError(
      "Cannot start mock LLM: embeddingDimensions must be a positive integer — fix it",
    );
  }
  const expectedAuth = options.apiKey === undefined ? null : `Bearer ${options.apiKey}`;
  const startedAt = Math.floor(now() / 1000);

  let mode = applyModePatch(DEFAULT_MOCK_MODE, options.mode ?? {});
  let healthy = isHealthy(mode);
  const fixedBytes = fixedBodyBytes(options.fixedBody, models[0], startedAt);

  let seq = 0;
  let pending = 0;
  let closing = false;
  const waiters = new Set<() => void>();
  const liveStreams = new Set<LiveStream>();
  const connections = new Set<string>();
  let counters = freshCounters();
  let last:
    | { method: string; path: string; headers: [string, string][]; body: string | null }
    | null = null;

  function freshCounters() {
    return {
      totalRequests: 0,
      requests: {} as Record<string, number>,
      abortedStreams: 0,
      completedStreams: 0,
      diedResponses: 0,
      abortedRequests: 0,
    };
  }

  /** Holds a request for `ms` (or forever when `hang`) unless the client leaves or we close. */
  function wait(ms: number, hang: boolean, req: Request): Promise<Wait> {
    if (!hang && ms <= 0) return Promise.resolve("ok");
    if (closing) return Promise.resolve("closed");
    pending++;
    return new Promise<Wait>((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const finish = (result: Wait) => {
        clearTimeout(timer);
        // Removing the listener before answering avoids Deno 2.9's legacy-abort warning.
        req.signal.removeEventListener("abort", onAbort);
        waiters.delete(onClose);
        pending--;
        resolve(result);
      };
      const onAbort = () => finish("client");
      const onClose = () => finish("closed");
      req.signal.addEventListener("abort", onAbort);
      waiters.add(onClose);
      if (!hang) timer = setTimeout(() => finish("ok"), ms);
    });
  }
  function heldResponse(result: Wait): Response | null {
    if (result === "ok") return null;
    if (result === "client") {
      counters.abortedRequests++;
      return new Response(null, { status: 499 }); // nobody reads it
    }
    return errorResponse(errorForStatus(503, mode.retryAfterSeconds));
  }

  function sseResponse(
    plan: StreamPlan,
    m: MockMode,
    requestId: string,
    onEnd?: () => void,
  ): Response {
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    let sent = 0;
    let errorSent = false;
    let done = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let wake: (() => void) | null = null;
    const live: LiveStream = {
      kill() {
        if (done) return;
        end();
        controller.error(new MockAbort("mock LLM closed"));
      },
    };
    const end = () => {
      done = true;
      clearTimeout(timer);
      wake?.();
      liveStreams.delete(live);
      onEnd?.();
    };
    liveStreams.add(live);
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        controller = c;
      },
      async pull(c) {
        if (sent > 0 && m.tokenDelayMs > 0) {
          await new Promise<void>((resolve) => {
            wake = resolve;
            timer = setTimeout(resolve, m.tokenDelayMs);
          });
          wake = null;
          if (done) return;
        }
        if (m.dieAfterChunks !== null && sent >= m.dieAfterChunks) {
          end();
          counters.diedResponses++;
          c.error(new MockAbort("dieAfterChunks"));
          return;
        }
        let frame: string;
        let final = false;
        if (!errorSent && m.errorAfterChunks !== null && sent === m.errorAfterChunks) {
          errorSent = true;
          frame = sseFrame(errorForStatus(500).body);
        } else if (errorSent || sent >= plan.length) {
          frame = SSE_DONE;
          final = true;
        } else {
          const event = plan.event(sent);
          if (m.stampChunks) {
            event.mock_index = sent;
            event.mock_sent_at_ms = performance.timeOrigin + performance.now();
          }
          frame = sseFrame(event);
        }
        // One enqueue per event, pulled one at a time (highWaterMark 0), so events are not
        // merged before they reach the socket.
        c.enqueue(encoder.encode(frame));
        sent++;
        if (final) {
          end();
          counters.completedStreams++;
          c.close();
        }
      },
      cancel() {
        if (done) return;
        end();
        counters.abortedStreams++;
      },
    }, { highWaterMark: 0 });
    return new Response(body, { headers: { ...SSE_HEADERS, "x-request-id": requestId } });
  }

  /** A JSON answer; `dieAfterChunks` sends half of it and then breaks the connection. */
  function finalJson(payload: unknown, m: MockMode, requestId: string): Response {
    const headers = { ...JSON_HEADERS, "x-request-id": requestId };
    if (m.dieAfterChunks === null) return new Response(JSON.stringify(payload), { headers });
    const bytes = encoder.encode(JSON.stringify(payload));
    let sentHalf = false;
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        if (!sentHalf && m.dieAfterChunks! > 0) {
          sentHalf = true;
          c.enqueue(bytes.subarray(0, Math.ceil(bytes.length / 2)));
          return;
        }
        counters.diedResponses++;
        c.error(new MockAbort("dieAfterChunks"));
      },
    }, { highWaterMark: 0 });
    return new Response(body, { headers });
  }

  function record(req: Request, path: string, body: string | null) {
    last = { method: req.method, path, headers: [...req.headers], body };
  }

  async function readJson(
    req: Request,
    path: string,
  ): Promise<{ value: unknown } | { error: OpenAiError }> {
    const text = await req.text();
    record(req, path, text);
    try {
      return { value: JSON.parse(text) };
    } catch {
      return { error: badJson() };
    }
  }

  function checkModel(body: Record<string, unknown>): OpenAiError | string {
    const model = body.model;
    if (typeof model !== "string" || model === "") {
      return badRequest("You must provide a model parameter.", "model");
    }
    return modelSet.has(model) ? model : modelNotFound(model);
  }

  function maxTokensOf(body: Record<string, unknown>): number | null | OpenAiError {
    for (const key of ["max_completion_tokens", "max_tokens"]) {
      const value = body[key];
      if (value === undefined || value === null) continue;
      if (!positiveInt(value)) {
        return badRequest(
          `${key} must be an integer of at least 1, got ${JSON.stringify(value)}.`,
          key,
        );
      }
      return value as number;
    }
    return null;
  }

  function includeUsage(body: Record<string, unknown>): boolean {
    const so = body.stream_options as { include_usage?: unknown } | null | undefined;
    return typeof so === "object" && so !== null && so.include_usage === true;
  }

  /** Waits for a slot (FIFO) or refuses, per the dialect; `release` frees it exactly once. */
  async function withSlot(
    req: Request,
    answer: (release: () => void) => Promise<Response>,
  ): Promise<Response> {
    if (slots !== undefined && running >= slots) {
      if (dialect?.overCapacity === "reject" && dialect.overload) {
        overloaded++;
        return dialectResponse(dialect.overload);
      }
      const got = await new Promise<Wait>((resolve) => {
        if (closing) return resolve("closed");
        const onAbort = () => finish("client");
        const entry = { grant: () => finish("ok"), cancel: () => finish("closed") };
        function finish(r: Wait) {
          const i = slotWaiters.indexOf(entry);
          if (i >= 0) slotWaiters.splice(i, 1);
          req.signal.removeEventListener("abort", onAbort);
          resolve(r);
        }
        req.signal.addEventListener("abort", onAbort);
        slotWaiters.push(entry);
      });
      // "ok": the releasing request handed its slot over, `running` unchanged.
      if (got !== "ok") return heldResponse(got)!;
    } else {
      running++;
    }
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      const next = slotWaiters.shift();
      if (next) next.grant();
      else running--;
    };
    try {
      const res = await answer(release);
      if (!res.headers.get("content-type")?.startsWith("text/event-stream")) release();
      return res;
    } catch (err) {
      release();
      throw err;
    }
  }

  function completionRoute(req: Request, path: string): Promise<Response> {
    if (dialect === undefined && slots === undefined) return answerRoute(req, path);
    return withSlot(req, (release) => answerRoute(req, path, release));
  }

  async function answerRoute(
    req: Request,
    path: string,
    release?: () => void,
  ): Promise<Response> {
    if (fixedBytes !== null && healthy && path === "/v1/chat/completions") {
      const text = await req.text();
      last = { method: req.method, path, headers: [...req.headers], body: text };
      if (!STREAM_TRUE.test(text)) return new Response(fixedBytes, { headers: JSON_HEADERS });
      return answerCompletion(req, path, mode, text, release);
    }
    const m = mode;
    const parsed = await readJson(req, path);
    const held = heldResponse(await wait(m.latencyMs, m.hang, req));
    if (held) return held;
    if (m.failStatus !== null) {
      return errorResponse(errorForStatus(m.failStatus, m.retryAfterSeconds));
    }
    if ("error" in parsed) return errorResponse(parsed.error);
    return answerParsed(path, m, parsed.value, release);
  }

  async function answerCompletion(
    req: Request,
    path: string,
    m: MockMode,
    text: string,
    release?: () => void,
  ): Promise<Response> {
    const held = heldResponse(await wait(m.latencyMs, m.hang, req));
    if (held) return held;
    try {
      return answerParsed(path, m, JSON.parse(text), release);
    } catch {
      return errorResponse(badJson());
    }
  }

  function answerParsed(
    path: string,
    m: MockMode,
    parsed: unknown,
    onStreamEnd?: () => void,
  ): Response {
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      return errorResponse(badRequest("The request body must be a JSON object."));
    }
    const body = parsed as Record<string, unknown>;
    let model = checkModel(body);
    if (typeof model !== "string" && dialect && model.status === 404) {
      if (!dialect.modelNotFound) model = models[0]!; // answers as its own model whatever was asked
      else return dialectResponse(dialect.modelNotFound(String(body.model)));
    }
    if (typeof model !== "string") return errorResponse(model);
    const n = ++seq;
    const created = Math.floor(now() / 1000);
    const requestId = `mock-req-${n}`;
    if (path === "/v1/embeddings") return embeddings(body, model, m, requestId);

    const chat = path === "/v1/chat/completions";
    let prompt: string;
    let promptTokens: number;
    if (chat) {
      if (!Array.isArray(body.messages) || body.messages.length === 0) {
        return errorResponse(badRequest("messages must be a non-empty array.", "messages"));
      }
      prompt = chatPrompt(body.messages);
      promptTokens = countTokens(chatText(body.messages));
    } else {
      if (body.prompt === undefined || body.prompt === null) {
        return errorResponse(badRequest("You must provide a prompt parameter.", "prompt"));
      }
      prompt = completionPrompt(body.prompt);
      promptTokens = countTokens(prompt);
    }
    const maxTokens = maxTokensOf(body);
    if (typeof maxTokens === "object" && maxTokens !== null) return errorResponse(maxTokens);
    const reply = makeReply(echoWords(prompt), m.tokens, maxTokens, promptTokens);
    const meta = { id: `${chat ? "chatcmpl" : "cmpl"}-mock-${n}`, created, model };
    if (body.stream === true) {
      if (closing) return errorResponse(errorForStatus(503, m.retryAfterSeconds));
      const usage = includeUsage(body) && (dialect?.usageChunk ?? true);
      const plan = chat ? chatStreamPlan(meta, reply, usage) : textStreamPlan(meta, reply, usage);
      return sseResponse(plan, m, requestId, onStreamEnd);
    }
    const payload = chat ? chatCompletion(meta, reply) : textCompletion(meta, reply);
    return finalJson(payload, m, requestId);
  }

  function embeddings(
    body: Record<string, unknown>,
    model: string,
    m: MockMode,
    requestId: string,
  ): Response {
    const inputs = embeddingInputs(body.input);
    if (inputs === null) {
      return errorResponse(
        badRequest("input must be a string, an array of strings or of token ids.", "input"),
      );
    }
    const format = body.encoding_format ?? "float";
    if (format !== "float" && format !== "base64") {
      return errorResponse(
        badRequest(
          `encoding_format must be "float" or "base64", got ${JSON.stringify(format)}.`,
          "encoding_format",
        ),
      );
    }
    const dims = body.dimensions ?? defaultDimensions;
    if (!positiveInt(dims) || (dims as number) > 65_536) {
      return errorResponse(
        badRequest("dimensions must be an integer from 1 to 65536.", "dimensions"),
      );
    }
    let tokens = 0;
    const data = inputs.map((text, index) => {
      tokens += countTokens(text);
      const vector = embeddingVector(text, dims as number);
      return {
        object: "embedding",
        index,
        embedding: format === "base64" ? float32Base64(vector) : vector,
      };
    });
    return finalJson(
      { object: "list", data, model, usage: { prompt_tokens: tokens, total_tokens: tokens } },
      m,
      requestId,
    );
  }

  async function modelsRoute(req: Request, path: string): Promise<Response> {
    record(req, path, null);
    const m = mode;
    const held = heldResponse(await wait(m.healthLatencyMs, m.healthHang, req));
    if (held) return held;
    if (m.healthStatus >= 400) {
      return errorResponse(errorForStatus(m.healthStatus, m.retryAfterSeconds));
    }
    if (m.healthStatus !== 200) return new Response(null, { status: m.healthStatus });
    const card = (id: string) => ({
      id,
      object: "model",
      created: startedAt,
      owned_by: "labman-mock",
    });
    if (path === "/v1/models") {
      if (dialect) return jsonResponse(200, dialect.models(dialectState()));
      return jsonResponse(200, { object: "list", data: models.map(card) });
    }
    const id = decodeURIComponent(path.slice("/v1/models/".length));
    return modelSet.has(id) ? jsonResponse(200, card(id)) : errorResponse(modelNotFound(id));
  }

  function dialectState() {
    const waiting = slotWaiters.length;
    return { models, created: startedAt, loading, running, waiting, slots };
  }

  /** The dialect's own routes and its "loading" answers; undefined = the common routes. */
  function dialectRoute(d: MockDialect, req: Request, path: string): Response | undefined {
    if (loading) {
      if (d.loadingReply) {
        record(req, path, null);
        return dialectResponse(d.loadingReply); // llama.cpp: every route 503s while loading
      }
      if (path === d.healthPath) return dialectResponse({ status: 503, body: "" });
    }
    const route = d.routes(dialectState())[path];
    if (!route || (req.method !== "GET" && req.method !== "HEAD")) return undefined;
    record(req, path, null);
    return dialectResponse(route());
  }

  async function controlRoute(req: Request, path: string): Promise<Response> {
    if (path === "/_mock/mode") {
      if (req.method === "GET") return jsonResponse(200, mode);
      if (req.method !== "POST") {
        return errorResponse(methodNotAllowed(req.method, path, "GET, POST"));
      }
      let patch: unknown;
      try {
        patch = JSON.parse(await req.text());
      } catch {
        return errorResponse(badRequest("POST /_mock/mode needs a JSON object of mode fields."));
      }
      try {
        return jsonResponse(200, api.setMode(patch as Partial<MockMode>));
      } catch (err) {
        return errorResponse(badRequest((err as Error).message));
      }
    }
    if (path === "/_mock/stats") return jsonResponse(200, api.stats());
    if (path === "/_mock/loading" && req.method === "POST") {
      api.setLoading((await req.text()).trim() !== "false");
      return jsonResponse(200, { loading });
    }
    if (path === "/_mock/reset") {
      if (req.method !== "POST") return errorResponse(methodNotAllowed(req.method, path, "POST"));
      api.resetStats();
      return jsonResponse(200, api.stats());
    }
    return errorResponse(unknownRoute(req.method, path));
  }

  function handle(
    req: Request,
    info: Deno.ServeHandlerInfo<Deno.NetAddr>,
  ): Promise<Response> | Response {
    const path = pathOf(req.url);
    if (path.startsWith("/_mock/")) return controlRoute(req, path);
    counters.totalRequests++;
    counters.requests[path] = (counters.requests[path] ?? 0) + 1;
    if (connections.size < MAX_TRACKED_CONNECTIONS) {
      connections.add(`${info.remoteAddr.hostname}:${info.remoteAddr.port}`);
    }
    const isModels = path === "/v1/models" || path.startsWith("/v1/models/");
    const isCompletion = path === "/v1/chat/completions" || path === "/v1/completions" ||
      path === "/v1/embeddings";
    if (dialect) {
      const early = dialectRoute(dialect, req, path);
      if (early) return early;
    }
    if (!isModels && !isCompletion) {
      record(req, path, null);
      return errorResponse(unknownRoute(req.method, path));
    }
    const allow = isModels ? "GET" : "POST";
    if (req.method !== allow && !(isModels && req.method === "HEAD")) {
      record(req, path, null);
      return errorResponse(methodNotAllowed(req.method, path, allow));
    }
    if (expectedAuth !== null && req.headers.get("authorization") !== expectedAuth) {
      record(req, path, null);
      return errorResponse(invalidApiKey());
    }
    return isModels ? modelsRoute(req, path) : completionRoute(req, path);
  }

  const server = Deno.serve({
    hostname: options.hostname ?? "127.0.0.1",
    port: options.port ?? 0,
    onListen() {},
    onError(err) {
      if (!(err instanceof MockAbort)) {
        log.error("mock LLM handler failed: {error}", { error: String(err) });
      }
      return errorResponse(errorForStatus(500));
    },
  }, handle);

  let closed: Promise<void> | null = null;
  const hostname = server.addr.hostname;
  const port = server.addr.port;
  const api: MockLlm = {
    url: `http://${urlHost(hostname)}:${port}/v1`,
    port,
    hostname,
    models,
    getMode: () => ({ ...mode }),
    setMode(patch) {
      mode = applyModePatch(mode, patch);
      healthy = isHealthy(mode);
      return { ...mode };
    },
    stats() {
      let lastRequest: MockLlmRequestRecord | null = null;
      if (last) {
        let body: unknown = last.body;
        if (typeof last.body === "string") {
          try {
            body = JSON.parse(last.body);
          } catch {
            // Not JSON: keep the raw text for the assertion message.
          }
        }
        lastRequest = {
          method: last.method,
          path: last.path,
          headers: Object.fromEntries(last.headers),
          body,
        };
      }
      return {
        ...counters,
        requests: { ...counters.requests },
        openStreams: liveStreams.size,
        pendingRequests: pending,
        openConnections: openConnectionsOn(port),
        connectionsSeen: connections.size,
        running,
        waiting: slotWaiters.length,
        overloaded,
        lastRequest,
      };
    },
    setLoading(value) {
      loading = value;
    },
    resetStats() {
      counters = freshCounters();
      overloaded = 0;
      connections.clear();
      last = null;
    },
    close() {
      if (closed) return closed;
      closing = true;
      for (const release of [...waiters]) release();
      for (const w of [...slotWaiters]) w.cancel();
      for (const stream of [...liveStreams]) stream.kill();
      closed = server.shutdown().then(() => server.finished);
      return closed;
    },
    [Symbol.asyncDispose]() {
      return api.close();
    },
  };
  return Promise.resolve(api);
}

function dialectResponse(reply: DialectReply): Response {
  const headers = reply.headers ?? JSON_HEADERS;
  const body = typeof reply.body === "string" ? reply.body : JSON.stringify(reply.body);
  return new Response(body, { status: reply.status, headers });
}

function badJson(): OpenAiError {
  return badRequest(
    "We could not parse the JSON body of your request. Send valid JSON with " +
      "Content-Type: application/json.",
  );
}

function fixedBodyBytes(
  fixedBody: boolean | string | undefined,
  model: string,
  created: number,
): Uint8Array<ArrayBuffer> | null {
  if (fixedBody === undefined || fixedBody === false) return null;
  if (typeof fixedBody === "string") {
    try {
      JSON.parse(fixedBody);
    } catch {
      throw new TypeError("Cannot start mock LLM: fixedBody is not valid JSON — fix or omit it");
    }
    return encoder.encode(fixedBody);
  }
  const reply = makeReply(["fixed"], 1, null, 1);
  return encoder.encode(
    JSON.stringify(chatCompletion({ id: "chatcmpl-mock-fixed", created, model }, reply)),
  );
}
