/**
 * The tunnel watcher with a fake tunnel and a fake clock (no root): live samples drive the
 * lifecycle (readiness follows the tunnel, never a frozen read), a silent peer gets a
 * re-initiated handshake only while the node serves, and a backend that cannot be kept up
 * stops the daemon with the fatal exit code instead of leaving a zombie that looks ready.
 */
import assert from "node:assert/strict";
import { EXIT, exitCode, Lifecycle, readiness, type TunnelSample } from "../lib/lifecycle/mod.ts";
import { TunnelWatch } from "../labmand/tunnel_watch.ts";

function rig(serving = true) {
  let now = 0;
  const lc = new Lifecycle({ local: false, hasControlPlane: true, pq: true });
  for (const type of ["registered", "tunnel_up", "dataplane_up"] as const) lc.dispatch({ type });
  if (serving) lc.dispatch({ type: "pq_installed" });
  assert.equal(lc.state.phase, serving ? "serving" : "waiting_pq");
  let sample: Omit<TunnelSample, "atMs"> = {
    backendFailure: null,
    readError: null,
    peer: { rxBytes: 100, txBytes: 100, lastHandshakeAgeS: 1 },
    pq: "active",
  };
  let reinits = 0;
  const statuses: unknown[] = [];
  const watch = new TunnelWatch({
    lc,
    tunnel: {
      iface: "labman0",
      keepaliveS: 5,
      sample: () => Promise.resolve({ sample: { ...sample, atMs: now }, status: null }),
      reinitiate: () => (reinits++, Promise.resolve()),
    },
    onStatus: (s) => void statuses.push(s),
    now: () => now,
    everyMs: 0,
  });
  return {
    lc,
    watch,
    statuses,
    reinits: () => reinits,
    set: (s: Partial<typeof sample>) => sample = { ...sample, ...s },
    rx: (n: number) => sample = { ...sample, peer: { ...sample.peer!, rxBytes: n } },
    advance: (ms: number) => now += ms,
  };
}

Deno.test("tunnel watch: a silent peer is probed at once, then reported degraded (not ready); traffic back heals it", async () => {
  const r = rig();
  await r.watch.tick();
  assert.equal(r.lc.state.tunnel, "up");
  assert.equal(r.statuses.length, 1, "every read is handed on");
  r.advance(7_500); // past the 7 s stall threshold for a 5 s keepalive, nothing received
  await r.watch.tick();
  assert.equal(r.reinits(), 1, "first probe");
  assert.equal(r.lc.state.tunnel, "up", "the probe decides; nothing reported yet");
  r.advance(4_000);
  await r.watch.tick();
  assert.equal(r.lc.state.tunnel, "degraded");
  assert.equal(readiness(r.lc.state).ready, false);
  r.rx(500);
  r.advance(1_000);
  await r.watch.tick();
  assert.equal(r.lc.state.tunnel, "up");
  assert.ok(readiness(r.lc.state).ready);
});

Deno.test("tunnel watch: no re-initiation before start-up is over (first PSK pending)", async () => {
  const r = rig(false);
  await r.watch.tick();
  r.advance(7_500);
  await r.watch.tick();
  assert.equal(r.reinits(), 0);
  // In maintenance the tunnel must stay usable: a silent peer is probed there too.
  r.lc.dispatch({ type: "pq_installed" });
  r.lc.dispatch({ type: "desired", state: "maintenance" });
  r.advance(8_000);
  await r.watch.tick();
  assert.equal(r.reinits(), 1);
});

Deno.test("tunnel watch: a stale PSK is failed closed; a dead backend stops the daemon with the fatal exit code", async () => {
  const r = rig();
  r.set({ pq: "stale" });
  await r.watch.tick();
  assert.equal(r.lc.state.tunnel, "failed_closed");
  assert.equal(readiness(r.lc.state).ready, false);
  r.set({ pq: "active", backendFailure: "Cannot keep wireguard-go up: 6 exits within 60 s" });
  await r.watch.tick();
  assert.equal(r.lc.state.tunnel, "down");
  assert.equal(r.lc.state.stopCause, "fatal");
  // Nothing more is sampled once the stop began.
  const before = r.statuses.length;
  await r.watch.tick();
  assert.equal(r.statuses.length, before);
  for (const type of ["drained", "final_heartbeat", "down"] as const) r.lc.dispatch({ type });
  assert.equal(exitCode(r.lc.state), EXIT.fatal);
});

Deno.test("tunnel watch: the default clock and timer work (as labmand constructs it)", async () => {
  const lc = new Lifecycle({ local: false, hasControlPlane: true, pq: false });
  lc.dispatch({ type: "tunnel_up" });
  const sampled = Promise.withResolvers<void>();
  const watch = new TunnelWatch({
    lc,
    tunnel: {
      iface: "labman0",
      keepaliveS: 25,
      sample: () => {
        sampled.resolve();
        return Promise.resolve({
          sample: {
            atMs: performance.now(),
            backendFailure: null,
            readError: null,
            peer: { rxBytes: 1, txBytes: 1, lastHandshakeAgeS: 1 },
            pq: "disabled",
          },
          status: null,
        });
      },
      reinitiate: () => Promise.resolve(),
    },
    onStatus: () => {},
    everyMs: 20,
  });
  await sampled.promise;
  watch.stop();
  await watch.tick();
  assert.equal(lc.state.tunnel, "up");
});
