import assert from "node:assert/strict";
import { fakeClock } from "../../tests/helpers/fake_clock.ts";
import type { EndpointConfig, HealthConfig } from "../config/schema.ts";
import { createDataPlaneMetrics, Registry, resetLogging, setupLogging } from "../telemetry/mod.ts";
import { compileModelFilters } from "./globs.ts";
import { EndpointRegistry, type EndpointRegistryOptions } from "./registry.ts";

const health: HealthConfig = {
  interval_s: 10,
  jitter: 0.1,
  timeout_ms: 1000,
  unhealthy_after: 3,
  healthy_after: 2,
  backoff_max_s: 80,
};
const proxy = { queue_max: 4, queue_timeout_ms: 5000 };

/** A scripted upstream world: per endpoint host, either a model list or "down". */
function world() {
  const state = new Map<string, string[] | "down" | "http500">();
  const calls: { host: string; at: number; auth: string | null }[] = [];
  let now = () => 0;
  const fetchImpl = ((input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(String(input));
    const auth = new Headers(init?.headers).get("authorization");
    calls.push({ host: url.host, at: now(), auth });
    const s = state.get(url.host) ?? "down";
    if (s === "down") {
      return Promise.reject(
        new TypeError("fetch failed", {
          cause: new Error("tcp connect error: Connection refused (os error 111)"),
        }),
      );
    }
    if (s === "http500") return Promise.resolve(new Response("boom", { status: 500 }));
    return Promise.resolve(
      Response.json({ object: "list", data: s.map((id) => ({ id, object: "model" })) }),
    );
  }) as typeof fetch;
  return { state, calls, fetch: fetchImpl, setNow: (f: () => number) => (now = f) };
}

/** Generic kind: these tests pin the exact probe schedule of one `GET /v1/models` per check
 * (kind "auto" adds one fingerprinting round first; see dialect_registry_test.ts). */
function cfg(name: string, extra: Partial<EndpointConfig> = {}): EndpointConfig {
  return { name, base_url: `http://${name}.lan:8000/v1`, kind: "openai", ...extra };
}

