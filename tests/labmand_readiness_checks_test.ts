/** `/readyz` from the lifecycle and live snapshots (pure): ready only when the lifecycle says so. */
import assert from "node:assert/strict";
import { Lifecycle } from "../lib/lifecycle/mod.ts";
import { readinessChecks } from "../labmand/readiness_checks.ts";

const dp = {
  endpoints: [
    { name: "a", healthy: true, models: ["m"], in_flight: 0, max_concurrent: null },
    { name: "b", healthy: false, models: [], in_flight: 0, max_concurrent: null },
  ],
  requests: { total: 0, errors: 0, in_flight: 0, queue_depth: 0 },
  capabilities: { models: ["m"], endpoint_count: 2, max_concurrent_requests: null },
};
const tunnel = { iface: "labman0", address: "10.90.0.7/32", backend: "userspace", pq: "active" };

function serving(): Lifecycle {
  const lc = new Lifecycle({ local: false, hasControlPlane: true, pq: true });
  for (const type of ["registered", "tunnel_up", "dataplane_up", "pq_installed"] as const) {
    lc.dispatch({ type });
  }
  return lc;
}

Deno.test("readyz: serving with a live tunnel is ready and says what each part looks like", () => {
  const lc = serving();
  lc.dispatch({ type: "tunnel_health", health: "up" });
  const r = readinessChecks({
    state: lc.state,
    dataPlane: dp,
    proxyUrl: "http://10.90.0.7:8000/v1",
    tunnel,
    session: { state: "registered", error: null },
  });
  assert.equal(r.ready, true);
  assert.deepEqual(r.checks, {
    state: "serving",
    proxy: "listening on http://10.90.0.7:8000/v1",
    endpoints: "1/2 healthy",
    wireguard: "labman0 10.90.0.7/32 (userspace): up",
    pq: "active",
    control_plane: "registered",
  });
});

Deno.test("readyz: a failed-closed tunnel or a refused token is not ready, and says why", () => {
  const lc = serving();
  lc.dispatch({ type: "tunnel_health", health: "failed_closed", detail: "no fresh key" });
  const r = readinessChecks({
    state: lc.state,
    dataPlane: null,
    proxyUrl: null,
    tunnel: { ...tunnel, pq: "stale" },
    session: null,
  });
  assert.equal(r.ready, false);
  assert.match(r.checks.state, /no fresh key/);
  assert.match(r.checks.wireguard, /failed closed$/);

  lc.dispatch({ type: "rejected", message: "401 unauthorized" });
  const e = readinessChecks({
    state: lc.state,
    dataPlane: null,
    proxyUrl: null,
    tunnel: null,
    session: { state: "error", error: "401 unauthorized" },
  });
  assert.equal(e.ready, false);
  assert.match(e.checks.state, /^error/);
  assert.equal(e.checks.control_plane, "error: 401 unauthorized");
});
