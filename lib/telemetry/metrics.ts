/**
 * Prometheus metrics with conventional names and units. The data plane and the supervisor each
 * own a registry; the admin listener merges them on every scrape.
 *
 * @module
 */
import {
  Counter,
  type CounterConfiguration,
  Gauge,
  type GaugeConfiguration,
  Histogram,
  Registry,
} from "prom-client";

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
    requests: new BatchedCounter({
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
    inFlight: new BatchedGauge({
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
      name: "labman_proxy_cancellations_total",
      help: "Requests the client abandoned before the response finished.",
      labelNames: ["endpoint"] as const,
      registers,
    }),
    rejected: new Counter({
      name: "labman_proxy_rejected_total",
      help: "Connections and requests the proxy refused or closed to hold its bounds, by reason " +
        "(connection_cap, head_timeout, idle_timeout, body_timeout, body_budget).",
      labelNames: ["reason"] as const,
      registers,
    }),
    connections: new Gauge({
      name: "labman_proxy_open_connections",
      help: "Client connections currently open on the proxy port.",
      registers,
    }),
    acceptErrors: new Counter({
      name: "labman_proxy_accept_errors_total",
      help: "Failed accepts on the proxy port (e.g. out of file descriptors); the listener backs " +
        "off and recovers.",
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
 * Hot-path series use prom-client's public API only. Counters and gauges keep a plain number per
 * label set and hand it to prom-client (`inc(labels, n)`, `set(labels, v)`) from the metric's
 * `collect` hook, which prom-client runs on every scrape before it reads its values: a request
 * then pays one addition instead of label validation and hashing. Histograms cannot take a
 * batch through the public API, so their series is prom-client's labelled child
 * (`histogram.labels(...)`), resolved once.
 */
interface PendingCounter {
  labels: Record<string, string>;
  value: number;
}
interface PendingGauge {
  labels: Record<string, string>;
  value: number;
  dirty: boolean;
}

const pendingCounters = new WeakMap<object, Map<string, PendingCounter>>();
const pendingGauges = new WeakMap<object, Map<string, PendingGauge>>();

function seriesKey(labels: Readonly<Record<string, string>>): string {
  let key = "";
  for (const name of Object.keys(labels).sort()) key += `${name}\u0000${labels[name]}\u0000`;
  return key;
}

function pendingMap<V>(maps: WeakMap<object, Map<string, V>>, metric: object): Map<string, V> {
  let map = maps.get(metric);
  if (map === undefined) maps.set(metric, map = new Map());
  return map;
}

/** A counter whose resolved series add to plain numbers that a scrape hands to prom-client. */
export class BatchedCounter<T extends string = string> extends Counter<T> {
  constructor(config: CounterConfiguration<T>) {
    super({
      ...config,
      collect(this: Counter<T>) {
        const map = pendingCounters.get(this);
        if (map === undefined) return;
        for (const p of map.values()) {
          if (p.value === 0) continue;
          const value = p.value;
          p.value = 0;
          this.inc(p.labels as Partial<Record<T, string>>, value);
        }
      },
    });
  }

  // prom-client's constructor calls reset() before subclass fields exist, hence the WeakMap.
  override reset(): void {
    super.reset();
    for (const p of pendingCounters.get(this)?.values() ?? []) p.value = 0;
  }
}

/** A gauge whose resolved series keep the latest value until a scrape hands it to prom-client. */
export class BatchedGauge<T extends string = string> extends Gauge<T> {
  constructor(config: GaugeConfiguration<T>) {
    super({
      ...config,
      collect(this: Gauge<T>) {
        const map = pendingGauges.get(this);
        if (map === undefined) return;
        for (const p of map.values()) {
          if (!p.dirty) continue;
          p.dirty = false;
          this.set(p.labels as Partial<Record<T, string>>, p.value);
        }
      },
    });
  }

  override reset(): void {
    super.reset();
    for (const p of pendingGauges.get(this)?.values() ?? []) p.dirty = false;
  }
}

export function counterSeries<T extends string>(
  metric: Counter<T>,
  labels: Readonly<Record<T, string>>,
): CounterSeries {
  const copy: Record<string, string> = { ...labels };
  if (!(metric instanceof BatchedCounter)) {
    return { inc: (value = 1) => metric.inc(copy as Partial<Record<T, string>>, value) };
  }
  // Validate the labels once, the way prom-client would on every call.
  metric.inc(copy as Partial<Record<T, string>>, 0);
  const map = pendingMap(pendingCounters, metric);
  const key = seriesKey(copy);
  let pending = map.get(key);
  if (pending === undefined) map.set(key, pending = { labels: copy, value: 0 });
  const p = pending;
  return {
    inc(value = 1): void {
      // prom-client's own error for a negative or non-finite increment.
      if (!(value >= 0) || value === Infinity) {
        metric.inc(copy as Partial<Record<T, string>>, value);
      } else p.value += value;
    },
  };
}

export function histogramSeries<T extends string>(
  metric: Histogram<T>,
  labels: Readonly<Record<T, string>>,
): HistogramSeries {
  return metric.labels({ ...labels } as Partial<Record<T, string>>);
}

export function gaugeSeries<T extends string>(
  metric: Gauge<T>,
  labels: Readonly<Record<T, string>>,
): GaugeSeries {
  const copy: Record<string, string> = { ...labels };
  if (!(metric instanceof BatchedGauge)) {
    return { set: (value) => metric.set(copy as Partial<Record<T, string>>, value) };
  }
  const map = pendingMap(pendingGauges, metric);
  const key = seriesKey(copy);
  let pending = map.get(key);
  if (pending === undefined) map.set(key, pending = { labels: copy, value: 0, dirty: false });
  const p = pending;
  return {
    set(value: number): void {
      if (typeof value !== "number") metric.set(copy as Partial<Record<T, string>>, value);
      p.value = value;
      p.dirty = true;
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
