/**
 * The one fake {@linkcode Clock} for tests: a `@sinonjs/fake-timers` clock behind the production
 * interface. Drive it with `fake.tickAsync(ms)`; `fake.countTimers()` shows leaked timers.
 *
 * @module
 */
import FakeTimers from "@sinonjs/fake-timers";
import type { Clock } from "../../lib/timing/mod.ts";

export interface FakeClock {
  /** The fake-timers clock, for `tickAsync`, `runAllAsync` and `countTimers`. */
  fake: ReturnType<typeof FakeTimers.createClock>;
  /** The same time as a {@linkcode Clock}; `now()` and `wallNow()` read the same counter. */
  clock: Clock;
}

/** A fake clock starting at `startMs` (both the monotonic and the wall reading). */
export function fakeClock(startMs = 0): FakeClock {
  const fake = FakeTimers.createClock(startMs);
  const clock: Clock = {
    now: () => fake.now,
    wallNow: () => fake.now,
    setTimeout: (fn, ms) => fake.setTimeout(fn, ms),
    clearTimeout: (handle) => fake.clearTimeout(handle as FakeTimers.TimerId),
  };
  return { fake, clock };
}
