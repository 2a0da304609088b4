/**
 * Recorded response shapes of real inference servers, so the mock can play each one: the
 * fingerprint endpoints, health (and "loading"), the model list, capacity signals, errors and
 * overload, and whether streams honour `stream_options.include_usage`. Every shape cites the
 * source it was written from (repository and file, or documentation page); llama.cpp's were
 * also checked against a real `llama-server` (tests/llama_server_test.ts).
 *
 * @module
 */
import type { ServerKind } from "../registry/mod.ts";

/** What a dialect's answers depend on: the mock's live state. */
export interface DialectState {
  readonly models: readonly string[];
  /** Unix seconds the mock started. */
  readonly created: number;
  /** Still loading the model. */
  readonly loading: boolean;
  /** Requests holding a slot. */
  readonly running: number;
  /** Requests waiting for a slot. */
  readonly waiting: number;
  /** Slot count; undefined = unlimited. */
  readonly slots: number | undefined;
}

export interface DialectReply {
  readonly status: number;
  /** JSON bodies are objects/arrays; plain text is a string. */
  readonly body: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface MockDialect {
  readonly kind: ServerKind;
  /** Where the shapes come from. */
  readonly source: string;
  /** `GET /v1/models` body. */
  models(s: DialectState): unknown;
  /** Extra GET routes (fingerprints, health, capacity): path → reply. */
  routes(s: DialectState): Readonly<Record<string, () => DialectReply>>;
  /** Answer to any request while loading, for the health path. */
  readonly healthPath?: string;
  loadingReply?: DialectReply;
  /** Unknown model on a completion route; absent: the server ignores `model` and answers with
   * its own (llama.cpp). */
  modelNotFound?: (model: string) => DialectReply;
  /** What happens past the slot count: wait for a slot, or refuse with `overload`. */
  readonly overCapacity: "queue" | "reject";
  overload?: DialectReply;
  /** Whether a stream sends the `usage` chunk when `stream_options.include_usage` is set. */
  readonly usageChunk: boolean;
}

const text = (status: number, body: string): DialectReply => ({
  status,
  body,
  headers: { "content-type": "text/plain; charset=utf-8" },
});
const json = (status: number, body: unknown): DialectReply => ({ status, body });

function openAiError(status: number, message: string, type: string, code: unknown = null) {
  return json(status, { error: { message, type, param: null, code } });
}

function prom(lines: [name: string, help: string, value: number, labels?: string][]): string {
  return lines.map(([name, help, value, labels]) =>
    `# HELP ${name} ${help}\n# TYPE ${name} gauge\n${name}${labels ?? ""} ${value}\n`
  ).join("");
}

/** ollama/ollama: server/routes.go (`/`, `/api/version`, `/api/tags`, `/api/ps`),
 * openai/openai.go (`/v1/models` → `owned_by: "library"`, errors `{"error":{…"api_error"}}`),
 * server/sched.go (`ErrMaxQueue`: 503 "server busy, please try again.  maximum pending
 * requests exceeded" when OLLAMA_MAX_QUEUE is reached). */
const ollama: MockDialect = {
  kind: "ollama",
  source: "ollama/ollama server/routes.go, openai/openai.go, server/sched.go",
  models: (s) => ({
    object: "list",
    data: s.models.map((id) => ({ id, object: "model", created: s.created, owned_by: "library" })),
  }),
  routes: (s) => {
    const detail = (name: string) => ({
      name,
      model: name,
      size: 4_920_753_328,
      digest: "365c0bd3c000a25d28ddbf732fe1c6add414de7275464c4e4d1c3b5fcb5d8ad1",
      details: {
        parent_model: "",
        format: "gguf",
        family: "llama",
        families: ["llama"],
        parameter_size: "8.0B",
        quantization_level: "Q4_K_M",
      },
    });
    return {
      "/": () => text(200, "Ollama is running"),
      "/api/version": () => json(200, { version: "0.6.5" }),
      "/api/tags": () =>
        json(200, {
          models: s.models.map((m) => ({ ...detail(m), modified_at: "2025-04-01T10:00:00Z" })),
        }),
      "/api/ps": () =>
        json(200, {
          models: s.running > 0 && s.models[0]
            ? [{
              ...detail(s.models[0]),
              expires_at: "2025-04-01T10:05:00Z",
              size_vram: 4_920_753_328,
            }]
            : [],
        }),
    };
  },
  healthPath: "/api/version",
  modelNotFound: (m) =>
    openAiError(404, `model "${m}" not found, try pulling it first`, "api_error"),
  overCapacity: "reject",
  overload: openAiError(
    503,
    "server busy, please try again.  maximum pending requests exceeded",
    "api_error",
  ),
  usageChunk: true,
};

/** vllm-project/vllm: vllm/entrypoints/openai/api_server.py (`/health` empty 200,
 * `/version`, `/ping`), protocol.py (`ModelCard`: `owned_by: "vllm"`, `root`, `parent`,
 * `max_model_len`; `ErrorResponse`), v1/metrics/loggers.py (`vllm:num_requests_running`,
 * `vllm:num_requests_waiting`, labelled by `model_name`). vLLM queues past
 * `--max-num-seqs`; it does not refuse. */
const vllm: MockDialect = {
  kind: "vllm",
  source: "vllm-project/vllm vllm/entrypoints/openai/api_server.py, protocol.py, v1/metrics",
  models: (s) => ({
    object: "list",
    data: s.models.map((id) => ({
      id,
      object: "model",
      created: s.created,
      owned_by: "vllm",
      root: id,
      parent: null,
      max_model_len: 8192,
      permission: [],
    })),
  }),
  routes: (s) => ({
    "/health": () => text(200, ""),
    "/ping": () => text(200, ""),
    "/version": () => json(200, { version: "0.8.5" }),
    "/metrics": () =>
      text(
        200,
        prom([
          [
            "vllm:num_requests_running",
            "Number of requests in model execution batches.",
            s.running,
            `{engine="0",model_name="${s.models[0]}"}`,
          ],
          [
            "vllm:num_requests_waiting",
            "Number of requests waiting to be processed.",
            s.waiting,
            `{engine="0",model_name="${s.models[0]}"}`,
          ],
        ]),
      ),
  }),
  healthPath: "/health",
  modelNotFound: (m) =>
    json(404, {
      object: "error",
      message: `The model \`${m}\` does not exist.`,
      type: "NotFoundError",
      param: null,
      code: 404,
    }),
  overCapacity: "queue",
  usageChunk: true,
};

/** ggml-org/llama.cpp tools/server/server.cpp (README "API Endpoints"), measured on a real
 * build (shared/notes/llama-server.md): `/health` `{"status":"ok"}` or 503 "Loading model",
 * `/props`, `/slots`, `/metrics` (`llamacpp:requests_processing`, `requests_deferred`),
 * `/v1/models` with both `models` and `data` (`owned_by: "llamacpp"`). Queues past its slots. */
const llamacpp: MockDialect = {
  kind: "llamacpp",
  source: "ggml-org/llama.cpp tools/server/server.cpp, README.md; measured on llama-server",
  models: (s) => ({
    models: s.models.map((m) => ({
      name: m,
      model: m,
      modified_at: "",
      size: "",
      digest: "",
      type: "model",
      description: "",
      tags: [""],
      capabilities: ["completion"],
      parameters: "",
      details: { format: "gguf" },
    })),
    object: "list",
    data: s.models.map((id) => ({
      id,
      aliases: [id],
      tags: [],
      object: "model",
      created: s.created,
      owned_by: "llamacpp",
      meta: { vocab_type: 2, n_vocab: 269, n_ctx: 256, n_embd: 64, n_params: 116672 },
    })),
  }),
  routes: (s) => {
    const slots = s.slots ?? 1;
    return {
      "/health": () => json(200, { status: "ok" }),
      "/props": () =>
        json(200, {
          default_generation_settings: { n_ctx: 256, params: { temperature: 0.8 } },
          total_slots: slots,
          model_alias: s.models[0],
          model_path: `/models/${s.models[0]}.gguf`,
          build_info: "b1-0c1e570",
          is_sleeping: false,
        }),
      "/slots": () =>
        json(
          200,
          Array.from({ length: slots }, (_, id) => ({
            id,
            n_ctx: 256,
            speculative: false,
            is_processing: id < s.running,
          })),
        ),
      "/metrics": () =>
        text(
          200,
          prom([
            ["llamacpp:requests_processing", "Number of requests processing.", s.running],
            ["llamacpp:requests_deferred", "Number of requests deferred.", s.waiting],
          ]),
        ),
    };
  },
  healthPath: "/health",
  loadingReply: json(503, {
    error: { code: 503, message: "Loading model", type: "unavailable_error" },
  }),
  // No modelNotFound: llama-server ignores the request's `model` and names its own alias.
  overCapacity: "queue",
  usageChunk: true,
};

/** sgl-project/sglang python/sglang/srt/entrypoints/http_server.py (`/health` 200, 503 while
 * the server is starting; `/get_model_info`; `/get_server_info`), openai_api/protocol.py
 * (`owned_by: "sglang"`), metrics/collector.py (`sglang:num_running_reqs`,
 * `sglang:num_queue_reqs`). Queues past `--max-running-requests`. */
const sglang: MockDialect = {
  kind: "sglang",
  source: "sgl-project/sglang srt/entrypoints/http_server.py, srt/metrics/collector.py",
  models: (s) => ({
    object: "list",
    data: s.models.map((id) => ({
      id,
      object: "model",
      created: s.created,
      owned_by: "sglang",
      root: id,
      max_model_len: 32768,
    })),
  }),
  routes: (s) => ({
    "/health": () => text(200, ""),
    "/get_model_info": () =>
      json(200, {
        model_path: s.models[0],
        tokenizer_path: s.models[0],
        is_generation: true,
      }),
    "/get_server_info": () => json(200, { version: "0.4.6", max_running_requests: s.slots ?? 64 }),
    "/metrics": () =>
      text(
        200,
        prom([
          [
            "sglang:num_running_reqs",
            "The number of running requests.",
            s.running,
            `{model_name="${s.models[0]}"}`,
          ],
          [
            "sglang:num_queue_reqs",
            "The number of requests in the waiting queue.",
            s.waiting,
            `{model_name="${s.models[0]}"}`,
          ],
        ]),
      ),
  }),
  healthPath: "/health",
  loadingReply: text(503, ""),
  modelNotFound: (m) =>
    json(400, {
      object: "error",
      message: `The model '${m}' does not exist`,
      type: "BadRequestError",
      param: null,
      code: 400,
    }),
  overCapacity: "queue",
  usageChunk: true,
};

/** huggingface/text-generation-inference router/src/server.rs (`/health`, `/info`,
 * `/v1/models`: one entry whose `owned_by` is the model id; 429
 * `{"error":"Model is overloaded","error_type":"overloaded"}` past
 * `--max-concurrent-requests`), router/src/lib.rs (`Info`), metrics `tgi_queue_size`,
 * `tgi_batch_current_size`. */
const tgi: MockDialect = {
  kind: "tgi",
  source: "huggingface/text-generation-inference router/src/server.rs, router/src/lib.rs",
  models: (s) => ({
    object: "list",
    data: s.models.slice(0, 1).map((id) => ({
      id,
      object: "model",
      created: 0,
      owned_by: id,
    })),
  }),
  routes: (s) => ({
    "/health": () => text(200, ""),
    "/info": () =>
      json(200, {
        model_id: s.models[0],
        model_sha: null,
        model_pipeline_tag: "text-generation",
        max_concurrent_requests: s.slots ?? 128,
        max_best_of: 2,
        max_stop_sequences: 4,
        max_input_tokens: 4095,
        max_total_tokens: 4096,
        validation_workers: 2,
        max_client_batch_size: 4,
        router: "text-generation-router",
        version: "3.0.1",
        sha: null,
        docker_label: null,
      }),
    "/metrics": () =>
      text(
        200,
        prom([
          ["tgi_queue_size", "Queue size", s.waiting],
          ["tgi_batch_current_size", "Current batch size", s.running],
        ]),
      ),
  }),
  healthPath: "/health",
  modelNotFound: () =>
    json(422, { error: "Input validation error: model not found", error_type: "validation" }),
  overCapacity: "reject",
  overload: json(429, { error: "Model is overloaded", error_type: "overloaded" }),
  usageChunk: true,
};

/** LM Studio docs "LM Studio REST API (beta)" (`/api/v0/models`: `type`, `publisher`, `arch`,
 * `compatibility_type`, `quantization`, `state`, `max_context_length`) and "OpenAI
 * Compatibility API" (`/v1/models`, `owned_by: "organization_owner"`). Unknown routes answer
 * `{"error":"Unexpected endpoint or method. (GET /x)"}`. */
const lmstudio: MockDialect = {
  kind: "lmstudio",
  source: "lmstudio.ai/docs/app/api/endpoints/rest, lmstudio.ai/docs/app/api/endpoints/openai",
  models: (s) => ({
    data: s.models.map((id) => ({ id, object: "model", owned_by: "organization_owner" })),
    object: "list",
  }),
  routes: (s) => ({
    "/api/v0/models": () =>
      json(200, {
        object: "list",
        data: s.models.map((id, i) => ({
          id,
          object: "model",
          type: "llm",
          publisher: "lmstudio-community",
          arch: "llama",
          compatibility_type: "gguf",
          quantization: "Q4_K_M",
          state: i === 0 ? "loaded" : "not-loaded",
          max_context_length: 131072,
        })),
      }),
  }),
  modelNotFound: (m) =>
    json(404, { error: { message: `Model "${m}" not found`, type: "invalid_request_error" } }),
  overCapacity: "queue",
  usageChunk: true,
};

/** EricLBuehler/mistral.rs mistralrs-server-core/src/handlers.rs (`/health` → "OK";
 * `/v1/models` lists a `"default"` entry, then each model with `status`, all `owned_by:
 * "local"`). */
const mistralrs: MockDialect = {
  kind: "mistralrs",
  source: "EricLBuehler/mistral.rs mistralrs-server-core/src/handlers.rs",
  models: (s) => ({
    object: "list",
    data: [
      { id: "default", object: "model", created: s.created, owned_by: "local" },
      ...s.models.map((id) => ({
        id,
        object: "model",
        created: s.created,
        owned_by: "local",
        status: "loaded",
      })),
    ],
  }),
  routes: () => ({ "/health": () => text(200, "OK") }),
  healthPath: "/health",
  modelNotFound: (m) => openAiError(404, `Model \`${m}\` not found`, "invalid_request_error"),
  overCapacity: "queue",
  usageChunk: true,
};

/** LostRuins/koboldcpp koboldcpp.py (`/api/extra/version` → `{"result":"KoboldCpp",…}`,
 * `/api/v1/model`, `/v1/models` with `owned_by: "koboldcpp"`; one request at a time unless
 * `--multiuser`, busy → 503 "Server is busy"). */
const koboldcpp: MockDialect = {
  kind: "koboldcpp",
  source: "LostRuins/koboldcpp koboldcpp.py",
  models: (s) => ({
    object: "list",
    data: s.models.map((id) => ({
      id: `koboldcpp/${id}`,
      object: "model",
      created: 1,
      owned_by: "koboldcpp",
      permission: [],
      root: "koboldcpp",
    })),
  }),
  routes: (s) => ({
    "/api/extra/version": () =>
      json(200, {
        result: "KoboldCpp",
        version: "1.80.3",
        protected: false,
        txt2img: false,
        vision: false,
        transcribe: false,
        multiplayer: false,
        websearch: false,
        tts: false,
        embeddings: false,
      }),
    "/api/v1/model": () => json(200, { result: `koboldcpp/${s.models[0]}` }),
  }),
  modelNotFound: (m) => openAiError(404, `model ${m} not found`, "invalid_request_error"),
  overCapacity: "reject",
  overload: json(503, {
    detail: { msg: "Server is busy; please try again later.", type: "service_unavailable" },
  }),
  usageChunk: false,
};

/** mudler/LocalAI core/http/routes/health.go (`/readyz`, `/healthz`), core/http/routes/
 * localai.go (`/version` → `{"version":…}`), core/http/endpoints/openai/list.go (`/v1/models`
 * entries carry only `id` and `object`). */
const localai: MockDialect = {
  kind: "localai",
  source: "mudler/LocalAI core/http/routes/health.go, routes/localai.go, endpoints/openai/list.go",
  models: (s) => ({ object: "list", data: s.models.map((id) => ({ id, object: "model" })) }),
  routes: () => ({
    "/readyz": () => text(200, "OK"),
    "/healthz": () => text(200, "OK"),
    "/version": () => json(200, { version: "v2.29.0 (fd17a3312c4c1f5688152eff227e252d9b6ec0d5)" }),
  }),
  healthPath: "/readyz",
  modelNotFound: (m) =>
    json(500, { error: { code: 500, message: `could not load model: ${m}`, type: "" } }),
  overCapacity: "queue",
  usageChunk: false,
};

/** The plain OpenAI-compatible shape (what the mock always served). */
const openai: MockDialect = {
  kind: "openai",
  source: "platform.openai.com/docs/api-reference/models/list",
  models: (s) => ({
    object: "list",
    data: s.models.map((id) => ({
      id,
      object: "model",
      created: s.created,
      owned_by: "labman-mock",
    })),
  }),
  routes: () => ({}),
  modelNotFound: (m) =>
    json(404, {
      error: {
        message: `The model \`${m}\` does not exist.`,
        type: "invalid_request_error",
        param: "model",
        code: "model_not_found",
      },
    }),
  overCapacity: "queue",
  usageChunk: true,
};

export const MOCK_DIALECTS: Readonly<Record<ServerKind, MockDialect>> = Object.freeze({
  openai,
  ollama,
  vllm,
  llamacpp,
  sglang,
  tgi,
  lmstudio,
  mistralrs,
  koboldcpp,
  localai,
});

/** Model ids as a dialect lists them (KoboldCpp prefixes `koboldcpp/`, mistral.rs adds
 * `default`). */
export function listedModelIds(kind: ServerKind, models: readonly string[]): string[] {
  if (kind === "koboldcpp") return models.map((m) => `koboldcpp/${m}`);
  if (kind === "mistralrs") return ["default", ...models];
  if (kind === "tgi") return models.slice(0, 1);
  return [...models];
}
