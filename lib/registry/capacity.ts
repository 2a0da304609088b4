/**
 * Capacity signals of inference servers, parsed from their own endpoints. Pure: text or JSON
 * in, a {@linkcode Capacity} out. Every input is untrusted (a LAN server, or anything listening
 * on the port), so parsing is bounded and lenient: unknown shapes give `undefined`, never throw.
 *
 * @module
 */

/** What a server says about its load. Absent fields are unknown. */
export interface Capacity {
  /** Requests the server runs at once (llama.cpp slots, TGI `max_concurrent_requests`). */
  readonly slots?: number;
  /** Requests it is running now. */
  readonly running?: number;
  /** Requests waiting in its own queue. */
  readonly waiting?: number;
  /** The server reports itself full: every slot busy, or requests already waiting. */
  readonly full: boolean;
  /** Where the numbers come from, e.g. `"/slots"` or `"/metrics"`. */
  readonly source: string;
}

/** Most series read from one exposition; a hostile server cannot make us keep more. */
const MAX_LINES = 20_000;

/**
 * Sums the values of the named metrics over all their label sets (vLLM and SGLang label by
 * `model_name`; several models add up). Names absent from the text are absent from the result.
 */
export function sumPrometheus(text: string, names: readonly string[]): Map<string, number> {
  const wanted = new Set(names);
  const out = new Map<string, number>();
  let lines = 0;
  for (const raw of text.split("\n")) {
    if (++lines > MAX_LINES) break;
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([A-Za-z_:][A-Za-z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m || !wanted.has(m[1]!)) continue;
    const value = Number(m[3]);
    if (!Number.isFinite(value)) continue;
    out.set(m[1]!, (out.get(m[1]!) ?? 0) + value);
  }
  return out;
}

function count(n: number | undefined): number | undefined {
  return n === undefined || n < 0 ? undefined : Math.round(n);
}

/** `GET /slots` of llama.cpp: one object per slot with `is_processing`. */
export function capacityFromLlamaSlots(json: unknown): Capacity | undefined {
  if (!Array.isArray(json) || json.length === 0 || json.length > 4096) return undefined;
  let running = 0;
  for (const slot of json) {
    if (typeof slot !== "object" || slot === null) return undefined;
    const busy = (slot as Record<string, unknown>).is_processing;
    if (typeof busy !== "boolean") return undefined;
    if (busy) running++;
  }
  return { slots: json.length, running, full: running >= json.length, source: "/slots" };
}

/**
 * Prometheus gauges of running and waiting requests. Full means the server already queues:
 * a request sent now would wait behind others there instead of in labman's queue, where a
 * free endpoint could take it.
 */
export function capacityFromMetrics(
  text: string,
  runningName: string,
  waitingName: string,
): Capacity | undefined {
  const v = sumPrometheus(text, [runningName, waitingName]);
  const running = count(v.get(runningName));
  const waiting = count(v.get(waitingName));
  if (running === undefined && waiting === undefined) return undefined;
  return {
    ...(running !== undefined ? { running } : {}),
    ...(waiting !== undefined ? { waiting } : {}),
    full: (waiting ?? 0) > 0,
    source: "/metrics",
  };
}

/** llama.cpp `/metrics`: `llamacpp:requests_processing` and `llamacpp:requests_deferred`. */
export function capacityFromLlamaMetrics(text: string): Capacity | undefined {
  return capacityFromMetrics(text, "llamacpp:requests_processing", "llamacpp:requests_deferred");
}

/** TGI `GET /info`: `max_concurrent_requests` is the most it accepts before answering 429. */
export function slotsFromTgiInfo(json: unknown): number | undefined {
  if (typeof json !== "object" || json === null) return undefined;
  const n = (json as Record<string, unknown>).max_concurrent_requests;
  return typeof n === "number" && Number.isInteger(n) && n > 0 && n < 1_000_000 ? n : undefined;
}
