/**
 * The registry against every server dialect the mock plays (lib/mockllm/dialects.ts), over
 * real HTTP: detection, the kind's health probe, loading vs down vs overloaded, capacity
 * feeding routing and the reported capacity.
 */
import assert from "node:assert/strict";
import type { EndpointConfig, HealthConfig } from "../config/schema.ts";
import { listedModelIds, MOCK_DIALECTS, startMockLlm } from "../mockllm/mod.ts";
import { freePort, until } from "../../tests/helpers/netns.ts";
import type { ServerKind } from "./dialects.ts";
import { createDataPlaneMetrics, Registry } from "../telemetry/mod.ts";
import { EndpointRegistry } from "./registry.ts";

const health: HealthConfig = {
  interval_s: 0.1,
  jitter: 0,
  timeout_ms: 1000,
  unhealthy_after: 1,
  healthy_after: 1,
  backoff_max_s: 0.2,
};
const proxy = { queue_max: 8, queue_timeout_ms: 10_000 };
const KINDS = Object.keys(MOCK_DIALECTS) as ServerKind[];

function registryFor(endpoints: EndpointConfig[]) {
  return new EndpointRegistry({ endpoints, health, proxy });
}

for (const kind of KINDS) {
  Deno.test(`registry dialects: ${kind} is detected, checked in its dialect and routable`, async () => {
    await using mock = await startMockLlm({ dialect: kind, models: ["alpha-7b"] });
    const registry = registryFor([{ name: "ep", base_url: mock.url }]);
    try {
      await registry.start();
      const [s] = registry.snapshot();
      assert.equal(s!.kind, kind);
      assert.equal(s!.condition, "ready", s!.last_error ?? "");
      assert.equal(s!.status, "healthy");
      const listed = listedModelIds(kind, ["alpha-7b"]);
      assert.deepEqual(s!.models, listed);
      const got = await registry.router.acquire(listed.at(-1)!);
      assert.ok(got.ok);
      got.lease.release("ok");
      // The dialect's own health path was asked (not only /v1/models).
      const path = MOCK_DIALECTS[kind].healthPath;
      if (path) assert.ok((mock.stats().requests[path] ?? 0) >= 1, `${path} was not probed`);
    } finally {
      await registry.stop();
    }
  });
}

