import assert from "node:assert/strict";
import { fakeClock } from "../../tests/helpers/fake_clock.ts";
import fc from "fast-check";
import { LeastOutstandingRouter, type RouteEndpoint, type RouterOptions } from "./router.ts";
import { SlugTable } from "./slugs.ts";
import type { AcquireResult, Lease, LeaseOutcome } from "./types.ts";

interface TestEndpoint extends RouteEndpoint {
  healthy: boolean;
  maxConcurrent?: number;
  models: Set<string>;
}

function ep(
  name: string,
  models: string[],
  opts: { max?: number; healthy?: boolean } = {},
): TestEndpoint {
  return {
    name,
    baseUrl: `http://127.0.0.1:1/${name}/v1`,
    ...(opts.max !== undefined ? { maxConcurrent: opts.max } : {}),
    healthy: opts.healthy ?? true,
    models: new Set(models),
    inFlight: 0,
  };
}

function setup(
  endpoints: TestEndpoint[],
  opts: Partial<RouterOptions> & { table?: SlugTable } = {},
) {
  const { fake, clock } = fakeClock(0);
  const outcomes: [string, LeaseOutcome][] = [];
  const router = new LeastOutstandingRouter({
    endpoints: () => endpoints,
    slugs: opts.table ?? new SlugTable(),
    queueMax: 10,
    queueTimeoutMs: 1000,
    clock,
    onOutcome: (e, o) => outcomes.push([e.name, o]),
    ...opts,
  });
  return { router, fake, outcomes, endpoints };
}

async function lease(p: Promise<AcquireResult>): Promise<Lease> {
  const r = await p;
  assert.ok(r.ok, `expected a lease, got ${JSON.stringify(r)}`);
  return r.lease;
}

/** Settles microtasks so queued promises that were resolved synchronously are observable. */
async function settled<T>(p: Promise<T>): Promise<{ done: boolean; value?: T }> {
  let state: { done: boolean; value?: T } = { done: false };
  p.then((value) => state = { done: true, value }, () => state = { done: true });
  for (let i = 0; i < 5; i++) await Promise.resolve();
  return state;
}

Deno.test("router: least outstanding requests first", async () => {
  const { router } = setup([ep("a", ["m"]), ep("b", ["m"]), ep("c", ["m"])]);
  const l1 = await lease(router.acquire("m"));
  const l2 = await lease(router.acquire("m"));
  const l3 = await lease(router.acquire("m"));
  assert.deepEqual([l1, l2, l3].map((l) => l.target.endpoint).sort(), ["a", "b", "c"]);
  l2.release();
  const l4 = await lease(router.acquire("m"));
  assert.equal(l4.target.endpoint, l2.target.endpoint, "the only endpoint with 0 in flight");
  assert.deepEqual(l4.target, {
    endpoint: l2.target.endpoint,
    baseUrl: `http://127.0.0.1:1/${l2.target.endpoint}/v1`,
    model: "m",
    tenant: "local",
  });
  assert.equal(l4.queuedMs, 0);
});

Deno.test("router: ties are broken round-robin in config order", async () => {
  const { router } = setup([ep("a", ["m"]), ep("b", ["m"]), ep("c", ["m"])]);
  const order: string[] = [];
  for (let i = 0; i < 7; i++) {
    const l = await lease(router.acquire("m"));
    order.push(l.target.endpoint);
    l.release();
  }
  assert.deepEqual(order, ["a", "b", "c", "a", "b", "c", "a"]);
});

Deno.test("router: max_concurrent is respected; undefined means unlimited", async () => {
  const { router, endpoints } = setup([ep("a", ["m"], { max: 1 }), ep("b", ["m"], { max: 2 })], {
    queueMax: 0,
  });
  const got = await Promise.all([1, 2, 3].map(() => lease(router.acquire("m"))));
  assert.deepEqual(endpoints.map((e) => e.inFlight), [1, 2]);
  const r = await router.acquire("m");
  assert.ok(!r.ok && r.status === 429, "queue_max 0: refused at once instead of queued");
  got.forEach((l) => l.release());
  const { router: r2, endpoints: e2 } = setup([ep("u", ["m"])]);
  await Promise.all(Array.from({ length: 50 }, () => lease(r2.acquire("m"))));
  assert.equal(e2[0]!.inFlight, 50);
});

