/**
 * Prometheus metrics with conventional names and units. The data plane and the supervisor each
 * own a registry; the admin listener merges them on every scrape.
 *
 * @module
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";

/** Latency buckets in seconds, dense below 10 ms where proxy overhead lives. */
const LATENCY_BUCKETS = [
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60,
  120,
  300,
];

/** Upstream failure kinds used as the `kind` label of `labman_upstream_errors_total`. */
export type UpstreamErrorKind =
  | "connect"
  | "timeout"
  | "reset"
  | "protocol"
  | "http_4xx"
  | "http_5xx";

export function createDataPlaneMetrics(registry: Registry = new Registry()) {
  const registers = [registry];
  return {
    registry,
    requests: new Counter({
      name: "labman_proxy_requests_total",
      help: "Proxied requests by model slug, endpoint and HTTP status.",
      labelNames: ["model", "endpoint", "status"] as const,
      registers,
    }),
    duration: new Histogram({
      name: "labman_proxy_request_duration_seconds",
      help: "Total time from request received to last response byte sent.",
      labelNames: ["model", "endpoint"] as const,
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    ttfb: new Histogram({
      name: "labman_proxy_time_to_first_byte_seconds",
      help: "Time from request received to the first response body byte from the upstream.",
      labelNames: ["model", "endpoint"] as const,
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    inFlight: new Gauge({
      name: "labman_endpoint_in_flight_requests",
      help: "Requests currently holding a lease on the endpoint.",
      labelNames: ["endpoint"] as const,
      registers,
    }),
    queueDepth: new Gauge({
      name: "labman_proxy_queue_depth",
      help: "Requests waiting for a free endpoint slot.",
      registers,
    }),
    queueWait: new Histogram({
      name: "labman_proxy_queue_wait_seconds",
      help: "Time requests spent waiting for an endpoint slot.",
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    endpointUp: new Gauge({
      name: "labman_endpoint_up",
      help: "1 when the endpoint is healthy, 0 otherwise.",
      labelNames: ["endpoint"] as const,
      registers,
    }),
    endpointModels: new Gauge({
      name: "labman_endpoint_models",
      help: "Models discovered on the endpoint after include/exclude filtering.",
      labelNames: ["endpoint"] as const,
      registers,
    }),
    endpointCondition: new Gauge({
      name: "labman_endpoint_condition",
      help: "1 for the endpoint's server kind and condition (ready, overloaded, loading, down).",
      labelNames: ["endpoint", "kind", "condition"] as const,
      registers,
    }),
    endpointServerLoad: new Gauge({
      name: "labman_endpoint_server_requests",
      help: "The server's own capacity signals: its slots, running and waiting requests.",
      labelNames: ["endpoint", "state"] as const,
      registers,
    }),
    upstreamErrors: new Counter({
      name: "labman_upstream_errors_total",
      help: "Upstream failures by endpoint and kind.",
      labelNames: ["endpoint", "kind"] as const,
      registers,
    }),
    cancellations: new Counter({
      name: "labman_proxy_client_cancellations_total",
      help: "Requests the client abandoned before the response finished.",
      labelNames: ["endpoint"] as const,
      registers,
    }),
  };
}

export type DataPlaneMetrics = ReturnType<typeof createDataPlaneMetrics>;

/** One labelled series of a counter, resolved once: `inc` skips label validation and hashing. */
export interface CounterSeries {
  inc(value?: number): void;
}

/** One labelled series of a histogram, resolved once. */
export interface HistogramSeries {
  observe(value: number): void;
}

/** One labelled series of a gauge, resolved once. */
export interface GaugeSeries {
  set(value: number): void;
}

/**
 * prom-client 15 (pinned in deno.json) keeps each series in `hashMap[hash]`, where `hash` is
 * `name:value,` over the sorted label names. Its public `inc`/`observe`/`set` validate the labels
 * and rebuild that string on every call (about 3 µs each, five calls per proxied request). The
 * series below compute the key once and update the entry prom-client itself created; when the
 * entry is missing (first use, `reset()`, `remove()`) they go through the public API, so the
 * exposition is exactly prom-client's.
 */
interface SeriesStore {
  hashMap: Record<string, SeriesEntry | undefined>;
  upperBounds?: readonly number[];
}
interface SeriesEntry {
  value: number;
  sum: number;
  count: number;
  bucketValues: Record<number, number>;
}

function seriesKey(labels: Readonly<Record<string, string>>): string {
  let hash = "";
  for (const name of Object.keys(labels).sort()) hash += `${name}:${labels[name]},`;
  return hash;
}

export function counterSeries<T extends string>(
  metric: Counter<T>,
  labels: Readonly<Record<T, string>>,
): CounterSeries {
  const store = metric as unknown as SeriesStore;
  const key = seriesKey(labels);
  return {
    inc(value = 1): void {
      const entry = store.hashMap[key];
      if (entry === undefined || !(value >= 0) || value === Infinity) metric.inc(labels, value);
      else entry.value += value;
    },
  };
}

export function histogramSeries<T extends string>(
  metric: Histogram<T>,
  labels: Readonly<Record<T, string>>,
): HistogramSeries {
  const store = metric as unknown as SeriesStore;
  const key = seriesKey(labels);
  const bounds = store.upperBounds ?? [];
  return {
    observe(value: number): void {
      const entry = store.hashMap[key];
      if (entry === undefined || !Number.isFinite(value)) return metric.observe(labels, value);
      entry.sum += value;
      entry.count += 1;
      for (let i = 0; i < bounds.length; i++) {
        if (value <= bounds[i]) {
          entry.bucketValues[bounds[i]] += 1;
          break;
        }
      }
    },
  };
}

export function gaugeSeries<T extends string>(
  metric: Gauge<T>,
  labels: Readonly<Record<T, string>>,
): GaugeSeries {
  const store = metric as unknown as SeriesStore;
  const key = seriesKey(labels);
  return {
    set(value: number): void {
      const entry = store.hashMap[key];
      if (entry === undefined || typeof value !== "number") metric.set(labels, value);
      else entry.value = value;
    },
  };
}

/** Merges metric snapshots (from `registry.getMetricsAsJSON()`) into one exposition text. */
export async function mergeExposition(
  snapshots: Awaited<ReturnType<Registry["getMetricsAsJSON"]>>[],
): Promise<string> {
  const merged = Registry.merge(
    snapshots.map((json) => {
      const r = new Registry();
      for (const metric of json) {
        // deno-lint-ignore no-explicit-any -- prom-client's JSON snapshot type is not exported
        r.registerMetric(snapshotMetric(metric as any));
      }
      return r;
    }),
  );
  return await merged.metrics();
}

// deno-lint-ignore no-explicit-any -- see mergeExposition
function snapshotMetric(json: any) {
  // A read-only metric whose get() returns the snapshot: prom-client serialises it as is.
  return {
    name: json.name,
    help: json.help,
    type: json.type,
    aggregator: json.aggregator,
    get: () => Promise.resolve(json),
    reset: () => {},
  } as unknown as Counter;
}

export { Registry };