Deno.test("registry dialects: llama.cpp loading is told apart from down, and routable once loaded", async () => {
  await using mock = await startMockLlm({ dialect: "llamacpp", models: ["tiny"], loading: true });
  const closedPort = freePort();
  const registry = registryFor([
    { name: "loading", base_url: mock.url, kind: "llamacpp" },
    { name: "gone", base_url: `http://127.0.0.1:${closedPort}/v1`, kind: "llamacpp" },
  ]);
  try {
    await registry.start();
    const [loading, gone] = registry.snapshot();
    assert.equal(loading!.condition, "loading");
    assert.equal(loading!.healthy, false);
    assert.match(loading!.last_error!, /still loading its model \(HTTP 503.*Loading model/);
    assert.equal(gone!.condition, "down");
    assert.match(gone!.last_error!, /connection refused/);
    const refused = await registry.router.acquire("tiny");
    assert.equal(refused.ok, false);
    mock.setLoading(false);
    await until(() => registry.snapshot()[0]!.condition === "ready", "llama.cpp ready");
    const got = await registry.router.acquire("tiny");
    assert.ok(got.ok);
    got.lease.release("ok");
  } finally {
    await registry.stop();
  }
});

Deno.test("registry dialects: an auto endpoint that comes back as another server is re-detected", async () => {
  const port = freePort();
  let mock = await startMockLlm({ dialect: "vllm", models: ["m"], port });
  const registry = registryFor([{ name: "ep", base_url: mock.url }]);
  try {
    await registry.start();
    assert.equal(registry.snapshot()[0]!.kind, "vllm");
    await mock.close();
    await until(() => registry.snapshot()[0]!.condition === "down", "down");
    mock = await startMockLlm({ dialect: "sglang", models: ["m"], port });
    await until(() => registry.snapshot()[0]!.kind === "sglang", "re-detected as sglang");
  } finally {
    await registry.stop();
    await mock.close();
  }
});

Deno.test("registry dialects: llama.cpp slots cap routing and the reported capacity", async () => {
  await using mock = await startMockLlm({ dialect: "llamacpp", models: ["tiny"], slots: 2 });
  const registry = registryFor([{ name: "llama", base_url: mock.url, max_concurrent: 8 }]);
  try {
    await registry.start();
    const [s] = registry.snapshot();
    assert.deepEqual(s!.capacity, { slots: 2, running: 0, full: false, source: "/slots" });
    assert.equal(s!.max_concurrent, 2, "config says 8, the server has 2 slots");
    assert.equal(registry.toNodeCapabilities().max_concurrent_requests, 2);
    const a = await registry.router.acquire("tiny");
    const b = await registry.router.acquire("tiny");
    assert.ok(a.ok && b.ok);
    const controller = new AbortController();
    const third = registry.router.acquire("tiny", { signal: controller.signal });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(registry.router.queueDepth(), 1, "the third request waits in labman's queue");
    a.lease.release("ok");
    const c = await third;
    assert.ok(c.ok);
    b.lease.release("ok");
    c.lease.release("ok");
  } finally {
    await registry.stop();
  }
});

/** Occupies `n` of the mock's slots with requests that hang until aborted. */
function occupy(url: string, n: number): { stop(): Promise<void> } {
  const controller = new AbortController();
  const calls = Array.from({ length: n }, () =>
    fetch(`${url}/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "m", messages: [{ role: "user", content: "hi" }] }),
      signal: controller.signal,
    }).then((r) => r.body?.cancel(), () => {}));
  return {
    async stop() {
      controller.abort();
      await Promise.all(calls);
    },
  };
}

for (
  const [kind, full] of [
    ["llamacpp", "all slots busy"],
    ["vllm", "requests waiting"],
    ["sglang", "requests waiting"],
    ["tgi", "requests waiting"],
  ] as const
) {
  Deno.test(`registry dialects: ${kind} reporting itself full (${full}) gets nothing until it has room`, async () => {
    await using mock = await startMockLlm({
      dialect: kind,
      models: ["m"],
      slots: 1,
      mode: { hang: true },
    });
    const registry = registryFor([{ name: "ep", base_url: mock.url, kind }]);
    // Other clients of the server: one runs, one waits (llama.cpp: its only slot is taken).
    const load = occupy(mock.url, kind === "llamacpp" ? 1 : 2);
    try {
      await until(() => mock.stats().running === 1, "the server is busy");
      await registry.start();
      await until(() => registry.snapshot()[0]!.condition === "overloaded", "overloaded");
      assert.equal(registry.snapshot()[0]!.healthy, true, "overloaded is not down");
      const before = mock.stats().requests["/v1/chat/completions"] ?? 0;
      const pending = registry.router.acquire("m");
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(registry.router.queueDepth(), 1, "queued in labman, not sent to the server");
      assert.equal(mock.stats().requests["/v1/chat/completions"] ?? 0, before);
      await load.stop();
      mock.setMode({ hang: false });
      const got = await pending;
      assert.ok(got.ok, "routed once the server has room");
      got.lease.release("ok");
      assert.equal(registry.snapshot()[0]!.condition, "ready");
    } finally {
      await load.stop();
      await registry.stop();
    }
  });
}

Deno.test("registry dialects: TGI's max_concurrent_requests is its capacity", async () => {
  await using mock = await startMockLlm({ dialect: "tgi", models: ["m"], slots: 3 });
  const registry = registryFor([{ name: "tgi", base_url: mock.url }]);
  try {
    await registry.start();
    assert.equal(registry.snapshot()[0]!.max_concurrent, 3);
    assert.equal(registry.snapshot()[0]!.capacity?.source, "/info+/metrics");
  } finally {
    await registry.stop();
  }
});

Deno.test("registry dialects: a wrong kind gives an actionable error", async () => {
  await using mock = await startMockLlm({ dialect: "lmstudio", models: ["m"] });
  const registry = registryFor([{ name: "ep", base_url: mock.url, kind: "vllm" }]);
  try {
    await registry.start();
    const [s] = registry.snapshot();
    assert.equal(s!.condition, "down");
    assert.match(
      s!.last_error!,
      /HTTP 404.*is kind = "vllm" right for this server\? Try kind = "auto"/,
    );
  } finally {
    await registry.stop();
  }
});

Deno.test("registry dialects: condition and the server's load are exported as metrics", async () => {
  await using mock = await startMockLlm({ dialect: "llamacpp", models: ["tiny"], slots: 2 });
  const metrics = createDataPlaneMetrics(new Registry());
  const registry = new EndpointRegistry({
    endpoints: [{ name: "llama", base_url: mock.url }],
    health,
    proxy,
    metrics,
  });
  const series = async () => {
    const cond = (await metrics.endpointCondition.get()).values.map((v) => [
      v.labels.kind,
      v.labels.condition,
      v.value,
    ]);
    const load = Object.fromEntries(
      (await metrics.endpointServerLoad.get()).values.map((v) => [v.labels.state, v.value]),
    );
    return { cond, load };
  };
  try {
    await registry.start();
    assert.deepEqual(await series(), {
      cond: [["llamacpp", "ready", 1]],
      load: { slots: 2, running: 0 },
    });
    mock.setLoading(true);
    await until(() => registry.snapshot()[0]!.condition === "loading", "loading");
    assert.deepEqual(await series(), { cond: [["llamacpp", "loading", 1]], load: {} });
  } finally {
    await registry.stop();
  }
});

Deno.test("registry dialects: our own running requests are not counted as other clients' load", async () => {
  await using mock = await startMockLlm({
    dialect: "llamacpp",
    models: ["m"],
    slots: 2,
    mode: { hang: true },
  });
  const registry = registryFor([{ name: "llama", base_url: mock.url }]);
  try {
    await registry.start();
    const first = await registry.router.acquire("m");
    assert.ok(first.ok);
    // The request this lease stands for is running on the server.
    const ours = occupy(mock.url, 1);
    try {
      await until(() => mock.stats().running === 1, "our request running");
      await until(
        () => registry.snapshot()[0]!.capacity?.running === 1,
        "the registry read running = 1",
      );
      // 2 slots, 1 running — ours: one more fits, a third does not.
      const second = await registry.router.acquire("m");
      assert.ok(second.ok, "the second slot is free");
      const controller = new AbortController();
      const third = registry.router.acquire("m", { signal: controller.signal });
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(registry.router.queueDepth(), 1);
      controller.abort();
      await third.catch(() => {});
      second.lease.release("ok");
    } finally {
      await ours.stop();
      first.lease.release("ok");
    }
  } finally {
    await registry.stop();
  }
});

Deno.test("registry dialects: an auto endpoint that starts while llama.cpp loads is known as loading", async () => {
  await using mock = await startMockLlm({ dialect: "llamacpp", models: ["tiny"], loading: true });
  const registry = registryFor([{ name: "llama", base_url: mock.url }]);
  try {
    await registry.start();
    const [s] = registry.snapshot();
    assert.equal(s!.kind, "llamacpp", "recognised by its 503 Loading model answer");
    assert.equal(s!.condition, "loading");
    mock.setLoading(false);
    await until(() => registry.snapshot()[0]!.condition === "ready", "ready");
  } finally {
    await registry.stop();
  }
});

Deno.test("registry dialects: a refused auto endpoint costs one request per check, no fingerprinting", async () => {
  const urls: string[] = [];
  const counting = ((input: string | URL | Request, init?: RequestInit) => {
    urls.push(new URL(String(input)).pathname);
    return fetch(input, init);
  }) as typeof fetch;
  const registry = new EndpointRegistry({
    endpoints: [{ name: "gone", base_url: `http://127.0.0.1:${freePort()}/v1` }],
    health,
    proxy,
    fetch: counting,
  });
  try {
    await registry.start();
    assert.deepEqual(urls, ["/v1/models"]);
    assert.equal(registry.snapshot()[0]!.kind, null);
  } finally {
    await registry.stop();
  }
});