Deno.test("router: FIFO queue with direct hand-off; newcomers do not overtake", async () => {
  const { router, fake, endpoints } = setup([ep("a", ["m"], { max: 1 })]);
  const first = await lease(router.acquire("m"));
  const w1 = router.acquire("m");
  const w2 = router.acquire("m");
  assert.equal(router.queueDepth(), 2);
  fake.tick(250);
  first.release();
  const l1 = await lease(w1);
  assert.equal(l1.queuedMs, 250);
  assert.equal(endpoints[0]!.inFlight, 1, "the slot moved, it was not freed");
  // A newcomer now queues behind w2 instead of stealing anything.
  const w3 = router.acquire("m");
  assert.equal((await settled(w2)).done, false);
  assert.equal(router.queueDepth(), 2);
  l1.release();
  const l2 = await lease(w2);
  assert.equal((await settled(w3)).done, false);
  l2.release();
  (await lease(w3)).release();
  assert.equal(endpoints[0]!.inFlight, 0);
  assert.equal(router.queueDepth(), 0);
  assert.deepEqual(router.stats(), {
    queued: 3,
    dequeued: 3,
    rejectedQueueFull: 0,
    timedOut: 0,
    abandoned: 0,
  });
});

Deno.test("router: a released slot goes to the oldest waiter that can use it", async () => {
  const { router } = setup([ep("a", ["x"], { max: 1 }), ep("b", ["y"], { max: 1 })]);
  const la = await lease(router.acquire("x"));
  const lb = await lease(router.acquire("y"));
  const wx = router.acquire("x");
  const wy = router.acquire("y");
  lb.release(); // frees b: only the y-waiter can use it, although the x-waiter is older
  assert.equal((await lease(wy)).target.endpoint, "b");
  assert.equal((await settled(wx)).done, false);
  la.release();
  assert.equal((await lease(wx)).target.endpoint, "a");
});

Deno.test("router: queue full → 429 with Retry-After", async () => {
  const { router } = setup([ep("a", ["m"], { max: 1 })], { queueMax: 1, busyRetryAfterS: 2 });
  const l = await lease(router.acquire("m"));
  const w = router.acquire("m");
  const r = await router.acquire("m");
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.equal(r.status, 429);
  assert.equal(r.retryAfterS, 2);
  assert.match(r.message, /queue is full \(1\)/);
  assert.equal(router.stats().rejectedQueueFull, 1);
  l.release();
  (await lease(w)).release();
});

Deno.test("router: queue deadline → 429 with Retry-After, waiter removed", async () => {
  const { router, fake, endpoints } = setup([ep("a", ["m"], { max: 1 })], { queueTimeoutMs: 500 });
  const l = await lease(router.acquire("m"));
  const w = router.acquire("m");
  fake.tick(499);
  assert.equal((await settled(w)).done, false);
  fake.tick(1);
  const r = await w;
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.equal(r.status, 429);
  assert.equal(r.retryAfterS, 1);
  assert.match(r.message, /within 500 ms \(queue_timeout_ms\)/);
  assert.equal(router.queueDepth(), 0);
  assert.equal(router.stats().timedOut, 1);
  l.release();
  assert.equal(endpoints[0]!.inFlight, 0, "the slot was not handed to the expired waiter");
  assert.equal(fake.countTimers(), 0);
});

Deno.test("router: abort while queued rejects with the reason and frees the queue position", async () => {
  const { router, endpoints, fake } = setup([ep("a", ["m"], { max: 1 })]);
  const l = await lease(router.acquire("m"));
  const ac = new AbortController();
  const gone = router.acquire("m", { signal: ac.signal });
  const next = router.acquire("m");
  ac.abort(new DOMException("client went away", "AbortError"));
  await assert.rejects(gone, /client went away/);
  assert.equal(router.queueDepth(), 1);
  assert.equal(router.stats().abandoned, 1);
  l.release();
  const l2 = await lease(next);
  assert.equal(endpoints[0]!.inFlight, 1);
  l2.release();
  assert.equal(fake.countTimers(), 0, "the aborted waiter's deadline timer was cleared");
  // Already aborted: refused at once, even with free capacity.
  await assert.rejects(
    router.acquire("m", { signal: AbortSignal.abort(new Error("gone")) }),
    /gone/,
  );
  assert.equal(endpoints[0]!.inFlight, 0);
});

Deno.test("router: exclude skips endpoints (retry path); all excluded → 503", async () => {
  const { router } = setup([ep("a", ["m"]), ep("b", ["m"])]);
  for (let i = 0; i < 3; i++) {
    const l = await lease(router.acquire("m", { exclude: new Set(["a"]) }));
    assert.equal(l.target.endpoint, "b");
    l.release();
  }
  const r = await router.acquire("m", { exclude: new Set(["a", "b"]) });
  assert.ok(!r.ok && r.status === 503 && /after excluding/.test(r.message));
});

