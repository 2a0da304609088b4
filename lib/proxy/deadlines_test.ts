import assert from "node:assert/strict";
import { DeadlineQueue } from "./deadlines.ts";

Deno.test("DeadlineQueue: a cancelled deadline never fires and leaves no timer behind", async () => {
  const q = new DeadlineQueue({ resolutionMs: 5 });
  let fired = 0;
  const ds = Array.from({ length: 100 }, () => q.add(10, () => fired++));
  assert.equal(q.live, 100);
  for (const d of ds) assert.equal(d.cancel(), true);
  assert.equal(ds[0].cancel(), false, "a second cancel reports nothing cancelled");
  assert.equal(q.live, 0);
  // The op sanitizer fails this test if the queue's timer outlived its last deadline.
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(fired, 0);
});

Deno.test("DeadlineQueue: expired deadlines fire once, in order, across durations", async () => {
  let now = 0;
  const q = new DeadlineQueue({ resolutionMs: 1, now: () => now });
  const order: string[] = [];
  const a = q.add(10, () => order.push("a10"));
  q.add(10, () => order.push("b10"));
  const c = q.add(5, () => order.push("c5"));
  q.add(1_000, () => order.push("d1000"));
  a.cancel();
  now = 20;
  const done = Promise.withResolvers<void>();
  q.add(0, () => done.resolve());
  await done.promise;
  assert.deepEqual(order.sort(), ["b10", "c5"]);
  assert.equal(c.cancel(), false, "a fired deadline cannot be cancelled");
  assert.equal(q.live, 1, "the 1,000 ms deadline is still pending");
  now = 2_000;
  const last = Promise.withResolvers<void>();
  q.add(0, () => last.resolve());
  await last.promise;
  // d1000 fires on the same tick or the next; wait for it without a time bound on the result.
  for (let i = 0; i < 100 && q.live > 0; i++) await new Promise((r) => setTimeout(r, 2));
  assert.deepEqual(order.sort(), ["b10", "c5", "d1000"]);
  assert.equal(q.live, 0);
});

Deno.test("DeadlineQueue: a throwing handler does not stop the others", async () => {
  let now = 0;
  const q = new DeadlineQueue({ resolutionMs: 1, now: () => now });
  let fired = 0;
  q.add(1, () => {
    throw new Error("boom");
  });
  const done = Promise.withResolvers<void>();
  q.add(1, () => {
    fired++;
    done.resolve();
  });
  now = 5;
  await done.promise;
  assert.equal(fired, 1);
  assert.equal(q.live, 0);
});
