import assert from "node:assert/strict";
import { addSnapshot, mergeSnapshots, type MetricSnapshot, requestTotals } from "./_snapshots.ts";

const requests = (value: number, status = "200"): MetricSnapshot => ({
  name: "labman_proxy_requests_total",
  help: "h",
  type: "counter",
  aggregator: "sum",
  values: [{ value, labels: { model: "m", endpoint: "e", status } }],
});
const gauge = (name: string, value: number): MetricSnapshot => ({
  name,
  help: "h",
  type: "gauge",
  values: [{ value, labels: { endpoint: "e" } }],
});
const histogram = (count: number): MetricSnapshot => ({
  name: "labman_proxy_request_duration_seconds",
  help: "h",
  type: "histogram",
  values: [
    {
      value: count,
      labels: { le: 1, model: "m" },
      metricName: "labman_proxy_request_duration_seconds_bucket",
    },
    {
      value: count,
      labels: { model: "m" },
      metricName: "labman_proxy_request_duration_seconds_count",
    },
  ],
});

Deno.test("snapshots: retired Workers' counters and histograms are carried; gauges are not", () => {
  const carried = new Map<string, MetricSnapshot>();
  addSnapshot(
    carried,
    [requests(5), histogram(5), gauge("labman_endpoint_up", 1)],
    (m) => m.type !== "gauge",
  );
  const merged = mergeSnapshots(carried, [
    requests(2),
    histogram(2),
    gauge("labman_endpoint_up", 1),
  ], []);
  const byName = new Map(merged.map((m) => [m.name, m]));
  assert.equal(byName.get("labman_proxy_requests_total")!.values[0].value, 7);
  assert.deepEqual(
    byName.get("labman_proxy_request_duration_seconds")!.values.map((v) => v.value),
    [7, 7],
  );
  assert.equal(byName.get("labman_endpoint_up")!.values[0].value, 1, "not summed with the past");
});

Deno.test("snapshots: during a hand-over per-Worker gauges are summed, state gauges come from the current", () => {
  const merged = mergeSnapshots(new Map(), [
    gauge("labman_endpoint_in_flight_requests", 1),
    gauge("labman_endpoint_up", 1),
  ], [[gauge("labman_endpoint_in_flight_requests", 3), gauge("labman_endpoint_up", 1)]]);
  const byName = new Map(merged.map((m) => [m.name, m]));
  assert.equal(byName.get("labman_endpoint_in_flight_requests")!.values[0].value, 4);
  assert.equal(byName.get("labman_endpoint_up")!.values[0].value, 1);
});

Deno.test("snapshots: request totals for heartbeats count 5xx as errors", () => {
  assert.deepEqual(requestTotals([requests(3), requests(2, "502")]), { total: 5, errors: 2 });
});
