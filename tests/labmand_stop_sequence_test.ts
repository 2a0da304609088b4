/**
 * labmand's stop sequence with fakes (no root, no processes): the order the issue demands —
 * drain (heartbeat `draining` at once) → grace → `stopping` heartbeat → DELETE retried →
 * Rosenpass/labman0 down → stopped — and the bound on each step, so a hung collaborator can
 * never push the stop past the unit's TimeoutStopSec.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { ControlSession } from "../lib/control/mod.ts";
import { heartbeatStatus } from "../lib/control/_fixtures.ts";
import { heartbeatState, Lifecycle } from "../lib/lifecycle/mod.ts";
import { Publisher } from "../labmand/publisher.ts";
import { wireSession } from "../labmand/session_wiring.ts";
import {
  RELAY_STOP_MS,
  runStopSequence,
  SHUTDOWN_MARGIN_MS,
  STOP_CONTROL_MS,
  type StopClock,
  TEARDOWN_MS,
} from "../labmand/stop_sequence.ts";
import { FakeControlClient, quietLogger } from "./helpers/fake_control.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

function servingLifecycle(): Lifecycle {
  const lc = new Lifecycle({ local: true, hasControlPlane: true, pq: false });
  lc.dispatch({ type: "dataplane_up" });
  assert.equal(lc.state.phase, "serving");
  return lc;
}

Deno.test("stop sequence: draining heartbeat during the grace, then stopping, DELETE retried past two 500s, then the tunnel goes down", async () => {
  const lc = servingLifecycle();
  const client = new FakeControlClient();
  client.script.deregister = [500, 503, "ok"];
  const log = quietLogger();
  const wiring = wireSession(lc, { onSlugs: () => {}, onHeartbeat: () => {} });
  const session = new ControlSession({
    client,
    node: { name: "n", labman_version: "0.0.0" },
    wireguardPublicKey: "k",
    statusProvider: () => heartbeatStatus({ state: heartbeatState(lc.state) }),
    retryInitialMs: 5,
    retryMaxMs: 20,
    logger: log,
    ...wiring.callbacks,
  });
  const order: string[] = [];
  const notified: Record<string, string>[] = [];
  let accepting: boolean | null = null;
  const dataPlane = {
    setAccepting(a: boolean) {
      accepting = a;
      return Promise.resolve();
    },
    async shutdown(graceMs: number) {
      order.push(`dataplane.shutdown(${graceMs}) in ${lc.state.phase}`);
      // The control plane hears `draining` while requests are still finishing.
      await client.waitFor((c) => c.trace().includes("heartbeat:draining"), "draining beat");
      assert.equal(accepting, false, "new requests refused from the first moment of the drain");
    },
  };
  lc.subscribe(
    new Publisher({
      notify: (f) => void notified.push(f),
      dataPlane: () => dataPlane,
      proxyUrl: () => "http://127.0.0.1:1/v1",
      beatNow: () => session.beatNow(),
      onReady: () => {},
    }).listener,
  );
  session.start();
  await wiring.registered;

  await runStopSequence({
    lc,
    reloads: { close: () => (order.push("reloads.close"), Promise.resolve()) },
    stopWatching: () => void order.push("stopWatching"),
    relay: { stop: () => (order.push(`relay.stop in ${lc.state.phase}`), Promise.resolve()) },
    stopRefreshing: () => void order.push("stopRefreshing"),
    dataPlane,
    graceMs: 3_000,
    session: {
      stop: async (o) => {
        order.push(`session.stop in ${lc.state.phase}`);
        await session.stop(o);
      },
    },
    tunnel: {
      down: () => {
        order.push(`tunnel.down after ${client.trace().slice(-1)[0]}`);
        return Promise.resolve();
      },
    },
    admin: { shutdown: () => (order.push("admin.shutdown"), Promise.resolve()) },
  });

  assert.deepEqual(order, [
    "reloads.close",
    "stopWatching",
    "relay.stop in draining",
    "dataplane.shutdown(3000) in draining",
    "stopRefreshing",
    "session.stop in stopping",
    "tunnel.down after deregister",
    "admin.shutdown",
  ]);
  assert.deepEqual(client.trace(), [
    "register",
    "heartbeat:draining",
    "heartbeat:stopping",
    "deregister",
    "deregister",
    "deregister",
  ]);
  assert.ok(log.lines.some((l) => /deregistered node/.test(l)), log.lines.join("\n"));
  assert.equal(lc.state.phase, "stopped");
  assert.ok(notified.some((f) => f.STOPPING === "1"));
});

Deno.test("stop sequence: hung collaborators are each cut off at their bound; the total fits TimeoutStopSec", async () => {
  const lc = servingLifecycle();
  const bounds: number[] = [];
  // A fake clock whose timers fire at once: every step that does not finish by itself is late.
  const clock: StopClock = {
    after(ms) {
      bounds.push(ms);
      return { done: Promise.resolve(), cancel: () => {} };
    },
  };
  const never = () => new Promise<void>(() => {});
  const reached: string[] = [];
  await runStopSequence({
    lc,
    reloads: { close: never },
    stopWatching: () => {},
    stopRefreshing: () => {},
    // A relay whose last report never goes out…
    relay: { stop: () => (reached.push("relay"), never()) },
    // …a stream that never ends, a Worker that never answers…
    dataPlane: { shutdown: () => (reached.push("dataplane"), never()) },
    graceMs: 30_000,
    // …a control plane that never answers…
    session: { stop: () => (reached.push("session"), never()) },
    // …and an interface removal that hangs: the stop still ends.
    tunnel: { down: () => (reached.push("tunnel"), never()) },
    admin: { shutdown: () => (reached.push("admin"), never()) },
    clock,
  });
  assert.equal(lc.state.phase, "stopped");
  assert.deepEqual(reached, ["relay", "dataplane", "session", "tunnel", "admin"]);
  const grace = 30_000;
  assert.deepEqual(bounds, [
    grace + SHUTDOWN_MARGIN_MS,
    RELAY_STOP_MS,
    grace + SHUTDOWN_MARGIN_MS,
    STOP_CONTROL_MS,
    TEARDOWN_MS,
  ]);
  // The reload bound overlaps the drain's (a reload is a hand-over within the same grace), so
  // the worst case is the drain, the control plane and the teardown back to back.
  const unit = await Deno.readTextFile(`${ROOT}systemd/labmand.service`);
  const timeoutS = Number(unit.match(/^TimeoutStopSec=(\d+)$/m)?.[1]);
  const worst = RELAY_STOP_MS + grace + SHUTDOWN_MARGIN_MS + STOP_CONTROL_MS + TEARDOWN_MS;
  assert.ok(timeoutS * 1000 > worst, `TimeoutStopSec=${timeoutS} s < ${worst} ms`);
});

Deno.test("stop sequence: a failing step is logged and the next one still runs", async () => {
  const lc = servingLifecycle();
  const reached: string[] = [];
  await runStopSequence({
    lc,
    reloads: { close: () => Promise.resolve() },
    stopWatching: () => {},
    stopRefreshing: () => {},
    relay: null,
    dataPlane: { shutdown: () => (reached.push("dataplane"), Promise.reject(new Error("gone"))) },
    graceMs: 10,
    session: { stop: () => (reached.push("session"), Promise.reject(new Error("boom"))) },
    tunnel: { down: () => (reached.push("tunnel"), Promise.reject(new Error("busy"))) },
    admin: null,
  });
  assert.deepEqual(reached, ["dataplane", "session", "tunnel"]);
  assert.equal(lc.state.phase, "stopped");
});