Deno.test("router: 404 for unknown slugs, 503 for known ones without a healthy endpoint", async () => {
  const down = ep("a", ["m", "n"], { healthy: false });
  const { router } = setup([down, ep("b", ["n"])], { unavailableRetryAfterS: 15 });
  const r404 = await router.acquire("nope");
  assert.ok(!r404.ok && r404.status === 404 && r404.retryAfterS === undefined);
  assert.match(r404.message, /The model "nope" does not exist on this node/);
  const r503 = await router.acquire("m");
  assert.ok(!r503.ok && r503.status === 503 && r503.retryAfterS === 15);
  assert.equal((await lease(router.acquire("n"))).target.endpoint, "b");

  const table = new SlugTable([
    { slug: "s-m", tenant: "t1", model: "m" },
    { slug: "s-gone", tenant: "t1", model: "not-loaded" },
    { slug: "s-pin", tenant: "t2", endpoint: "b", model: "n" },
  ]);
  const { router: tr } = setup([ep("a", ["m", "n"], { healthy: false }), ep("b", ["n"])], {
    table,
  });
  assert.equal(
    ((await tr.acquire("m")) as { status: number }).status,
    404,
    "model ids are not slugs",
  );
  assert.equal(((await tr.acquire("s-m")) as { status: number }).status, 503);
  assert.equal(((await tr.acquire("s-gone")) as { status: number }).status, 503);
  const pinned = await lease(tr.acquire("s-pin"));
  assert.deepEqual([pinned.target.endpoint, pinned.target.tenant, pinned.target.model], [
    "b",
    "t2",
    "n",
  ]);
});

Deno.test("router: a pinned slug only uses its endpoint, even when another is idle", async () => {
  const table = new SlugTable([{ slug: "s", tenant: "t", endpoint: "b", model: "m" }]);
  const { router } = setup([ep("a", ["m"]), ep("b", ["m"], { max: 1 })], { table });
  const l = await lease(router.acquire("s"));
  assert.equal(l.target.endpoint, "b");
  const w = router.acquire("s");
  assert.equal((await settled(w)).done, false, "queued for b rather than sent to a");
  l.release();
  assert.equal((await lease(w)).target.endpoint, "b");
});

for (const outcome of ["ok", "upstream_error", "timeout", "cancelled", "connect_error"] as const) {
  Deno.test(`router: release("${outcome}") frees exactly one slot, however often it is called`, async () => {
    const { router, endpoints, outcomes } = setup([ep("a", ["m"], { max: 1 })]);
    const l = await lease(router.acquire("m"));
    const w1 = router.acquire("m");
    const w2 = router.acquire("m");
    l.release(outcome);
    l.release(outcome);
    l.release("ok");
    const l1 = await lease(w1);
    assert.equal((await settled(w2)).done, false, "a second release must not free a second slot");
    assert.equal(endpoints[0]!.inFlight, 1);
    assert.deepEqual(outcomes, [["a", outcome]], "passive health hears each lease once");
    l1.release();
    (await lease(w2)).release();
    assert.equal(endpoints[0]!.inFlight, 0);
  });
}

Deno.test("router: drain switch → 503 with reason; leases continue; queued waiters refused", async () => {
  const { router, endpoints } = setup([ep("a", ["m"], { max: 1 })]);
  const l = await lease(router.acquire("m"));
  const w = router.acquire("m");
  router.setAccepting(false, "node is in maintenance", 60);
  const queued = await w;
  assert.deepEqual(queued, {
    ok: false,
    status: 503,
    message: "Cannot accept requests: node is in maintenance",
    retryAfterS: 60,
  });
  const r = await router.acquire("m");
  assert.ok(!r.ok && r.status === 503 && r.retryAfterS === 60);
  assert.equal(endpoints[0]!.inFlight, 1, "the existing lease is untouched");
  l.release();
  assert.equal(endpoints[0]!.inFlight, 0);
  router.setAccepting(true);
  (await lease(router.acquire("m"))).release();
});

