import assert from "node:assert/strict";
import fc from "fast-check";
import { abortableSleep, backoffDelayMs, retryDelayMs } from "./mod.ts";

Deno.test("backoff grows exponentially, stays within [cap/2, cap] and caps at maxMs", () => {
  const lo = { initialMs: 100, maxMs: 1000, random: () => 0 };
  const hi = { initialMs: 100, maxMs: 1000, random: () => 0.999999 };
  assert.deepEqual([0, 1, 2, 3, 4, 10].map((a) => backoffDelayMs(a, lo)), [
    50,
    100,
    200,
    400,
    500,
    500,
  ]);
  assert.deepEqual([0, 1, 2, 3, 4, 10].map((a) => backoffDelayMs(a, hi)), [
    100,
    200,
    400,
    800,
    1000,
    1000,
  ]);
  fc.assert(fc.property(fc.nat(1000), fc.double({ min: 0, max: 0.9999, noNaN: true }), (a, r) => {
    const d = backoffDelayMs(a, { initialMs: 10, maxMs: 5000, random: () => r });
    return d >= 5 && d <= 5000;
  }));
});

Deno.test("backoff rejects nonsense bounds", () => {
  assert.throws(() => backoffDelayMs(0, { initialMs: 0 }), RangeError);
  assert.throws(() => backoffDelayMs(0, { initialMs: 10, maxMs: 5 }), RangeError);
});

Deno.test("Retry-After raises the delay but is capped", () => {
  const o = { initialMs: 100, maxMs: 1000, random: () => 0 };
  assert.equal(retryDelayMs(0, undefined, o), 50);
  assert.equal(retryDelayMs(0, 7, o), 7000);
  assert.equal(retryDelayMs(5, 0, o), 500);
  assert.equal(retryDelayMs(0, 1e9, { ...o, maxRetryAfterMs: 20_000 }), 20_000);
});

Deno.test("jitter sets the random share below the cap; 0 is exact doubling", () => {
  const exact = [0, 1, 2, 3, 9].map((a) =>
    backoffDelayMs(a, { initialMs: 100, maxMs: 5000, jitter: 0 })
  );
  assert.deepEqual(exact, [100, 200, 400, 800, 5000]);
  const tenth = { initialMs: 10_000, maxMs: 60_000, jitter: 0.2 };
  assert.equal(backoffDelayMs(0, { ...tenth, random: () => 0 }), 8_000);
  assert.equal(backoffDelayMs(0, { ...tenth, random: () => 0.5 }), 9_000);
  assert.equal(backoffDelayMs(5, { ...tenth, random: () => 0.999999 }), 60_000);
  assert.equal(backoffDelayMs(0, { initialMs: 1, jitter: 1, random: () => 0 }), 1, "never 0");
  assert.equal(backoffDelayMs(60, { initialMs: 1, maxMs: Infinity, jitter: 0 }), 2 ** 52);
  assert.throws(() => backoffDelayMs(0, { jitter: 1.5 }), /Cannot compute backoff as 'jitter'/);
  assert.throws(() => backoffDelayMs(0, { jitter: NaN }), RangeError);
});

Deno.test("abortableSleep resolves early on abort and leaves no timer", async () => {
  const ac = new AbortController();
  const t0 = performance.now();
  const sleeping = abortableSleep(60_000, ac.signal);
  ac.abort();
  await sleeping;
  assert.ok(performance.now() - t0 < 1_000);
  await abortableSleep(1, AbortSignal.abort());
  await abortableSleep(5, new AbortController().signal);
});
