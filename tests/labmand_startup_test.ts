/**
 * labmand's start-up sequence, reload opening and session wiring with fakes (no root, no
 * processes): local mode serves before it registers; tunnel mode discovers, then registers
 * (with what it discovered), then brings the tunnel up and serves, and is ready only once the
 * first PSK is on the interface; a stop or a refused token halts start-up with nothing more
 * created; a SIGHUP during start-up is applied after it; a 401 mid-session is the `error` state.
 */
import assert from "node:assert/strict";
import { ControlSession, type RegisterResponse } from "../lib/control/mod.ts";
import { heartbeatStatus } from "../lib/control/_fixtures.ts";
import { accepting, heartbeatState, Lifecycle, readiness } from "../lib/lifecycle/mod.ts";
import { openReloadsWhenOperating, ReloadQueue } from "../labmand/signals.ts";
import { wireSession } from "../labmand/session_wiring.ts";
import { runStartup, type StartupDeps } from "../labmand/startup.ts";
import { FakeControlClient, quietLogger } from "./helpers/fake_control.ts";

interface Rig {
  lc: Lifecycle;
  order: string[];
  client: FakeControlClient;
  session: ControlSession;
  deps: StartupDeps;
  firstPsk: PromiseWithResolvers<void>;
}

function rig(local: boolean, discovered = { models: ["m1"], endpoint_count: 2 }): Rig {
  const lc = new Lifecycle({ local, hasControlPlane: true, pq: !local });
  const order: string[] = [];
  const client = new FakeControlClient();
  let capabilities = { models: [] as string[], endpoint_count: 0, max_concurrent_requests: 0 };
  const wiring = wireSession(lc, { onSlugs: () => {}, onHeartbeat: () => {} });
  const session = new ControlSession({
    client,
    node: { name: "n", labman_version: "0.0.0" },
    wireguardPublicKey: "k",
    statusProvider: () => heartbeatStatus({ state: heartbeatState(lc.state), capabilities }),
    retryInitialMs: 5,
    retryMaxMs: 10,
    logger: quietLogger(),
    ...wiring.callbacks,
  });
  const firstPsk = Promise.withResolvers<void>();
  const deps: StartupDeps = {
    lc,
    local,
    session: {
      start: () => {
        order.push(`session.start in ${lc.state.phase}`);
        session.start();
      },
    },
    registered: wiring.registered,
    controlPlaneUrl: "http://cp.test",
    discover: () => {
      order.push("discover");
      capabilities = { ...discovered, max_concurrent_requests: 4 };
      return Promise.resolve();
    },
    bringUpTunnel: (reg: RegisterResponse | null) => {
      order.push(`tunnel(${reg?.wireguard.address})`);
      return Promise.resolve({
        iface: "labman0",
        address: "10.90.0.7/32",
        firstPsk: firstPsk.promise,
      });
    },
    startServing: (address) => {
      order.push(`serve(${address}) in ${lc.state.phase}`);
      lc.dispatch({ type: "dataplane_up" });
      return Promise.resolve();
    },
    beatNow: () => void order.push("beatNow"),
  };
  return { lc, order, client, session, deps, firstPsk };
}

Deno.test("start-up, local mode: the proxy serves before registration starts", async () => {
  const r = rig(true);
  await runStartup(r.deps);
  assert.deepEqual(r.order, ["serve(null) in starting", "session.start in serving"]);
  assert.ok(readiness(r.lc.state).ready);
  await r.client.waitFor((c) => c.calls.length > 0, "registration");
  await r.session.stop({ deregister: false, timeoutMs: 100 });
});

