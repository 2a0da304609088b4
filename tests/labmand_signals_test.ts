/** Pure signal and reload logic of labmand (no processes). */
import assert from "node:assert/strict";
import { ReloadQueue, stopSignalHandler } from "../labmand/signals.ts";

Deno.test("signals: one Ctrl-C delivered twice (process group + deno task) is one stop", () => {
  let t = 0;
  const calls: string[] = [];
  const handle = stopSignalHandler({
    onStop: (s) => calls.push(`stop ${s}`),
    onForce: (s) => calls.push(`force ${s}`),
    now: () => t,
  });
  handle("SIGINT");
  t = 0.1;
  handle("SIGINT");
  assert.deepEqual(calls, ["stop SIGINT"]);
  t = 1500;
  handle("SIGINT");
  assert.deepEqual(calls, ["stop SIGINT", "force SIGINT"]);
});

Deno.test("signals: a second SIGTERM, or a different second signal, forces at once", () => {
  const calls: string[] = [];
  const handle = stopSignalHandler({
    onStop: (s) => calls.push(`stop ${s}`),
    onForce: (s) => calls.push(`force ${s}`),
    now: () => 0,
  });
  handle("SIGTERM");
  handle("SIGTERM");
  handle("SIGINT");
  assert.deepEqual(calls, ["stop SIGTERM", "force SIGTERM", "force SIGINT"]);
});

Deno.test("reload queue: requests before start-up run once after it; runs never overlap", async () => {
  let active = 0;
  let maxActive = 0;
  let runs = 0;
  const gates: (() => void)[] = [];
  const q = new ReloadQueue(async () => {
    active++;
    maxActive = Math.max(maxActive, active);
    runs++;
    await new Promise<void>((r) => gates.push(r));
    active--;
  });
  q.request();
  q.request();
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(runs, 0, "nothing runs before start-up");
  q.open();
  assert.equal(runs, 1);
  // Three SIGHUPs while the first reload runs: one more run, after it.
  q.request();
  q.request();
  q.request();
  assert.equal(runs, 1);
  gates.shift()!();
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(runs, 2);
  gates.shift()!();
  await q.idle();
  assert.equal(runs, 2);
  assert.equal(maxActive, 1);
  await q.close();
  q.request();
  assert.equal(runs, 2, "closed: no reload during shutdown");
});
