import assert from "node:assert/strict";
import fc from "fast-check";
import { BoundedQueue } from "./bounded_queue.ts";

const item = (n: number, bytes = 1) => ({ n, bytes });

Deno.test("drop_oldest keeps the newest within both bounds", () => {
  const q = new BoundedQueue<{ n: number; bytes: number }>({ maxItems: 3, maxBytes: 10 });
  for (let i = 0; i < 5; i++) q.push(item(i));
  assert.deepEqual([...q].map((x) => x.n), [2, 3, 4]);
  // Room for one more item and for 9 bytes: two of the oldest go.
  assert.deepEqual(q.push(item(9, 9)).map((x) => x.n), [2, 3]);
  assert.deepEqual([...q].map((x) => x.n), [4, 9]);
  assert.equal(q.bytes, 10);
  assert.deepEqual(q.push(item(10, 11)).map((x) => x.n), [10], "larger than the bound: refused");
  assert.equal(q.dropped, 5);
  assert.equal(q.shift()!.n, 4);
});

Deno.test("reject refuses new items when full", () => {
  const q = new BoundedQueue<{ n: number; bytes: number }>({
    maxItems: 2,
    maxBytes: 10,
    policy: "reject",
  });
  q.push(item(1));
  q.push(item(2));
  assert.deepEqual(q.push(item(3)).map((x) => x.n), [3]);
  assert.deepEqual([...q].map((x) => x.n), [1, 2]);
  assert.throws(() => new BoundedQueue({ maxItems: 0, maxBytes: 1 }), RangeError);
});

Deno.test("fuzz: bounds always hold and order is FIFO", () => {
  fc.assert(fc.property(
    fc.array(
      fc.oneof(
        fc.nat(20).map((b) => ({ op: "push" as const, b })),
        fc.constant({ op: "shift" as const, b: 0 }),
      ),
      { maxLength: 3000 },
    ),
    (ops) => {
      const q = new BoundedQueue<{ n: number; bytes: number }>({ maxItems: 50, maxBytes: 200 });
      let next = 0;
      let lastOut = -1;
      for (const o of ops) {
        if (o.op === "push") q.push(item(next++, o.b));
        else {
          const x = q.shift();
          if (x) {
            assert.ok(x.n > lastOut);
            lastOut = x.n;
          }
        }
        assert.ok(q.length <= 50 && q.bytes <= 200);
        assert.equal(q.bytes, [...q].reduce((s, x) => s + x.bytes, 0));
      }
    },
  ));
});
