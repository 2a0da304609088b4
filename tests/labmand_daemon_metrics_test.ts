import assert from "node:assert/strict";
import { createDaemonMetrics } from "../labmand/daemon_metrics.ts";
import { initialState, nextState } from "../lib/lifecycle/mod.ts";
import { mergeExposition, SupervisorRegistry } from "../lib/telemetry/mod.ts";

/** The exposition text of `registry`, as the admin server renders it. */
async function exposition(registry: SupervisorRegistry): Promise<string> {
  return await mergeExposition([await registry.getMetricsAsJSON()]);
}

Deno.test("daemon metrics: phase and tunnel state gauges, heartbeat failures and last-success age", async () => {
  const registry = new SupervisorRegistry();
  let now = 1000;
  const m = createDaemonMetrics(registry, () => now);
  const text = () => exposition(registry);
  assert.match(await text(), /^labman_control_last_heartbeat_success_age_seconds -1$/m);
  m.heartbeat(true);
  m.heartbeat(false);
  m.heartbeat(false);
  now = 3500;
  let s = initialState({ local: false, hasControlPlane: true, pq: false });
  s = nextState(nextState(nextState(s, { type: "registered" }), { type: "tunnel_up" }), {
    type: "dataplane_up",
  });
  s = nextState(s, { type: "tunnel_health", health: "failed_closed", detail: "x" });
  m.update(s);
  const out = await text();
  assert.match(out, /^labman_control_last_heartbeat_success_age_seconds 2\.5$/m);
  assert.match(out, /^labman_control_heartbeat_failures_total 2$/m);
  assert.match(out, /^labman_node_state\{state="serving"\} 1$/m);
  assert.match(out, /^labman_node_state\{state="error"\} 0$/m);
  assert.match(out, /^labman_tunnel_state\{state="failed_closed"\} 1$/m);
  assert.match(out, /^labman_tunnel_state\{state="up"\} 0$/m);
});

Deno.test("daemon metrics: the default clock works unbound (performance.now needs its receiver)", async () => {
  const registry = new SupervisorRegistry();
  const m = createDaemonMetrics(registry);
  m.heartbeat(true);
  assert.match(
    await exposition(registry),
    /^labman_control_last_heartbeat_success_age_seconds 0(\.\d+)?(e-\d+)?$/m,
  );
});
