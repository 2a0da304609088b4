import assert from "node:assert/strict";
import {
  assessTunnel,
  type HealthTrack,
  initialTrack,
  stallMsFor,
  type TunnelSample,
} from "./tunnel_health.ts";

const sample = (atMs: number, rx: number, extra: Partial<TunnelSample> = {}): TunnelSample => ({
  atMs,
  backendFailure: null,
  readError: null,
  peer: { rxBytes: rx, txBytes: atMs, lastHandshakeAgeS: 1 },
  pq: "active",
  ...extra,
});

Deno.test("tunnel health: bytes coming back mean up", () => {
  const v = assessTunnel(initialTrack(0), sample(1000, 10), { stallMs: 5000 });
  assert.equal(v.health, "up");
  assert.equal(v.reinitiate, false);
});

Deno.test("tunnel health: a dead backend or a missing interface is down, never a frozen sample", () => {
  const track = initialTrack(0);
  const dead = assessTunnel(
    track,
    sample(1000, 10, { backendFailure: "Cannot keep labman0 up: wireguard-go exited 6 times" }),
    { stallMs: 5000 },
  );
  assert.equal(dead.health, "down");
  assert.match(dead.detail!, /wireguard-go exited/);
  const gone = assessTunnel(track, sample(1000, 0, { readError: "no such device", peer: null }), {
    stallMs: 5000,
  });
  assert.equal(gone.health, "down");
  assert.match(gone.detail!, /no such device/);
});

Deno.test("tunnel health: a random PSK after expiry is failed closed", () => {
  const v = assessTunnel(initialTrack(0), sample(1000, 10, { pq: "stale" }), { stallMs: 5000 });
  assert.equal(v.health, "failed_closed");
  assert.match(v.detail!, /random PSK/);
});

Deno.test("tunnel health: silence is probed with a handshake; unanswered, it is degraded and re-probed with backoff", () => {
  const policy = { stallMs: 5000 };
  let track: HealthTrack = initialTrack(0);
  const reinits: number[] = [];
  for (let t = 0; t <= 60_000; t += 1000) {
    const v = assessTunnel(track, sample(t, 100), policy);
    track = v.track;
    if (v.reinitiate) reinits.push(t);
    // Up while quiet, and while the first probe may still be answered (3 s).
    if (t < 8000) assert.equal(v.health, "up", `at ${t}`);
    else {
      assert.equal(v.health, "degraded", `at ${t}`);
      assert.match(v.detail!, /nothing received from the control plane for \d+ s/);
    }
  }
  // First probe at 5 s, then 5, 10, 20 s apart (capped at 8× the interval).
  assert.deepEqual(reinits, [5000, 10000, 20000, 40000]);
  // The handshake answer moves rx: up again, and the backoff resets.
  const back = assessTunnel(track, sample(61_000, 400), policy);
  assert.equal(back.health, "up");
  assert.equal(back.track.reinits, 0);
});

Deno.test("tunnel health: counters reset by our own probe (peer re-added) are not traffic", () => {
  const policy = { stallMs: 5000 };
  let track: HealthTrack = initialTrack(0);
  let rx = 5000;
  const health: string[] = [];
  for (let t = 0; t <= 12_000; t += 1000) {
    const v = assessTunnel(track, sample(t, rx), policy);
    track = v.track;
    health.push(v.health);
    if (v.reinitiate) rx = 0; // remove + re-add zeroes the peer's counters
  }
  assert.equal(health.at(-1), "degraded");
});

Deno.test("tunnel health: an idle but healthy tunnel answers the probe and never looks degraded", () => {
  const policy = { stallMs: 5000 };
  let track: HealthTrack = initialTrack(0);
  let rx = 100;
  let probes = 0;
  for (let t = 0; t <= 120_000; t += 1000) {
    const v = assessTunnel(track, sample(t, rx), policy);
    track = v.track;
    assert.equal(v.health, "up", `at ${t}`);
    if (v.reinitiate) {
      probes++;
      rx += 92; // the handshake response
    }
  }
  assert.ok(probes >= 10 && probes <= 24, `${probes} probes in 2 minutes`);
});

Deno.test("tunnel health: stall threshold follows the keepalive interval", () => {
  assert.equal(stallMsFor(25), 27_000);
  assert.equal(stallMsFor(5), 7_000);
  assert.equal(stallMsFor(1), 5_000);
  assert.equal(stallMsFor(0), Infinity);
});
