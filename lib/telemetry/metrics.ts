/**
 * The data plane's Prometheus metrics with conventional names and units, as plain numbers
 * ({@linkcode ./plain_metrics.ts}): the Worker never loads prom-client. The supervisor owns a
 * prom-client registry and merges the Workers' snapshots into it on every scrape
 * ({@linkcode ./exposition.ts}).
 *
 * @module
 */
import {
  checkIncrement,
  PlainCounter as Counter,
  PlainGauge as Gauge,
  PlainHistogram as Histogram,
  PlainRegistry as Registry,
} from "./plain_metrics.ts";

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
 * Hot-path series resolve their labels once: a request then pays one addition or store instead
 * of label validation and a key lookup.
 */
export function counterSeries<T extends string>(
  metric: Counter<T>,
  labels: Readonly<Record<T, string>>,
): CounterSeries {
  const copy = { ...labels } as Partial<Record<T, string>>;
  // Re-resolved after reset() or remove(), so a series never updates a dropped entry.
  let series = metric.seriesOf(copy);
  return {
    inc(value = 1): void {
      const v = checkIncrement(value);
      if (!metric.holds(series)) series = metric.seriesOf(copy);
      series.state.value += v;
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
  const copy = { ...labels } as Partial<Record<T, string>>;
  let series = metric.seriesOf(copy);
  return {
    set(value: number): void {
      if (typeof value !== "number") metric.set(copy, value);
      if (!metric.holds(series)) series = metric.seriesOf(copy);
      series.state.value = value;
    },
  };
}

export { Registry };