Deno.test("router: waiters are refused with 503 when their endpoints go down, served when one comes up", async () => {
  const a = ep("a", ["m"], { max: 1 });
  const b = ep("b", ["m"], { max: 1, healthy: false });
  const { router } = setup([a, b]);
  const l = await lease(router.acquire("m"));
  const w1 = router.acquire("m");
  b.healthy = true;
  router.pump();
  assert.equal((await lease(w1)).target.endpoint, "b");
  const w2 = router.acquire("m");
  a.healthy = false;
  b.healthy = false;
  router.pump();
  const r = await w2;
  assert.ok(!r.ok && r.status === 503);
  l.release();
});

Deno.test("router: listModels lists routable slugs only", () => {
  const eps = [ep("a", ["z", "m"]), ep("b", ["n"], { healthy: false }), ep("c", ["m"])];
  const { router } = setup(eps, { modelCreated: (m) => (m === "m" ? 1700000000 : 0) });
  assert.deepEqual(router.listModels(), [
    { id: "m", object: "model", created: 1700000000, owned_by: "local" },
    { id: "z", object: "model", created: 0, owned_by: "local" },
  ]);
  const table = new SlugTable([
    { slug: "s1", tenant: "acme", model: "m" },
    { slug: "s2", tenant: "acme", model: "n" }, // only on unhealthy b
    { slug: "s3", tenant: "beta", endpoint: "a", model: "n" }, // a does not serve n
    { slug: "s4", tenant: "beta", endpoint: "c", model: "m" },
  ]);
  const { router: tr } = setup(eps, { table });
  assert.deepEqual(tr.listModels().map((e) => [e.id, e.owned_by]), [["s1", "acme"], [
    "s4",
    "beta",
  ]]);
});

Deno.test("router: close() refuses waiters and clears their timers", async () => {
  const { router, fake } = setup([ep("a", ["m"], { max: 1 })]);
  const l = await lease(router.acquire("m"));
  const w = router.acquire("m");
  router.close("node is shutting down");
  const r = await w;
  assert.ok(!r.ok && r.status === 503);
  assert.equal(fake.countTimers(), 0);
  l.release();
});

// ---- property tests -------------------------------------------------------------------------

const endpointsArb = fc.array(
  fc.record({
    models: fc.subarray(["m1", "m2", "m3"], { minLength: 1 }),
    max: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
    healthy: fc.boolean(),
  }),
  { minLength: 1, maxLength: 5 },
);

Deno.test("router property: the choice is healthy, serves the model, under its limit, least loaded", async () => {
  await fc.assert(
    fc.asyncProperty(
      endpointsArb,
      fc.array(
        fc.tuple(
          fc.constantFrom("acquire", "release", "flip"),
          fc.constantFrom("m1", "m2", "m3"),
          fc.nat(20),
        ),
        {
          maxLength: 40,
        },
      ),
      async (specs, ops) => {
        const eps = specs.map((s, i) => ep(`e${i}`, s.models, { max: s.max, healthy: s.healthy }));
        const { router } = setup(eps, { queueMax: 0 });
        const held: Lease[] = [];
        for (const [op, model, n] of ops) {
          if (op === "flip") {
            const e = eps[n % eps.length]!;
            e.healthy = !e.healthy;
            continue;
          }
          if (op === "release") {
            held.splice(n % Math.max(1, held.length), 1)[0]?.release();
            continue;
          }
          const eligible = eps.filter((e) =>
            e.healthy && e.models.has(model) &&
            (e.maxConcurrent === undefined || e.inFlight < e.maxConcurrent)
          );
          const before = new Map(eps.map((e) => [e.name, e.inFlight]));
          const r = await router.acquire(model);
          if (!r.ok) {
            assert.equal(eligible.length, 0, `refused ${r.status} although an endpoint was free`);
            continue;
          }
          const chosen = eps.find((e) => e.name === r.lease.target.endpoint)!;
          assert.ok(eligible.includes(chosen), "chosen endpoint was eligible");
          const min = Math.min(...eligible.map((e) => before.get(e.name)!));
          assert.equal(before.get(chosen.name), min, "chosen endpoint had the fewest outstanding");
          held.push(r.lease);
        }
      },
    ),
    { numRuns: 200 },
  );
});

