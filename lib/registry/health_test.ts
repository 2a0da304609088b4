import assert from "node:assert/strict";
import {
  type HealthEvent,
  type HealthPolicy,
  type HealthState,
  type HealthStatus,
  INITIAL_HEALTH,
  nextCheckDelayMs,
  nextHealth,
} from "./health.ts";

const policy: HealthPolicy = {
  interval_s: 10,
  jitter: 0,
  unhealthy_after: 3,
  healthy_after: 2,
  backoff_max_s: 60,
  random: () => 0.5,
};

/** Runs a sequence of events from the initial state; returns (status, transition?, delay) per step. */
function run(events: string, p: HealthPolicy = policy) {
  let state: HealthState = INITIAL_HEALTH;
  return [...events].map((c) => {
    const step = nextHealth(state, (c === "s" ? "success" : "failure") as HealthEvent, p);
    state = step.state;
    return [
      state.status,
      step.transition ? `${step.transition.from}>${step.transition.to}` : "",
      step.delayMs,
    ];
  });
}

Deno.test("nextHealth: transitions (table)", () => {
  const table: [string, string, [HealthStatus, string][]][] = [
    ["unknown → healthy on the first success", "s", [["healthy", "unknown>healthy"]]],
    ["unknown stays unknown below the threshold", "ff", [["unknown", ""], ["unknown", ""]]],
    ["unknown → unhealthy after unhealthy_after failures", "fff", [
      ["unknown", ""],
      ["unknown", ""],
      ["unhealthy", "unknown>unhealthy"],
    ]],
    ["healthy tolerates fewer than unhealthy_after failures", "sffsff", [
      ["healthy", "unknown>healthy"],
      ["healthy", ""],
      ["healthy", ""],
      ["healthy", ""],
      ["healthy", ""],
      ["healthy", ""],
    ]],
    ["healthy → unhealthy after unhealthy_after consecutive failures", "sfff", [
      ["healthy", "unknown>healthy"],
      ["healthy", ""],
      ["healthy", ""],
      ["unhealthy", "healthy>unhealthy"],
    ]],
    ["unhealthy → healthy only after healthy_after consecutive successes", "fffsfss", [
      ["unknown", ""],
      ["unknown", ""],
      ["unhealthy", "unknown>unhealthy"],
      ["unhealthy", ""],
      ["unhealthy", ""],
      ["unhealthy", ""],
      ["healthy", "unhealthy>healthy"],
    ]],
  ];
  for (const [name, events, want] of table) {
    assert.deepEqual(run(events).map(([s, t]) => [s, t]), want, name);
  }
});

Deno.test("nextHealth: delay is the interval while up, doubles while down, capped", () => {
  // interval 10 s, cap 60 s; unhealthy at the 3rd failure.
  const delays = run("fffffffsss").map(([, , d]) => d);
  assert.deepEqual(delays, [
    10_000, // unknown
    10_000, // unknown
    10_000, // just went down: k=0
    20_000,
    40_000,
    60_000, // capped (80 s)
    60_000,
    10_000, // a success while down: confirm recovery quickly
    10_000, // healthy again
    10_000,
  ]);
});

Deno.test("nextHealth: jitter from the injected random() stays within -jitter and under the cap", () => {
  const base = { ...policy, jitter: 0.2 };
  const up: HealthState = { status: "healthy", consecutiveFailures: 0, consecutiveSuccesses: 1 };
  // The shared backoff formula: uniform in [interval·(1 − jitter), interval], never later.
  assert.equal(nextCheckDelayMs(up, { ...base, random: () => 0 }), 8_000);
  assert.equal(nextCheckDelayMs(up, { ...base, random: () => 0.5 }), 9_000);
  assert.equal(nextCheckDelayMs(up, { ...base, random: () => 0.999999 }), 10_000);
  const deepDown: HealthState = {
    status: "unhealthy",
    consecutiveFailures: 50,
    consecutiveSuccesses: 0,
  };
  assert.equal(nextCheckDelayMs(deepDown, { ...base, random: () => 0.999999 }), 60_000);
  assert.equal(nextCheckDelayMs(deepDown, { ...base, random: () => 0 }), 48_000);
  // No overflow to Infinity for very long outages.
  const forever: HealthState = {
    status: "unhealthy",
    consecutiveFailures: 10_000,
    consecutiveSuccesses: 0,
  };
  assert.equal(nextCheckDelayMs(forever, base), 54_000); // random 0.5: 60 s · (1 − 0.2 · 0.5)
});

Deno.test("nextHealth: does not mutate its input", () => {
  const s: HealthState = { status: "healthy", consecutiveFailures: 2, consecutiveSuccesses: 0 };
  const copy = { ...s };
  nextHealth(s, "failure", policy);
  assert.deepEqual(s, copy);
});