Deno.test("start-up, tunnel mode: discover → register with real capabilities → tunnel → serve; READY waits for the first PSK", async () => {
  const r = rig(false);
  r.client.script.register = [503];
  await runStartup(r.deps);
  assert.deepEqual(r.order, [
    "discover",
    "session.start in registering",
    "tunnel(10.90.0.7/32)",
    "serve(10.90.0.7/32) in waiting_pq",
    "beatNow",
  ]);
  const regs = r.client.calls.filter((c) => c.op === "register");
  assert.equal(regs.length, 2, "the 503 was retried");
  for (const c of regs) {
    assert.deepEqual(c.op === "register" && c.body.capabilities, {
      models: ["m1"],
      endpoint_count: 2,
      max_concurrent_requests: 4,
    });
  }
  assert.equal(r.lc.state.phase, "waiting_pq");
  assert.equal(readiness(r.lc.state).ready, false, "not ready before the first PSK");
  r.firstPsk.resolve();
  await r.lc.until((s) => s.phase === "serving");
  assert.ok(readiness(r.lc.state).ready);
  await r.session.stop({ deregister: false, timeoutMs: 100 });
});

Deno.test("start-up, tunnel mode: a registration retry's reason is the status; a stop meanwhile creates nothing", async () => {
  const r = rig(false);
  r.client.script.register = Array(1000).fill(503);
  const done = runStartup(r.deps);
  await r.lc.until((s) => /next attempt in/.test(s.note ?? ""));
  assert.equal(r.lc.state.phase, "registering");
  r.lc.dispatch({ type: "stop", cause: "signal" });
  await done;
  assert.deepEqual(r.order, ["discover", "session.start in registering"]);
  await r.session.stop({ deregister: false, timeoutMs: 100 });
});

Deno.test("start-up, tunnel mode: a refused token is the error state, no tunnel; a stop during discovery skips registration", async () => {
  const r = rig(false);
  r.client.script.register = [401];
  await runStartup(r.deps);
  assert.equal(r.lc.state.phase, "error");
  assert.equal(readiness(r.lc.state).ready, false);
  assert.deepEqual(r.order, ["discover", "session.start in registering"]);
  await r.session.stop({ deregister: false, timeoutMs: 100 });

  const s = rig(false);
  s.deps.discover = () => {
    s.lc.dispatch({ type: "stop", cause: "signal" });
    return Promise.resolve();
  };
  await runStartup(s.deps);
  assert.deepEqual(s.order, []);
  assert.equal(s.client.calls.length, 0);
});

Deno.test("session wiring: a 401 on a heartbeat mid-session puts the node in error (not ready, refuses requests)", async () => {
  const r = rig(true);
  await runStartup(r.deps);
  await r.lc.until((s) => s.registered);
  r.client.script.heartbeat = [401];
  r.session.beatNow();
  await r.lc.until((s) => s.phase === "error");
  assert.equal(readiness(r.lc.state).ready, false);
  assert.equal(heartbeatState(r.lc.state), "error");
  assert.equal(accepting(r.lc.state).accepting, false);
  await r.session.stop({ deregister: false, timeoutMs: 100 });
});

Deno.test("reloads: a SIGHUP during start-up runs once the node serves; overlapping ones run one after another", async () => {
  const r = rig(false);
  let running = 0, maxRunning = 0, runs = 0;
  const gate = Promise.withResolvers<void>();
  const queue = new ReloadQueue(async () => {
    runs++;
    maxRunning = Math.max(maxRunning, ++running);
    await gate.promise;
    running--;
  });
  openReloadsWhenOperating(r.lc, queue);
  queue.request(); // SIGHUP before READY
  await runStartup(r.deps);
  assert.equal(runs, 0, "not applied while waiting for the first PSK");
  r.firstPsk.resolve();
  await r.lc.until((s) => s.phase === "serving");
  await Promise.resolve();
  assert.equal(runs, 1, "applied once serving");
  queue.request();
  queue.request();
  gate.resolve();
  await queue.idle();
  assert.equal(runs, 2, "the two requested during the first run coalesce into one");
  assert.equal(maxRunning, 1);
  await r.session.stop({ deregister: false, timeoutMs: 100 });
});

Deno.test("reloads: a SIGHUP before a stop during start-up never runs", async () => {
  const lc = new Lifecycle({ local: false, hasControlPlane: true, pq: true });
  let runs = 0;
  const queue = new ReloadQueue(() => (runs++, Promise.resolve()));
  openReloadsWhenOperating(lc, queue);
  queue.request();
  lc.dispatch({ type: "stop", cause: "signal" });
  await queue.close();
  assert.equal(runs, 0);
});
