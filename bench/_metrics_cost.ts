/**
 * The data plane's metric bookkeeping per proxied request, timed in this process: what
 * lib/proxy/handler.ts and lib/registry/router.ts do per request (two histogram observations,
 * one counter increment, two in-flight gauge sets) through the resolved series of
 * lib/telemetry/metrics.ts, next to the same calls with labels passed every time (label check and
 * series lookup per call) as the baseline of the same run.
 *
 * @module
 */
import {
  counterSeries,
  createDataPlaneMetrics,
  gaugeSeries,
  histogramSeries,
  Registry,
} from "../lib/telemetry/mod.ts";

export interface MetricsCost {
  /** µs per request through the resolved series (what labmand runs). */
  seriesUs: number;
  /** µs per request with labels on every call. */
  labelledUs: number;
}

export async function measureMetricsCost(requests = 200_000): Promise<MetricsCost> {
  const m = createDataPlaneMetrics(new Registry());
  const route = { model: "mock-llama-3-8b", endpoint: "mock" };
  const status = { ...route, status: "200" };
  const gauge = { endpoint: "mock" };
  const duration = histogramSeries(m.duration, route);
  const ttfb = histogramSeries(m.ttfb, route);
  const counter = counterSeries(m.requests, status);
  const inFlight = gaugeSeries(m.inFlight, gauge);
  // Two separate loops (not one timing helper taking a callback): a shared call site would
  // turn polymorphic and time the dispatch instead of the metric calls.
  const timeSeries = () => {
    const t0 = performance.now();
    for (let i = 0; i < requests; i++) {
      inFlight.set(1);
      ttfb.observe((i % 97) / 10_000);
      duration.observe((i % 89) / 1_000);
      counter.inc();
      inFlight.set(0);
    }
    return (performance.now() - t0) * 1000 / requests;
  };
  const timeLabelled = () => {
    const t0 = performance.now();
    for (let i = 0; i < requests; i++) {
      m.inFlight.set(gauge, 1);
      m.ttfb.observe(route, (i % 97) / 10_000);
      m.duration.observe(route, (i % 89) / 1_000);
      m.requests.inc(status);
      m.inFlight.set(gauge, 0);
    }
    return (performance.now() - t0) * 1000 / requests;
  };
  // Interleaved, best of four each (the first round warms both up): the box is shared.
  const series: number[] = [];
  const labelled: number[] = [];
  for (let r = 0; r < 4; r++) {
    series.push(timeSeries());
    labelled.push(timeLabelled());
  }
  // The scrape must see every increment: a cheap path that loses counts would be no saving.
  const json = await m.registry.getMetricsAsJSON();
  const total = json.find((x) => x.name === "labman_proxy_requests_total")?.values[0]?.value;
  const expected = 4 * 2 * requests;
  if (total !== expected) {
    throw new Error(`metrics cost: the scrape counted ${total} requests, expected ${expected}`);
  }
  return { seriesUs: Math.min(...series), labelledUs: Math.min(...labelled) };
}