/** Lets the probe promises started by fired timers run to completion. */
async function flush(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
  await new Promise((r) => setTimeout(r, 0));
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

function build(w: ReturnType<typeof world>, extra: Partial<EndpointRegistryOptions> = {}) {
  const { fake, clock } = fakeClock(1_700_000_000_000);
  w.setNow(() => fake.now - 1_700_000_000_000);
  const metrics = createDataPlaneMetrics(new Registry());
  const registry = new EndpointRegistry({
    endpoints: [cfg("a"), cfg("b")],
    apiKeys: {},
    health,
    proxy,
    metrics,
    fetch: w.fetch,
    clock,
    random: () => 1, // the top of the jitter range: the exact schedule
    ...extra,
  });
  return { registry, fake, metrics };
}

async function gauge(
  metrics: ReturnType<typeof createDataPlaneMetrics>,
  name: "endpointUp" | "endpointModels",
) {
  const got = await metrics[name].get();
  return Object.fromEntries(got.values.map((v) => [v.labels.endpoint, v.value]));
}

Deno.test("registry: initial probe, then unhealthy after N failures, exponential backoff, back after M successes", async () => {
  const lines: string[] = [];
  setupLogging({ level: "info", format: "json", write: (l) => lines.push(l) });
  try {
    const w = world();
    w.state.set("a.lan:8000", ["m1", "m2"]);
    const { registry, fake, metrics } = build(w);
    await registry.start();
    assert.deepEqual(registry.snapshot().map((s) => [s.name, s.status, s.models]), [
      ["a", "healthy", ["m1", "m2"]],
      ["b", "unknown", []],
    ]);
    assert.deepEqual(await gauge(metrics, "endpointUp"), { a: 1, b: 0 });
    assert.deepEqual(await gauge(metrics, "endpointModels"), { a: 2, b: 0 });
    assert.match(registry.snapshot()[1]!.last_error!, /connection refused — is the server running/);
    assert.equal(registry.snapshot()[0]!.last_checked, "2023-11-14T22:13:20.000Z");

    w.state.set("a.lan:8000", "down");
    const statusAt: [number, string][] = [];
    for (let t = 0; t < 400; t++) {
      fake.tick(1000);
      await flush();
      const s = registry.snapshot()[0]!.status;
      if (statusAt.at(-1)?.[1] !== s) statusAt.push([t + 1, s]);
      if (t === 300) w.state.set("a.lan:8000", ["m1", "m2"]);
    }
    const aChecks = w.calls.filter((c) => c.host === "a.lan:8000").map((c) => c.at / 1000);
    // 3 failures at the interval, then 10 → 20 → 40 → 80 (cap) → 80 …, then 2 successes 10 s apart.
    assert.deepEqual(aChecks, [
      0,
      10,
      20,
      30,
      40,
      60,
      100,
      180,
      260,
      340,
      350,
      360,
      370,
      380,
      390,
      400,
    ]);
    assert.deepEqual(statusAt, [[1, "healthy"], [30, "unhealthy"], [350, "healthy"]]);

    // b never answered: unknown until the 3rd failure, then backing off as well.
    const bChecks = w.calls.filter((c) => c.host === "b.lan:8000").map((c) => c.at / 1000);
    assert.deepEqual(bChecks.slice(0, 7), [0, 10, 20, 30, 50, 90, 170]);

    const transitions = lines.map((l) => JSON.parse(l)).filter((r) =>
      /is (un)?healthy/.test(r.message)
    );
    assert.deepEqual(transitions.map((r) => [r.level, r.properties.endpoint, r.properties.from]), [
      ["INFO", "a", "unknown"],
      ["WARN", "b", "unknown"],
      ["WARN", "a", "healthy"],
      ["INFO", "a", "unhealthy"],
    ], "one line per transition, none per failure");
    await registry.stop();
    assert.equal(fake.countTimers(), 0, "stop() clears every timer");
  } finally {
    resetLogging();
  }
});

Deno.test("registry: the initial probes run concurrently and start() waits for all of them", async () => {
  const arrived: string[] = [];
  const { promise: bothIn, resolve } = Promise.withResolvers<void>();
  const fetchImpl = (async (input: string | URL | Request) => {
    arrived.push(new URL(String(input)).host);
    if (arrived.length === 2) resolve();
    await bothIn; // deadlocks (and times out the probe) unless both probes are in flight at once
    return Response.json({ data: [{ id: "m" }] });
  }) as typeof fetch;
  const { registry } = build(world(), { fetch: fetchImpl });
  await registry.start();
  assert.deepEqual(registry.snapshot().map((s) => s.status), ["healthy", "healthy"]);
  await registry.stop();
});

Deno.test("registry: include/exclude, capabilities, api keys, routing through the registry", async () => {
  const w = world();
  w.state.set("a.lan:8000", ["llama3.1:8b", "nomic-embed-text:latest", "qwen2:7b"]);
  w.state.set("b.lan:8000", ["meta-llama/Llama-3.1-8B-Instruct", "llama3.1:8b"]);
  const { registry } = build(w, {
    endpoints: [
      cfg("a", { models_exclude: ["*embed*"], max_concurrent: 2 }),
      cfg("b", { models_include: ["meta-llama/*"], max_concurrent: 1 }),
    ],
    modelFilters: compileModelFilters([
      { name: "a", models_exclude: ["*embed*"] },
      { name: "b", models_include: ["meta-llama/*"] },
    ]),
    apiKeys: { b: "key-b" },
  });
  await registry.start();
  assert.deepEqual(w.calls.map((c) => [c.host, c.auth]), [["a.lan:8000", null], [
    "b.lan:8000",
    "Bearer key-b",
  ]]);
  assert.deepEqual(registry.toNodeCapabilities(), {
    models: ["llama3.1:8b", "meta-llama/Llama-3.1-8B-Instruct", "qwen2:7b"],
    endpoint_count: 2,
    max_concurrent_requests: 3,
  });
  assert.deepEqual(registry.router.listModels().map((m) => m.id), [
    "llama3.1:8b",
    "meta-llama/Llama-3.1-8B-Instruct",
    "qwen2:7b",
  ]);
  const got = await registry.router.acquire("meta-llama/Llama-3.1-8B-Instruct");
  assert.ok(got.ok);
  assert.deepEqual(got.lease.target, {
    endpoint: "b",
    baseUrl: "http://b.lan:8000/v1",
    model: "meta-llama/Llama-3.1-8B-Instruct",
    tenant: "local",
    apiKey: "key-b",
  });
  assert.equal(registry.snapshot()[1]!.in_flight, 1);
  got.lease.release();
  const excluded = await registry.router.acquire("nomic-embed-text:latest");
  assert.ok(
    !excluded.ok && excluded.status === 404,
    "an excluded model is not a model of this node",
  );
  await registry.stop();
});

Deno.test("registry: max_concurrent_requests is null when any endpoint is unlimited", () => {
  const { registry } = build(world(), { endpoints: [cfg("a", { max_concurrent: 4 }), cfg("b")] });
  assert.deepEqual(registry.toNodeCapabilities(), {
    models: [],
    endpoint_count: 2,
    max_concurrent_requests: null,
  });
  const { registry: none } = build(world(), { endpoints: [] });
  assert.deepEqual(none.toNodeCapabilities(), {
    models: [],
    endpoint_count: 0,
    max_concurrent_requests: 0,
  });
});

Deno.test("registry: passive health — connect errors on leases count as failed checks", async () => {
  const w = world();
  w.state.set("a.lan:8000", ["m"]);
  const { registry } = build(w, { endpoints: [cfg("a")] });
  await registry.start();
  for (const outcome of ["connect_error", "upstream_error", "connect_error", "timeout"] as const) {
    const r = await registry.router.acquire("m");
    assert.ok(r.ok);
    r.lease.release(outcome);
  }
  assert.equal(registry.snapshot()[0]!.status, "healthy", "2 connect errors < unhealthy_after (3)");
  const r = await registry.router.acquire("m");
  assert.ok(r.ok);
  r.lease.release("connect_error");
  const s = registry.snapshot()[0]!;
  assert.equal(s.status, "unhealthy");
  assert.match(s.last_error!, /Cannot connect to endpoint "a" .* while proxying a request/);
  const refused = await registry.router.acquire("m");
  assert.ok(!refused.ok && refused.status === 503 && refused.retryAfterS === 10);
  await registry.stop();
});

Deno.test("registry: reconfigure keeps state and in-flight of unchanged endpoints", async () => {
  const w = world();
  w.state.set("a.lan:8000", ["m", "x"]);
  w.state.set("b.lan:8000", ["m"]);
  w.state.set("c.lan:8000", ["m"]);
  w.state.set("b2.lan:9000", ["m"]);
  const { registry, fake, metrics } = build(w, {
    endpoints: [cfg("a", { max_concurrent: 1 }), cfg("b")],
  });
  await registry.start();
  const held = await registry.router.acquire("m", { exclude: new Set(["b"]) });
  assert.ok(held.ok && held.lease.target.endpoint === "a");
  const waiting = registry.router.acquire("m", { exclude: new Set(["b"]) });
  assert.equal(registry.router.queueDepth(), 1);

  const result = registry.reconfigure({
    endpoints: [
      cfg("c"),
      cfg("a", { max_concurrent: 2, models_exclude: ["x"] }),
      { name: "b", base_url: "http://b2.lan:9000/v1" },
    ],
    modelFilters: compileModelFilters([{ name: "a", models_exclude: ["x"] }]),
  });
  assert.deepEqual(result, {
    added: ["c"],
    removed: [],
    updated: ["a"],
    replaced: ["b"],
    unchanged: [],
  });
  // a kept health and in-flight; its higher limit served the waiter at once.
  const served = await waiting;
  assert.ok(served.ok && served.lease.target.endpoint === "a");
  let snap = registry.snapshot();
  assert.deepEqual(snap.map((s) => s.name), ["c", "a", "b"], "config order");
  assert.deepEqual(snap[1], {
    ...snap[1],
    status: "healthy",
    in_flight: 2,
    max_concurrent: 2,
    models: ["m"],
  });
  await flush(); // the new and replaced endpoints are probed right away
  snap = registry.snapshot();
  assert.deepEqual(snap.map((s) => s.status), ["healthy", "healthy", "healthy"]);
  assert.ok(w.calls.some((c) => c.host === "b2.lan:9000"));

  const removed = registry.reconfigure({
    endpoints: [cfg("a", { max_concurrent: 2, models_exclude: ["x"] })],
  });
  assert.deepEqual(removed, {
    added: [],
    removed: ["c", "b"],
    updated: [],
    replaced: [],
    unchanged: ["a"],
  });
  assert.deepEqual(Object.keys(await gauge(metrics, "endpointUp")), ["a"]);
  held.lease.release();
  served.lease.release();
  assert.equal(registry.snapshot()[0]!.in_flight, 0);
  await registry.stop();
  assert.equal(fake.countTimers(), 0);
});

Deno.test("registry: control-plane mode routes nothing until the slug table arrives", async () => {
  const w = world();
  w.state.set("a.lan:8000", ["llama3.1:8b"]);
  const { registry } = build(w, { endpoints: [cfg("a")], localMode: false });
  await registry.start();
  const before = await registry.router.acquire("llama3.1:8b");
  assert.ok(!before.ok && before.status === 404);
  registry.slugs.replace([{ slug: "cp-123", tenant: "acme", model: "llama3.1:8b" }]);
  const r = await registry.router.acquire("cp-123");
  assert.ok(r.ok && r.lease.target.tenant === "acme" && r.lease.target.model === "llama3.1:8b");
  r.lease.release();
  assert.deepEqual(registry.router.listModels().map((m) => [m.id, m.owned_by]), [[
    "cp-123",
    "acme",
  ]]);
  await registry.stop();
});

Deno.test("registry: against a real local server (integration)", async () => {
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () =>
      Response.json({
        object: "list",
        data: [{ id: "llama3.1:8b", object: "model", owned_by: "library" }],
      }),
  );
  const registry = new EndpointRegistry({
    endpoints: [{ name: "ollama", base_url: `http://127.0.0.1:${server.addr.port}/v1` }],
    health,
    proxy,
  });
  await registry.start();
  assert.deepEqual(registry.snapshot()[0]!.models, ["llama3.1:8b"]);
  assert.equal(registry.router.listModels()[0]!.id, "llama3.1:8b");
  assert.ok(registry.router.listModels()[0]!.created > 1_700_000_000);
  await registry.stop();
});

Deno.test("registry: an endpoint with globs but no compiled filter is refused, naming it", () => {
  assert.throws(
    () =>
      new EndpointRegistry({
        endpoints: [{ name: "gpu", base_url: "http://a.lan:8000/v1", models_include: ["x*"] }],
        health,
        proxy,
      }),
    /Cannot filter the models of endpoint "gpu": its globs were not compiled — pass await modelFiltersFor/,
  );
});
