import assert from "node:assert/strict";
import { fakeClock } from "../../tests/helpers/fake_clock.ts";
import {
  decidePsk,
  type GuardEvent,
  type GuardPolicy,
  type GuardSnapshot,
  INITIAL_SNAPSHOT,
  PskGuard,
} from "./psk_guard.ts";

const policy: GuardPolicy = { keyLifetimeMs: 180_000, maxDownMs: 30_000 };
const active: GuardSnapshot = {
  state: "active",
  installedAtMs: 1_000,
  downSinceMs: null,
  downHandled: false,
};

Deno.test("guard decision table", () => {
  const rows: {
    name: string;
    from: GuardSnapshot;
    event: GuardEvent;
    now: number;
    state: string;
    random: string | null;
    reinit: boolean;
    next: number | null;
  }[] = [
    {
      name: "start installs random and waits",
      from: active,
      event: "start",
      now: 5,
      state: "waiting",
      random: "start",
      reinit: false,
      next: 180_005,
    },
    {
      name: "exchange activates, no random",
      from: { ...INITIAL_SNAPSHOT, installedAtMs: 0 },
      event: "exchanged",
      now: 10,
      state: "active",
      random: null,
      reinit: false,
      next: 180_010,
    },
    {
      name: "stale installs random",
      from: active,
      event: "stale",
      now: 2_000,
      state: "stale",
      random: "stale",
      reinit: false,
      next: 182_000,
    },
    {
      name: "tick before the deadline does nothing",
      from: active,
      event: "tick",
      now: 180_999,
      state: "active",
      random: null,
      reinit: false,
      next: 181_000,
    },
    {
      name: "tick at the deadline expires the key and re-initiates",
      from: active,
      event: "tick",
      now: 181_000,
      state: "stale",
      random: "expired",
      reinit: true,
      next: 361_000,
    },
    {
      name: "no first exchange within the lifetime stays waiting with a new random",
      from: { ...INITIAL_SNAPSHOT, installedAtMs: 0 },
      event: "tick",
      now: 180_000,
      state: "waiting",
      random: "expired",
      reinit: true,
      next: 360_000,
    },
    {
      name: "child exit arms the down deadline",
      from: active,
      event: "child_exit",
      now: 50_000,
      state: "active",
      random: null,
      reinit: false,
      next: 80_000,
    },
    {
      name: "down too long installs random once",
      from: { ...active, downSinceMs: 50_000 },
      event: "tick",
      now: 80_000,
      state: "stale",
      random: "down",
      reinit: false,
      next: 260_000,
    },
    {
      name: "down already handled: nothing until expiry",
      from: {
        ...active,
        state: "stale",
        installedAtMs: 80_000,
        downSinceMs: 50_000,
        downHandled: true,
      },
      event: "tick",
      now: 100_000,
      state: "stale",
      random: null,
      reinit: false,
      next: 260_000,
    },
    {
      name: "spawn clears the down clock",
      from: { ...active, downSinceMs: 50_000 },
      event: "child_spawn",
      now: 51_000,
      state: "active",
      random: null,
      reinit: false,
      next: 181_000,
    },
    {
      name: "exchange after stale reactivates",
      from: { ...active, state: "stale" },
      event: "exchanged",
      now: 200_000,
      state: "active",
      random: null,
      reinit: false,
      next: 380_000,
    },
  ];
  for (const r of rows) {
    const d = decidePsk(r.from, r.event, r.now, policy);
    assert.equal(d.next.state, r.state, r.name);
    assert.equal(d.installRandom, r.random, r.name);
    assert.equal(d.reinitiate, r.reinit, r.name);
    assert.equal(d.nextCheckAtMs, r.next, r.name);
  }
});

Deno.test("no PSK ever outlives the lifetime without an exchange (random walk)", () => {
  const events: GuardEvent[] = ["exchanged", "stale", "child_exit", "child_spawn", "tick"];
  let s = decidePsk(INITIAL_SNAPSHOT, "start", 0, policy).next;
  let now = 0;
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let i = 0; i < 5_000; i++) {
    const d0 = decidePsk(s, "tick", now, policy);
    // Jump no further than the next deadline, as the timer guarantees.
    const step = Math.floor(rnd() * 100_000);
    const nextNow = d0.nextCheckAtMs === null ? now + step : Math.min(now + step, d0.nextCheckAtMs);
    now = nextNow;
    const ev = events[Math.floor(rnd() * events.length)]!;
    s = decidePsk(s, ev, now, policy).next;
    s = decidePsk(s, "tick", now, policy).next;
    assert.ok(
      s.installedAtMs !== null && now - s.installedAtMs < policy.keyLifetimeMs,
      `step ${i}`,
    );
  }
});

Deno.test("PskGuard fires ticks at the deadline and stops cleanly", async () => {
  const { fake: clock, clock: guardClock } = fakeClock(0);
  const seen: string[] = [];
  const guard = new PskGuard({ keyLifetimeMs: 3_000, maxDownMs: 1_000 }, (d, e) => {
    if (d.installRandom) seen.push(`${e}:${d.installRandom}`);
  }, guardClock);
  guard.handle("start");
  await clock.tickAsync(2_999);
  assert.deepEqual(seen, ["start:start"]);
  await clock.tickAsync(1);
  assert.deepEqual(seen, ["start:start", "tick:expired"]);
  guard.handle("exchanged");
  await clock.tickAsync(1_000);
  guard.handle("child_exit");
  await clock.tickAsync(1_000);
  assert.deepEqual(seen.at(-1), "tick:down");
  guard.stop();
  assert.equal(clock.countTimers(), 0);
  assert.equal(guard.handle("stale"), null);
  assert.throws(() => new PskGuard({ keyLifetimeMs: 0, maxDownMs: 1 }, () => {}), RangeError);
});
