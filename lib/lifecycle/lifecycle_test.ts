import assert from "node:assert/strict";
import fc from "fast-check";
import {
  accepting,
  EXIT,
  exitCode,
  heartbeatState,
  initialState,
  type LifecycleEvent,
  type LifecycleState,
  nextState,
  PHASES,
  readiness,
  statusText,
} from "./lifecycle.ts";

const run = (s: LifecycleState, events: LifecycleEvent[]) => events.reduce(nextState, s);
const tunnelMode = () => initialState({ local: false, hasControlPlane: true, pq: true });
const localMode = () => initialState({ local: true, hasControlPlane: true, pq: true });

const eventArb: fc.Arbitrary<LifecycleEvent> = fc.oneof(
  fc.record({ type: fc.constant("registering" as const), reason: fc.string({ maxLength: 8 }) }),
  fc.constant({ type: "registered" as const }),
  fc.constant({ type: "rejected" as const, message: "token rejected (401)" }),
  fc.constant({ type: "tunnel_up" as const }),
  fc.constant({ type: "pq_installed" as const }),
  fc.constant({ type: "dataplane_up" as const }),
  fc.record({
    type: fc.constant("desired" as const),
    state: fc.constantFrom("active" as const, "maintenance" as const, "draining" as const),
  }),
  fc.record({
    type: fc.constant("tunnel_health" as const),
    health: fc.constantFrom(
      "up" as const,
      "degraded" as const,
      "failed_closed" as const,
      "down" as const,
    ),
  }),
  fc.record({
    type: fc.constant("stop" as const),
    cause: fc.constantFrom("signal" as const, "fatal" as const, "rejected" as const),
  }),
  fc.constant({ type: "drained" as const }),
  fc.constant({ type: "final_heartbeat" as const }),
  fc.constant({ type: "down" as const }),
);

const startArb = fc.record({
  local: fc.boolean(),
  hasControlPlane: fc.boolean(),
  pq: fc.boolean(),
}).map(initialState);

Deno.test("lifecycle: no event sequence reaches an invalid state", () => {
  fc.assert(
    fc.property(startArb, fc.array(eventArb, { maxLength: 40 }), (start, events) => {
      let s = start;
      for (const e of events) {
        const prev = s;
        s = nextState(s, e);
        assert.ok(PHASES.includes(s.phase));
        // Serving needs everything it serves on.
        if (s.phase === "serving" || s.phase === "maintenance") {
          assert.ok(s.dataPlaneUp);
          if (!s.local) assert.ok(s.tunnelUp && (!s.pq || s.pqInstalled));
        }
        // A stop is final: nothing brings the node back to serving.
        if (prev.stopCause !== null) {
          assert.ok(["draining", "stopping", "stopped"].includes(s.phase), s.phase);
        }
        // Once stopped, stopped for good.
        if (prev.phase === "stopped") assert.equal(s, prev);
        // `active` is only ever claimed while serving over a working tunnel.
        if (heartbeatState(s) === "active") {
          assert.equal(s.phase, "serving");
          assert.ok(s.local || s.tunnel === "up");
        }
        // Ready and accepting only while serving; error is never ready.
        if (readiness(s).ready || accepting(s).accepting) assert.equal(s.phase, "serving");
        assert.ok(statusText(s).length > 0);
      }
    }),
    { numRuns: 2000 },
  );
});

Deno.test("lifecycle: every path to stopped passes stopping with a heartbeat attempt", () => {
  fc.assert(
    fc.property(startArb, fc.array(eventArb, { maxLength: 60 }), (start, events) => {
      let s = start;
      const phases = [s.phase];
      for (const e of events) {
        s = nextState(s, e);
        if (s.phase !== phases.at(-1)) phases.push(s.phase);
      }
      const i = phases.indexOf("stopped");
      if (i >= 0) {
        assert.equal(phases[i - 1], "stopping");
        assert.equal(phases[i - 2], "draining");
        assert.ok(s.finalHeartbeat);
        assert.notEqual(s.stopCause, null);
      }
    }),
    { numRuns: 2000 },
  );
});

Deno.test("lifecycle: the shutdown sequence always reaches stopped, from any phase", () => {
  fc.assert(
    fc.property(startArb, fc.array(eventArb, { maxLength: 30 }), (start, events) => {
      const s = run(run(start, events), [
        { type: "stop", cause: "signal" },
        { type: "drained" },
        { type: "final_heartbeat" },
        { type: "down" },
      ]);
      assert.equal(s.phase, "stopped");
    }),
  );
});

Deno.test("lifecycle: tunnel mode walks registering → tunnel_up → waiting_pq → serving", () => {
  let s = tunnelMode();
  assert.equal(s.phase, "starting");
  s = nextState(s, { type: "registering", reason: "control plane answered 503" });
  assert.equal(s.phase, "registering");
  assert.match(statusText(s), /503/);
  assert.equal(heartbeatState(s), "starting");
  s = nextState(s, { type: "registered" });
  assert.equal(s.phase, "registering");
  s = nextState(s, { type: "tunnel_up" });
  assert.equal(s.phase, "waiting_pq");
  s = nextState(s, { type: "dataplane_up" });
  assert.equal(s.phase, "waiting_pq", "READY waits for the post-quantum key");
  assert.equal(readiness(s).ready, false);
  s = nextState(s, { type: "pq_installed" });
  assert.equal(s.phase, "serving");
  assert.deepEqual(readiness(s), { ready: true, reason: "serving" });
  assert.equal(heartbeatState(s), "active");
  assert.deepEqual(accepting(s), { accepting: true });
});

