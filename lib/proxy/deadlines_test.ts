import assert from "node:assert/strict";
import { Deadlines } from "./deadlines.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("deadlines fire once each, in time order, unless cancelled", async () => {
  const d = new Deadlines();
  const fired: string[] = [];
  d.after(60, () => fired.push("late"));
  const cancelled = d.after(20, () => fired.push("cancelled"));
  // Earlier than the one the timer waits for: the timer must move forward for it.
  d.after(10, () => fired.push("early"));
  d.after(30, () => fired.push("middle"));
  cancelled.cancel();
  cancelled.cancel(); // idempotent
  await sleep(45);
  assert.deepEqual(fired, ["early", "middle"]);
  assert.equal(d.size, 1);
  await sleep(40);
  assert.deepEqual(fired, ["early", "middle", "late"]);
  assert.equal(d.size, 0);
});

Deno.test("cancelling the last deadline leaves no timer behind (op sanitizer)", () => {
  const d = new Deadlines();
  const a = d.after(10_000, () => assert.fail("cancelled deadline fired"));
  const b = d.after(20_000, () => assert.fail("cancelled deadline fired"));
  a.cancel();
  b.cancel();
  assert.equal(d.size, 0);
});

Deno.test("a deadline whose timer fires early waits for its own time", async () => {
  let clock = 0;
  const d = new Deadlines(() => clock);
  const fired: number[] = [];
  d.after(5, () => fired.push(5));
  d.after(50, () => fired.push(50));
  clock = 5;
  await sleep(15); // the real timer (5 ms) fires; only the first is due by the injected clock
  assert.deepEqual(fired, [5]);
  clock = 60;
  await sleep(60); // re-armed for the remaining 45 ms
  assert.deepEqual(fired, [5, 50]);
});
