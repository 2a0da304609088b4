/**
 * Sums prom-client JSON snapshots (`registry.getMetricsAsJSON()`) of several data-plane Workers
 * into one, so counters stay monotonic when a Worker is replaced (crash restart or reload
 * hand-over): the supervisor keeps what retired Workers counted and adds the live ones. Pure.
 *
 * @module
 */

/** One metric of a prom-client JSON snapshot (the library does not export the type). */
export interface MetricSnapshot {
  name: string;
  help: string;
  type: string;
  aggregator?: string;
  values: { value: number; labels: Record<string, string | number>; metricName?: string }[];
}

/** Gauges that count things per Worker, so their sum is the node's value. */
const SUMMED_GAUGES = new Set([
  "labman_endpoint_in_flight_requests",
  "labman_proxy_queue_depth",
  "labman_proxy_open_connections",
]);

function seriesKey(v: MetricSnapshot["values"][number]): string {
  const labels = Object.keys(v.labels).sort().map((k) => `${k}=${v.labels[k]}`).join(",");
  return `${v.metricName ?? ""}|${labels}`;
}

/** Cumulative metrics: what a Worker counted stays counted after it is gone. */
export function isCumulative(type: string): boolean {
  return type === "counter" || type === "histogram";
}

/**
 * Adds `snapshot` into `into` (by metric name and series); `filter` picks the metrics taken.
 * Returns `into`.
 */
export function addSnapshot(
  into: Map<string, MetricSnapshot>,
  snapshot: readonly MetricSnapshot[],
  filter: (m: MetricSnapshot) => boolean = () => true,
): Map<string, MetricSnapshot> {
  for (const metric of snapshot) {
    if (!filter(metric)) continue;
    let acc = into.get(metric.name);
    if (acc === undefined) {
      acc = { ...metric, values: [] };
      into.set(metric.name, acc);
    }
    const index = new Map(acc.values.map((v, i) => [seriesKey(v), i]));
    for (const v of metric.values) {
      const i = index.get(seriesKey(v));
      if (i === undefined) {
        index.set(seriesKey(v), acc.values.length);
        acc.values.push({ ...v, labels: { ...v.labels } });
      } else {
        acc.values[i] = { ...acc.values[i], value: acc.values[i].value + v.value };
      }
    }
  }
  return into;
}

/**
 * The node's view: cumulative metrics of retired Workers (`carried`) plus those of every live
 * one; gauges from the current Worker, except per-Worker counts ({@linkcode SUMMED_GAUGES}),
 * which are summed over the live ones.
 */
export function mergeSnapshots(
  carried: ReadonlyMap<string, MetricSnapshot>,
  current: readonly MetricSnapshot[],
  others: readonly (readonly MetricSnapshot[])[],
): MetricSnapshot[] {
  const out = new Map<string, MetricSnapshot>();
  addSnapshot(out, [...carried.values()]);
  addSnapshot(out, current);
  for (const other of others) {
    addSnapshot(out, other, (m) => isCumulative(m.type) || SUMMED_GAUGES.has(m.name));
  }
  return [...out.values()];
}

/** Request totals (for heartbeats) in a snapshot, from `labman_proxy_requests_total`. */
export function requestTotals(
  snapshot: Iterable<MetricSnapshot>,
): { total: number; errors: number } {
  let total = 0, errors = 0;
  for (const m of snapshot) {
    if (m.name !== "labman_proxy_requests_total") continue;
    for (const v of m.values) {
      total += v.value;
      if (Number(v.labels.status) >= 500) errors += v.value;
    }
  }
  return { total, errors };
}
