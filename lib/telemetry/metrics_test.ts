import assert from "node:assert/strict";
import {
  counterSeries,
  createDataPlaneMetrics,
  gaugeSeries,
  histogramSeries,
  Registry,
} from "./metrics.ts";

/** The same operations through prom-client's API and through resolved series. */
function drive(useSeries: boolean) {
  const m = createDataPlaneMetrics(new Registry());
  const a = { model: "m-1", endpoint: "gpu", status: "200" };
  const b = { model: "m-1", endpoint: "gpu", status: "503" };
  const route = { model: "m-1", endpoint: "gpu" };
  const values = [0.0002, 0.0005, 0.003, 0.7, 42, 1000, 0.01];
  if (useSeries) {
    const ca = counterSeries(m.requests, a);
    const cb = counterSeries(m.requests, b);
    const d = histogramSeries(m.duration, route);
    const g = gaugeSeries(m.inFlight, { endpoint: "gpu" });
    for (const v of values) {
      ca.inc();
      d.observe(v);
      g.set(v);
    }
    cb.inc(2);
    // After reset() the series must notice the fresh map rather than update a dropped entry.
    m.requests.reset();
    ca.inc();
    ca.inc();
    m.inFlight.remove({ endpoint: "gpu" });
    g.set(3);
  } else {
    for (const v of values) {
      m.requests.inc(a);
      m.duration.observe(route, v);
      m.inFlight.set({ endpoint: "gpu" }, v);
    }
    m.requests.inc(b, 2);
    m.requests.reset();
    m.requests.inc(a);
    m.requests.inc(a);
    m.inFlight.remove({ endpoint: "gpu" });
    m.inFlight.set({ endpoint: "gpu" }, 3);
  }
  return m.registry;
}

Deno.test("labelled series produce exactly prom-client's exposition", async () => {
  const viaApi = await drive(false).metrics();
  const viaSeries = await drive(true).metrics();
  assert.equal(viaSeries, viaApi);
  assert.match(
    viaSeries,
    /labman_proxy_requests_total\{model="m-1",endpoint="gpu",status="200"\} 2/,
  );
  assert.match(
    viaSeries,
    /labman_proxy_request_duration_seconds_count\{model="m-1",endpoint="gpu"\} 7/,
  );
  assert.match(
    viaSeries,
    /labman_proxy_request_duration_seconds_bucket\{le="0\.0005",model="m-1",endpoint="gpu"\} 2/,
  );
  assert.match(viaSeries, /labman_endpoint_in_flight_requests\{endpoint="gpu"\} 3/);
});

Deno.test("a histogram series refuses non-finite values like prom-client", () => {
  const m = createDataPlaneMetrics(new Registry());
  const d = histogramSeries(m.duration, { model: "x", endpoint: "e" });
  d.observe(1);
  assert.throws(() => d.observe(Number.NaN), /not a valid number/);
});

Deno.test("batched series add up across scrapes and through the JSON snapshot", async () => {
  const m = createDataPlaneMetrics(new Registry());
  const c = counterSeries(m.requests, { model: "m", endpoint: "e", status: "200" });
  const g = gaugeSeries(m.inFlight, { endpoint: "e" });
  c.inc();
  g.set(4);
  assert.match(await m.registry.metrics(), /status="200"\} 1\n/);
  // Already handed over: a second scrape must not count it again.
  assert.match(await m.registry.metrics(), /status="200"\} 1\n/);
  c.inc(2);
  g.set(1);
  // A public-API increment on the same series adds to the batched one.
  m.requests.inc({ model: "m", endpoint: "e", status: "200" });
  const json = await m.registry.getMetricsAsJSON();
  const requests = json.find((x) => x.name === "labman_proxy_requests_total");
  assert.equal(requests?.values[0].value, 4);
  const inFlight = json.find((x) => x.name === "labman_endpoint_in_flight_requests");
  assert.equal(inFlight?.values[0].value, 1);
  assert.throws(() => c.inc(-1), /not possible to decrease/);
});

Deno.test("series leave prom-client's internals alone", async () => {
  const src = await Deno.readTextFile(new URL("./metrics.ts", import.meta.url));
  assert.doesNotMatch(src, /hashMap|bucketValues|upperBounds/);
});
