/**
 * What labmand tells systemd and the data plane is derived from the lifecycle by the publisher
 * (fakes, no processes): READY=1 once and only when start-up is over, STOPPING=1 with an
 * immediate heartbeat at the first moment of a stop, STATUS= on every change of what it says,
 * and the accepting flag pushed only when it changes (again for a new data plane).
 */
import assert from "node:assert/strict";
import { Lifecycle } from "../lib/lifecycle/mod.ts";
import { Publisher } from "../labmand/publisher.ts";

/** Lets the fake data plane's replies and the notifications queued behind them run. */
const settle = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

function rig(local: boolean) {
  const lc = new Lifecycle({ local, hasControlPlane: true, pq: !local });
  const notified: Record<string, string>[] = [];
  const flags: boolean[] = [];
  let beats = 0, readies = 0;
  let dp: { setAccepting(a: boolean): Promise<void> } | null = null;
  const publisher = new Publisher({
    notify: (f) => void notified.push(f),
    dataPlane: () => dp,
    proxyUrl: () => dp ? "http://10.90.0.7:8000/v1" : null,
    beatNow: () => void beats++,
    onReady: () => void readies++,
  });
  lc.subscribe(publisher.listener);
  return {
    lc,
    publisher,
    notified,
    flags,
    beats: () => beats,
    readies: () => readies,
    attach() {
      dp = {
        setAccepting: (a) => {
          flags.push(a);
          return Promise.resolve();
        },
      };
    },
  };
}

Deno.test("publisher: READY=1 only after the first PSK, once; STOPPING=1 with an immediate draining beat", async () => {
  const r = rig(false);
  r.lc.dispatch({ type: "registering", reason: "contacting http://cp" });
  r.lc.dispatch({ type: "registered" });
  r.lc.dispatch({ type: "tunnel_up" });
  r.attach();
  r.lc.dispatch({ type: "dataplane_up" });
  assert.ok(!r.notified.some((f) => f.READY), "not ready before the PSK");
  assert.ok(r.notified.some((f) => /^registering/.test(f.STATUS ?? "")));
  r.lc.dispatch({ type: "pq_installed" });
  await settle();
  assert.equal(r.notified.filter((f) => f.READY === "1").length, 1);
  assert.equal(r.readies(), 1);
  assert.match(r.notified.find((f) => f.READY)!.STATUS!, /10\.90\.0\.7:8000/);
  r.lc.dispatch({ type: "desired", state: "maintenance" });
  r.lc.dispatch({ type: "desired", state: "active" });
  assert.equal(r.notified.filter((f) => f.READY === "1").length, 1, "READY=1 is sent once");
  assert.equal(r.beats(), 0);
  r.lc.dispatch({ type: "stop", cause: "signal" });
  assert.equal(r.beats(), 1, "the drain is heard at once");
  await settle();
  assert.equal(r.notified.filter((f) => f.STOPPING === "1").length, 1);
  r.lc.dispatch({ type: "drained" });
  assert.equal(r.beats(), 1);
  await Promise.resolve();
  assert.deepEqual(r.flags, [false, true, false, true, false]);
});

Deno.test("publisher: a refused token ends start-up (READY=1 so systemd does not time out) without onReady", () => {
  const r = rig(false);
  r.lc.dispatch({ type: "registering" });
  r.lc.dispatch({ type: "rejected", message: "401 unauthorized" });
  assert.equal(r.lc.state.phase, "error");
  assert.equal(r.notified.filter((f) => f.READY === "1").length, 1);
  assert.equal(r.readies(), 0);
  assert.match(r.notified.at(-1)!.STATUS!, /401 unauthorized/);
});

Deno.test("publisher: a stop before start-up ends sends STOPPING=1, never READY=1", () => {
  const r = rig(true);
  r.lc.dispatch({ type: "stop", cause: "signal" });
  r.attach();
  r.lc.dispatch({ type: "dataplane_up" });
  assert.ok(r.notified.some((f) => f.STOPPING === "1"));
  assert.ok(!r.notified.some((f) => f.READY));
});

Deno.test("publisher: a new data plane is told the accepting flag afresh", async () => {
  const r = rig(true);
  r.attach();
  r.lc.dispatch({ type: "dataplane_up" });
  await Promise.resolve();
  await r.publisher.applyAccepting(r.lc.state);
  assert.deepEqual(r.flags, [true], "unchanged: not sent again");
  await r.publisher.applyAccepting(r.lc.state, true);
  assert.deepEqual(r.flags, [true, true]);
});

Deno.test("publisher: READY=1 and onReady wait until the data plane accepts; later updates stay in order", async () => {
  const lc = new Lifecycle({ local: true, hasControlPlane: true, pq: false });
  const sent: Record<string, string>[] = [];
  let readies = 0;
  let release!: () => void;
  const told = new Promise<void>((resolve) => release = resolve);
  const flags: boolean[] = [];
  const publisher = new Publisher({
    notify: (f) => void sent.push(f),
    dataPlane: () => ({
      setAccepting: (a: boolean) => {
        flags.push(a);
        return told;
      },
    }),
    proxyUrl: () => "http://127.0.0.1:8000/v1",
    beatNow: () => {},
    onReady: () => void readies++,
  });
  lc.subscribe(publisher.listener);
  lc.dispatch({ type: "dataplane_up" });
  assert.deepEqual(flags, [true], "the Worker is told to accept at once");
  lc.dispatch({ type: "desired", state: "maintenance" });
  await settle();
  assert.ok(!sent.some((f) => f.READY), "READY=1 is held while the Worker has not accepted");
  assert.equal(readies, 0, "so is the ready line");
  release();
  await settle();
  assert.equal(readies, 1);
  const readyAt = sent.findIndex((f) => f.READY === "1");
  assert.ok(readyAt >= 0);
  assert.match(sent.at(-1)!.STATUS ?? "", /maintenance/, "the newer STATUS= comes last");
  assert.ok(readyAt < sent.length - 1);
});
