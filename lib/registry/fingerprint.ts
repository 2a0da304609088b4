/**
 * Identifies an inference server from what it answers on a few well-known GET paths — its own
 * version endpoints and body shapes, never its port (any of them can listen anywhere, and
 * several share 8080). Pure: observations in, a verdict out.
 *
 * @module
 */
import type { ServerKind } from "./dialects.ts";
import { modelIdsOf, parseModelList } from "./model_list.ts";

/** Paths GET-ed on a candidate server, relative to its root. All are cheap and side-effect free. */
export const FINGERPRINT_PATHS = [
  "/v1/models",
  "/api/version", // Ollama: {"version":"0.x.y"}
  "/api/extra/version", // KoboldCpp: {"result":"KoboldCpp","version":"1.x"}
  "/props", // llama.cpp: default_generation_settings, total_slots, build_info
  "/info", // TGI: model_id, max_concurrent_requests, router
  "/get_model_info", // SGLang: model_path, is_generation
  "/version", // vLLM and LocalAI: {"version":…}
  "/api/v0/models", // LM Studio: data[] with state, compatibility_type
  "/readyz", // LocalAI
] as const;

export type FingerprintPath = (typeof FINGERPRINT_PATHS)[number];

/** One answer (status and a bounded body), or absent when the request failed. */
export interface Observation {
  readonly status: number;
  readonly text: string;
}

export type Observations = Partial<Record<FingerprintPath, Observation>>;

export interface Fingerprint {
  readonly kind: ServerKind;
  /** Server version when it tells (`/api/version`, `/version`, `/info`, `/props`). */
  readonly version?: string;
  /** Model ids from `/v1/models` (empty when it lists none). */
  readonly models: string[];
  /** Why we think so, e.g. `GET /api/version answered {"version":"0.5.7"}`. */
  readonly evidence: string;
}

function json(o: Observation | undefined): Record<string, unknown> | undefined {
  if (!o || o.status !== 200) return undefined;
  try {
    const v = JSON.parse(o.text);
    return typeof v === "object" && v !== null && !Array.isArray(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

function loadingLlama(text: string): boolean {
  try {
    const e = JSON.parse(text)?.error;
    return e?.type === "unavailable_error" && e?.message === "Loading model";
  } catch {
    return false;
  }
}

/** A short printable string, or undefined: versions end up in TOML comments and terminals. */
function str(v: unknown): string | undefined {
  return typeof v === "string" && /^[\x20-\x7e]{1,100}$/.test(v) ? v : undefined;
}

function owners(models: Record<string, unknown> | undefined): Set<string> {
  const out = new Set<string>();
  const data = models?.data;
  if (!Array.isArray(data)) return out;
  for (const m of data.slice(0, 1000)) {
    const o = (m as Record<string, unknown> | null)?.owned_by;
    if (typeof o === "string") out.add(o);
  }
  return out;
}

/**
 * Decides the kind, most specific evidence first; `undefined` when nothing here is an
 * OpenAI-compatible server (no usable `/v1/models` and no known fingerprint).
 */
export function fingerprint(obs: Observations): Fingerprint | undefined {
  const modelsJson = json(obs["/v1/models"]);
  const parsed = modelsJson ? parseModelList(modelsJson) : undefined;
  const models = parsed?.ok ? modelIdsOf(parsed.list) : [];
  const owned = owners(modelsJson);
  const out = (kind: ServerKind, evidence: string, version?: string): Fingerprint => ({
    kind,
    models,
    evidence,
    ...(version ? { version } : {}),
  });

  // llama.cpp answers every route with this while it loads the model.
  if (
    Object.values(obs).some((o) => o?.status === 503 && loadingLlama(o.text))
  ) {
    return out("llamacpp", `HTTP 503 "Loading model" (unavailable_error) while loading`);
  }
  // KoboldCpp first: it also emulates parts of other APIs.
  const kobold = json(obs["/api/extra/version"]);
  if (kobold && kobold.result === "KoboldCpp") {
    return out(
      "koboldcpp",
      `GET /api/extra/version answered result "KoboldCpp"`,
      str(kobold.version),
    );
  }
  const props = json(obs["/props"]);
  if (props && typeof props.default_generation_settings === "object" && "total_slots" in props) {
    return out(
      "llamacpp",
      `GET /props has default_generation_settings and total_slots`,
      str(props.build_info),
    );
  }
  if (owned.has("llamacpp")) return out("llamacpp", `GET /v1/models owned_by "llamacpp"`);
  const info = json(obs["/info"]);
  if (
    info && str(info.model_id) &&
    (info.router === "text-generation-router" || "max_concurrent_requests" in info)
  ) {
    return out("tgi", `GET /info has model_id and max_concurrent_requests`, str(info.version));
  }
  const sglang = json(obs["/get_model_info"]);
  if ((sglang && str(sglang.model_path)) || owned.has("sglang")) {
    return out(
      "sglang",
      sglang ? `GET /get_model_info has model_path` : `GET /v1/models owned_by "sglang"`,
    );
  }
  const version = json(obs["/version"]);
  if (owned.has("vllm")) {
    return out("vllm", `GET /v1/models owned_by "vllm"`, str(version?.version));
  }
  const ollama = json(obs["/api/version"]);
  if (ollama && str(ollama.version) && Object.keys(ollama).length === 1) {
    return out("ollama", `GET /api/version answered only {"version":…}`, str(ollama.version));
  }
  const lms = json(obs["/api/v0/models"]);
  const lmsData = Array.isArray(lms?.data) ? lms.data as Record<string, unknown>[] : [];
  if (lmsData.some((m) => m && typeof m.state === "string" && "compatibility_type" in m)) {
    return out("lmstudio", `GET /api/v0/models lists state and compatibility_type`);
  }
  if (owned.has("local") && models.includes("default")) {
    return out("mistralrs", `GET /v1/models lists "default" owned_by "local"`);
  }
  if (obs["/readyz"]?.status === 200 && version && str(version.version) && owned.size === 0) {
    return out(
      "localai",
      `GET /readyz is 200 and GET /version answered a version`,
      str(version.version),
    );
  }
  if (parsed?.ok) return out("openai", `GET /v1/models answered an OpenAI model list`);
  return undefined;
}