Deno.test("router property: in-flight never exceeds max_concurrent and matches live leases", async () => {
  await fc.assert(
    fc.asyncProperty(
      endpointsArb,
      fc.array(
        fc.tuple(
          fc.constantFrom("acquire", "release", "release", "abort", "tick"),
          fc.constantFrom("m1", "m2"),
          fc.nat(20),
        ),
        { maxLength: 60 },
      ),
      async (specs, ops) => {
        const eps = specs.map((s, i) => ep(`e${i}`, s.models, { max: s.max, healthy: true }));
        const { router, fake } = setup(eps, { queueMax: 3, queueTimeoutMs: 100 });
        const held: Lease[] = [];
        const aborts: AbortController[] = [];
        const pending = new Set<Promise<void>>();
        const check = () => {
          for (const e of eps) {
            if (e.maxConcurrent !== undefined) {
              assert.ok(e.inFlight <= e.maxConcurrent, `${e.name} over limit`);
            }
            const live = held.filter((l) => l.target.endpoint === e.name).length;
            assert.equal(e.inFlight, live, `${e.name} in-flight matches live leases`);
          }
          assert.ok(router.queueDepth() <= 3);
        };
        for (const [op, model, n] of ops) {
          if (op === "acquire") {
            const ac = new AbortController();
            aborts.push(ac);
            const p: Promise<void> = router.acquire(model, { signal: ac.signal }).then(
              (r) => {
                if (r.ok) held.push(r.lease);
              },
              () => {},
            ).finally(() => pending.delete(p));
            pending.add(p);
          } else if (op === "release") {
            const l = held.splice(n % Math.max(1, held.length), 1)[0];
            l?.release(n % 2 ? "ok" : "cancelled");
            l?.release("ok");
          } else if (op === "abort") {
            aborts[n % Math.max(1, aborts.length)]?.abort();
          } else {
            fake.tick(60);
          }
          for (let i = 0; i < 3; i++) await Promise.resolve();
          check();
        }
        // Drain: releasing everything must eventually serve or expire every waiter.
        for (let round = 0; round < 100 && (held.length || pending.size); round++) {
          held.splice(0).forEach((l) => l.release());
          fake.tick(100);
          await Promise.all([...pending]);
          check();
        }
        assert.equal(router.queueDepth(), 0);
        assert.ok(eps.every((e) => e.inFlight === 0));
        assert.equal(fake.countTimers(), 0);
      },
    ),
    { numRuns: 150 },
  );
});

Deno.test("router hand-over: slots are owned by one router at a time; max_concurrent holds across both", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 0, max: 4 }),
      fc.array(fc.constantFrom("old-release", "new-acquire", "new-release", "old-acquire"), {
        maxLength: 40,
      }),
      async (max, busy, steps) => {
        const oldEp = ep("e", ["m"], { max });
        const newEp = ep("e", ["m"], { max });
        const old = setup([oldEp]).router;
        const next = setup([newEp]).router;
        const leases = { old: [] as Lease[], next: [] as Lease[] };
        const pending: { side: "old" | "next"; p: Promise<AcquireResult> }[] = [];
        for (let i = 0; i < Math.min(busy, max); i++) {
          leases.old.push(await lease(old.acquire("m")));
        }
        // The successor starts with every slot reserved; its first request queues.
        next.reserveAllSlots();
        pending.push({ side: "next", p: next.acquire("m") });
        const check = () =>
          assert.ok(
            oldEp.inFlight + newEp.inFlight <= max,
            `${oldEp.inFlight} + ${newEp.inFlight} > ${max}`,
          );
        const held = old.retire((endpoint, slots) => next.returnSlots(endpoint, slots));
        next.setReservedSlots(held);
        check();
        const collect = async () => {
          for (const item of pending.splice(0)) {
            const s = await settled(item.p);
            if (!s.done) pending.push(item);
            else if (s.value?.ok) leases[item.side].push(s.value.lease);
          }
        };
        for (const step of steps) {
          if (step === "old-release") leases.old.shift()?.release();
          if (step === "new-release") leases.next.shift()?.release();
          if (step === "new-acquire") pending.push({ side: "next", p: next.acquire("m") });
          if (step === "old-acquire") pending.push({ side: "old", p: old.acquire("m") });
          await collect();
          check();
        }
        // Once the old router holds nothing and has nobody waiting, every slot is the new one's.
        old.close();
        for (const l of leases.old.splice(0)) l.release();
        await collect();
        for (let i = 0; i < 100 && (leases.next.length > 0 || pending.length > 0); i++) {
          for (const l of leases.next.splice(0)) l.release();
          await collect();
          check();
        }
        const all = [];
        for (let i = 0; i < max; i++) all.push(await settled(next.acquire("m")));
        assert.equal(all.filter((s) => s.done && s.value?.ok).length, max);
        for (const s of all) if (s.value?.ok) s.value.lease.release();
        next.close();
        await collect();
      },
    ),
    { numRuns: 200, seed: 8 },
  );
});
