/**
 * What labman knows about each kind of inference server: where its health lives, how it says
 * "still loading", and which capacity signals it exposes. The shapes come from each project's
 * source and docs; `docs/endpoints.md` is the operator-facing version of this table and
 * `lib/mockllm/dialects.ts` plays each one in tests.
 *
 * @module
 */
import type { EndpointKind } from "../config/mod.ts";
import {
  boundedGet,
  type BoundedGetOptions,
  type BoundedGetResult,
  jsonOrUndefined,
} from "../http/mod.ts";
import {
  type Capacity,
  capacityFromLlamaMetrics,
  capacityFromLlamaSlots,
  capacityFromMetrics,
  slotsFromTgiInfo,
} from "./capacity.ts";

/** A kind that has been decided (not `"auto"`). */
export type ServerKind = Exclude<EndpointKind, "auto">;

export interface Dialect {
  readonly kind: ServerKind;
  /** Human name for messages and `labman discover`. */
  readonly label: string;
  /** Readiness probe on the server root, checked before the model list. */
  readonly healthPath?: string;
  /**
   * 503 from `healthPath` means "loading the model", not "down" (llama.cpp answers
   * `{"error":{"code":503,"message":"Loading model","type":"unavailable_error"}}`; SGLang 503s
   * until its warm-up request finished).
   */
  readonly loadingOn503?: boolean;
  /** Reads the server's own load; `undefined` when it has no signal or did not answer. */
  readonly capacity?: (root: string, options: BoundedGetOptions) => Promise<Capacity | undefined>;
}

/** Prometheus expositions can be long (vLLM's histograms); the gauges we read come early. */
const METRICS_MAX_BYTES = 1024 * 1024;

/** `/metrics` text with a cut-off last line dropped, so `waiting 12` never reads as `1`. */
async function metricsText(root: string, options: BoundedGetOptions): Promise<string | undefined> {
  const r: BoundedGetResult = await boundedGet(`${root}/metrics`, {
    ...options,
    maxBytes: METRICS_MAX_BYTES,
  });
  if (!r.ok || r.status !== 200) return undefined;
  return r.truncated ? r.text.slice(0, r.text.lastIndexOf("\n") + 1) : r.text;
}

async function llamaCapacity(
  root: string,
  options: BoundedGetOptions,
): Promise<Capacity | undefined> {
  // `/slots` is on by default; `--no-slots` turns it into 501. Then the slot count comes from
  // `/props` (`total_slots`) and the load from `/metrics` (needs `--metrics`).
  const slots = await boundedGet(`${root}/slots`, options);
  if (slots.ok && slots.status === 200) {
    const c = capacityFromLlamaSlots(jsonOrUndefined(slots.text));
    if (c) return c;
  }
  const [props, metrics] = await Promise.all([
    boundedGet(`${root}/props`, options),
    metricsText(root, options),
  ]);
  const load = metrics === undefined ? undefined : capacityFromLlamaMetrics(metrics);
  const total = props.ok && props.status === 200
    ? (jsonOrUndefined(props.text) as { total_slots?: unknown } | undefined)?.total_slots
    : undefined;
  if (typeof total !== "number" || !Number.isInteger(total) || total < 1 || total > 4096) {
    return load;
  }
  if (!load) return undefined; // a slot count without the load says nothing about room
  return {
    ...load,
    slots: total,
    full: load.full || (load.running ?? 0) >= total,
    source: "/props+/metrics",
  };
}

function metricsCapacity(running: string, waiting: string) {
  return async (root: string, options: BoundedGetOptions): Promise<Capacity | undefined> => {
    const text = await metricsText(root, options);
    return text === undefined ? undefined : capacityFromMetrics(text, running, waiting);
  };
}

async function tgiCapacity(
  root: string,
  options: BoundedGetOptions,
): Promise<Capacity | undefined> {
  const [info, metrics] = await Promise.all([
    boundedGet(`${root}/info`, options),
    metricsText(root, options),
  ]);
  const slots = info.ok && info.status === 200
    ? slotsFromTgiInfo(jsonOrUndefined(info.text))
    : undefined;
  const load = metrics === undefined
    ? undefined
    : capacityFromMetrics(metrics, "tgi_batch_current_size", "tgi_queue_size");
  if (slots === undefined && load === undefined) return undefined;
  return {
    ...load,
    ...(slots !== undefined ? { slots } : {}),
    // TGI refuses (429) rather than queue past max_concurrent_requests.
    full: (load?.full ?? false) ||
      (slots !== undefined && load?.running !== undefined && load.running >= slots),
    source: [slots !== undefined ? "/info" : "", load ? "/metrics" : ""].filter(Boolean).join(
      "+",
    ),
  };
}

export const DIALECTS: Readonly<Record<ServerKind, Dialect>> = Object.freeze({
  openai: { kind: "openai", label: "OpenAI-compatible server" },
  ollama: { kind: "ollama", label: "Ollama", healthPath: "/api/version" },
  vllm: {
    kind: "vllm",
    label: "vLLM",
    healthPath: "/health",
    capacity: metricsCapacity("vllm:num_requests_running", "vllm:num_requests_waiting"),
  },
  llamacpp: {
    kind: "llamacpp",
    label: "llama.cpp server",
    healthPath: "/health",
    loadingOn503: true,
    capacity: llamaCapacity,
  },
  sglang: {
    kind: "sglang",
    label: "SGLang",
    healthPath: "/health",
    loadingOn503: true,
    capacity: metricsCapacity("sglang:num_running_reqs", "sglang:num_queue_reqs"),
  },
  tgi: {
    kind: "tgi",
    label: "Text Generation Inference",
    healthPath: "/health",
    capacity: tgiCapacity,
  },
  lmstudio: { kind: "lmstudio", label: "LM Studio" },
  mistralrs: { kind: "mistralrs", label: "mistral.rs", healthPath: "/health" },
  koboldcpp: { kind: "koboldcpp", label: "KoboldCpp" },
  localai: { kind: "localai", label: "LocalAI", healthPath: "/readyz" },
});

/** The dialect of a decided kind. */
export function dialectOf(kind: ServerKind): Dialect {
  return DIALECTS[kind];
}
