import assert from "node:assert/strict";
import * as prom from "prom-client";
import { mergeExposition } from "./mod.ts";
import {
  counterSeries,
  createDataPlaneMetrics,
  gaugeSeries,
  histogramSeries,
  Registry,
} from "./metrics.ts";
import { PlainCounter, PlainGauge, PlainHistogram } from "./plain_metrics.ts";

type Plain = ReturnType<typeof createDataPlaneMetrics>;

/** prom-client twins of every data-plane metric: same name, help, labels and buckets. */
function promTwins(m: Plain) {
  const registry = new prom.Registry();
  const twins = new Map<unknown, prom.Counter | prom.Gauge | prom.Histogram>();
  for (const metric of Object.values(m)) {
    if (metric instanceof Registry) continue;
    const base = {
      name: (metric as PlainCounter).name,
      help: (metric as PlainCounter).help,
      labelNames: [...(metric as PlainCounter).labelNames],
      registers: [registry],
    };
    if (metric instanceof PlainCounter) twins.set(metric, new prom.Counter(base));
    else if (metric instanceof PlainGauge) twins.set(metric, new prom.Gauge(base));
    else if (metric instanceof PlainHistogram) {
      twins.set(metric, new prom.Histogram({ ...base, buckets: [...metric.buckets] }));
    }
  }
  return { registry, twin: <T>(metric: unknown) => twins.get(metric) as T };
}

const a = { model: "m-1", endpoint: "gpu", status: "200" };
const b = { model: "m-1", endpoint: "gpu", status: "503" };
const route = { model: "m-1", endpoint: "gpu" };
const values = [0.0002, 0.0005, 0.003, 0.7, 42, 1000, 0.01];

Deno.test("plain metrics render exactly prom-client's exposition for the same operations", async () => {
  const m = createDataPlaneMetrics();
  const { registry, twin } = promTwins(m);
  const requests = twin<prom.Counter>(m.requests);
  const duration = twin<prom.Histogram>(m.duration);
  const inFlight = twin<prom.Gauge>(m.inFlight);
  const queueWait = twin<prom.Histogram>(m.queueWait);
  const rejected = twin<prom.Counter>(m.rejected);
  const connections = twin<prom.Gauge>(m.connections);

  const ca = counterSeries(m.requests, a);
  const cb = counterSeries(m.requests, b);
  const d = histogramSeries(m.duration, route);
  const g = gaugeSeries(m.inFlight, { endpoint: "gpu" });
  for (const v of values) {
    ca.inc();
    requests.inc(a);
    d.observe(v);
    duration.observe(route, v);
    g.set(v);
    inFlight.set({ endpoint: "gpu" }, v);
    m.queueWait.observe(v);
    queueWait.observe(v);
  }
  cb.inc(2);
  requests.inc(b, 2);
  // After reset() and remove() the resolved series must notice rather than update a dropped entry.
  m.requests.reset();
  requests.reset();
  ca.inc();
  ca.inc();
  requests.inc(a);
  requests.inc(a);
  m.inFlight.remove({ endpoint: "gpu" });
  inFlight.remove({ endpoint: "gpu" });
  g.set(3);
  inFlight.set({ endpoint: "gpu" }, 3);
  m.rejected.inc({ reason: "head_timeout" });
  rejected.inc({ reason: "head_timeout" });
  m.connections.set(5);
  connections.set(5);

  const plain = await mergeExposition([await m.registry.getMetricsAsJSON()]);
  assert.equal(plain, await registry.metrics());
  assert.match(plain, /labman_proxy_requests_total\{model="m-1",endpoint="gpu",status="200"\} 2/);
  assert.doesNotMatch(plain, /status="503"/);
  assert.match(
    plain,
    /labman_proxy_request_duration_seconds_count\{model="m-1",endpoint="gpu"\} 7/,
  );
  assert.match(
    plain,
    /labman_proxy_request_duration_seconds_bucket\{le="0\.0005",model="m-1",endpoint="gpu"\} 2/,
  );
  assert.match(plain, /labman_endpoint_in_flight_requests\{endpoint="gpu"\} 3/);
  // Unlabelled metrics exist at zero before anything happened, as in prom-client.
  assert.match(plain, /\nlabman_proxy_accept_errors_total 0\n/);
});

Deno.test("plain metrics refuse what prom-client refuses", () => {
  const m = createDataPlaneMetrics(new Registry());
  const d = histogramSeries(m.duration, { model: "x", endpoint: "e" });
  d.observe(1);
  assert.throws(() => d.observe(Number.NaN), /^TypeError: Cannot record NaN: not a finite number/);
  const c = counterSeries(m.requests, { model: "m", endpoint: "e", status: "200" });
  assert.throws(() => c.inc(-1), /Cannot decrease a counter \(by -1\)/);
  assert.throws(() => c.inc(Infinity), /Cannot record Infinity: not a finite number/);
  assert.throws(
    () => m.requests.inc({ model: "m", nope: "x" } as never),
    /Cannot update metric labman_proxy_requests_total: label "nope" is not one of its labels/,
  );
  assert.throws(
    () => createDataPlaneMetrics(m.registry),
    /Cannot register metric labman_proxy_requests_total: this registry already has one/,
  );
  assert.throws(() => new PlainCounter({ name: "9bad", help: "" }), /not a Prometheus metric name/);
});

Deno.test("counts add up across snapshots, never handed over twice", async () => {
  const m = createDataPlaneMetrics(new Registry());
  const c = counterSeries(m.requests, { model: "m", endpoint: "e", status: "200" });
  const g = gaugeSeries(m.inFlight, { endpoint: "e" });
  c.inc();
  g.set(4);
  const value = async (name: string) =>
    (await m.registry.getMetricsAsJSON()).find((x) => x.name === name)?.values[0]?.value;
  assert.equal(await value("labman_proxy_requests_total"), 1);
  assert.equal(await value("labman_proxy_requests_total"), 1);
  c.inc(2);
  g.set(1);
  m.requests.inc({ model: "m", endpoint: "e", status: "200" });
  assert.equal(await value("labman_proxy_requests_total"), 4);
  assert.equal(await value("labman_endpoint_in_flight_requests"), 1);
  // The snapshot crosses postMessage: it must survive a structured clone unchanged.
  const json = await m.registry.getMetricsAsJSON();
  assert.deepEqual(structuredClone(json), json);
});

Deno.test("the data plane's metrics load no prom-client; the exposition loads it on first use", async () => {
  for (const file of ["./metrics.ts", "./plain_metrics.ts", "./mod.ts", "./exposition.ts"]) {
    const src = await Deno.readTextFile(new URL(file, import.meta.url));
    // Only `import type` (erased) and a dynamic `import()` at scrape time are allowed.
    assert.doesNotMatch(src, /^import (?!type )[^;]*from "prom-client"/m, file);
  }
  const exposition = await Deno.readTextFile(new URL("./exposition.ts", import.meta.url));
  assert.match(exposition, /await import\("prom-client"\)/);
});