Deno.test("lifecycle: local mode serves as soon as the data plane is up, before registering", () => {
  let s = nextState(localMode(), { type: "dataplane_up" });
  assert.equal(s.phase, "serving");
  assert.equal(readiness(s).ready, true);
  s = nextState(s, { type: "registering", reason: "connection refused" });
  assert.equal(s.phase, "serving", "a control-plane outage never blocks the data plane");
});

Deno.test("lifecycle: desired state switches serving ⇄ maintenance/draining", () => {
  let s = nextState(localMode(), { type: "dataplane_up" });
  s = nextState(s, { type: "desired", state: "maintenance" });
  assert.equal(s.phase, "maintenance");
  assert.equal(heartbeatState(s), "maintenance");
  assert.equal(readiness(s).ready, false);
  assert.match(accepting(s).reason!, /maintenance \(requested by the control plane\)/);
  s = nextState(s, { type: "desired", state: "draining" });
  assert.equal(heartbeatState(s), "draining");
  s = nextState(s, { type: "desired", state: "active" });
  assert.equal(s.phase, "serving");
});

Deno.test("lifecycle: a stop drains first and heartbeats say draining from its first moment", () => {
  let s = nextState(localMode(), { type: "dataplane_up" });
  s = nextState(s, { type: "stop", cause: "signal" });
  assert.equal(s.phase, "draining");
  assert.equal(heartbeatState(s), "draining");
  assert.equal(readiness(s).ready, false);
  assert.equal(accepting(s).reason, "node is shutting down");
  // The control plane asking for active again changes nothing now.
  assert.equal(nextState(s, { type: "desired", state: "active" }).phase, "draining");
  s = nextState(s, { type: "down" });
  assert.equal(s.phase, "draining", "no skipping the drain");
  s = nextState(s, { type: "drained" });
  assert.equal(s.phase, "stopping");
  assert.equal(heartbeatState(s), "stopping");
  assert.equal(nextState(s, { type: "down" }).phase, "stopping", "no stop without a heartbeat");
  s = run(s, [{ type: "final_heartbeat" }, { type: "down" }]);
  assert.equal(s.phase, "stopped");
  assert.equal(exitCode(s), EXIT.ok);
});

Deno.test("lifecycle: a rejected token is a state, visible everywhere; exit code 4 if it stops", () => {
  let s = run(tunnelMode(), [{ type: "registering" }, {
    type: "rejected",
    message: "node token rejected (401)",
  }]);
  assert.equal(s.phase, "error");
  assert.equal(heartbeatState(s), "error");
  assert.deepEqual(readiness(s), { ready: false, reason: "error: node token rejected (401)" });
  assert.equal(accepting(s).accepting, false);
  // Nothing but a stop leaves error.
  s = run(s, [{ type: "registered" }, { type: "tunnel_up" }, { type: "dataplane_up" }]);
  assert.equal(s.phase, "error");
  s = run(s, [{ type: "stop", cause: "signal" }, { type: "drained" }, { type: "final_heartbeat" }, {
    type: "down",
  }]);
  assert.equal(exitCode(s), EXIT.rejected);
});

Deno.test("lifecycle: a fatal stop exits 2, also when it interrupts a signal-driven stop", () => {
  const serving = run(localMode(), [{ type: "dataplane_up" }]);
  const fatal = run(serving, [{
    type: "stop",
    cause: "fatal",
    message: "wireguard-go keeps dying",
  }]);
  assert.equal(exitCode(fatal), EXIT.fatal);
  assert.match(statusText(fatal), /draining/);
  const both = run(serving, [{ type: "stop", cause: "signal" }, {
    type: "stop",
    cause: "fatal",
    message: "x",
  }]);
  assert.equal(exitCode(both), EXIT.fatal);
});

Deno.test("lifecycle: readiness follows live tunnel health, not a frozen sample", () => {
  let s = run(tunnelMode(), [
    { type: "registered" },
    { type: "tunnel_up" },
    { type: "pq_installed" },
    { type: "dataplane_up" },
  ]);
  assert.equal(readiness(s).ready, true);
  s = nextState(s, {
    type: "tunnel_health",
    health: "failed_closed",
    detail: "no post-quantum key for 180 s",
  });
  assert.equal(readiness(s).ready, false);
  assert.match(readiness(s).reason, /tunnel failed closed: no post-quantum key/);
  assert.equal(heartbeatState(s), "error");
  assert.match(statusText(s), /failed closed/);
  s = nextState(s, { type: "tunnel_health", health: "up" });
  assert.equal(readiness(s).ready, true);
  assert.equal(heartbeatState(s), "active");
});
