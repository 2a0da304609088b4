import assert from "node:assert/strict";
import * as prom from "prom-client";
import { mergeExposition, PlainCounter, PlainGauge, SupervisorRegistry } from "./mod.ts";

Deno.test("SupervisorRegistry: plain and prom-client metrics side by side render as prom-client alone would", async () => {
  const ours = new SupervisorRegistry();
  const theirs = new prom.Registry();
  let restarts = 0;
  for (const [registry, plain] of [[ours, true], [theirs, false]] as const) {
    // A plain metric in ours, its prom-client twin in theirs.
    if (plain) {
      const g = new PlainGauge({
        name: "labman_node_state",
        help: "phase",
        labelNames: ["state"] as const,
        registers: [ours],
      });
      g.set({ state: "serving" }, 1);
      g.set({ state: "error" }, 0);
      new PlainCounter({ name: "labman_failures_total", help: "failures", registers: [ours] })
        .inc(2);
    } else {
      const g = new prom.Gauge({
        name: "labman_node_state",
        help: "phase",
        labelNames: ["state"] as const,
        registers: [theirs],
      });
      g.set({ state: "serving" }, 1);
      g.set({ state: "error" }, 0);
      new prom.Counter({ name: "labman_failures_total", help: "failures", registers: [theirs] })
        .inc(2);
    }
    // A prom-client metric with collect(), as the tunnel and relay modules register them.
    const target = registry instanceof SupervisorRegistry ? registry.asPromRegistry() : registry;
    new prom.Counter({
      name: "labman_wireguard_backend_restarts_total",
      help: "restarts",
      registers: [target],
      collect() {
        this.reset();
        this.inc(restarts);
      },
    });
  }
  restarts = 3;
  const text = await mergeExposition([await ours.getMetricsAsJSON()]);
  assert.equal(text, await theirs.metrics());
  assert.match(text, /^labman_wireguard_backend_restarts_total 3$/m);
  assert.match(text, /^labman_node_state\{state="serving"\} 1$/m);
});
