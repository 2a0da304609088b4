import assert from "node:assert/strict";
import { LabmanConfigSchema } from "../config/schema.ts";
import { startMockLlm } from "../mockllm/mod.ts";
import { discoverCapabilities, discoveryPermissions } from "./discover.ts";
import type { DiscoverySettings } from "./messages.ts";

function settingsFor(endpoints: { name: string; base_url: string }[]): DiscoverySettings {
  const c = LabmanConfigSchema.parse({ endpoints });
  return {
    endpoints: c.endpoints,
    apiKeys: {},
    health: c.health,
    proxy: c.proxy,
    logging: c.logging,
    localMode: false,
  };
}

Deno.test("discovery before registration reports the endpoints' real models and slots", async () => {
  await using a = await startMockLlm({ models: ["llama-3-8b"], dialect: "llamacpp", slots: 2 });
  await using b = await startMockLlm({ models: ["qwen-7b"], dialect: "llamacpp", slots: 3 });
  const caps = await discoverCapabilities(
    settingsFor([
      { name: "a", base_url: a.url },
      { name: "b", base_url: b.url },
    ]),
    { budgetMs: 3_000 },
  );
  assert.ok(caps);
  assert.deepEqual(caps.models, ["llama-3-8b", "qwen-7b"]);
  assert.equal(caps.endpoint_count, 2);
  assert.equal(caps.max_concurrent_requests, 5, "the servers' own slot counts");
});

Deno.test("discovery before registration is cut off at its budget: a hung endpoint costs no more", async () => {
  await using a = await startMockLlm({ models: ["m1"] });
  // Accepts connections and never answers (a wedged server): only the budget ends the pass.
  const hung = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    try {
      for await (const c of hung) held.push(c);
    } catch { /* closed */ }
  })();
  try {
    const settings = settingsFor([
      { name: "a", base_url: a.url },
      { name: "hung", base_url: `http://127.0.0.1:${hung.addr.port}/v1` },
    ]);
    settings.health = { ...settings.health, timeout_ms: 60_000 };
    const t0 = performance.now();
    const caps = await discoverCapabilities(settings, { budgetMs: 500 });
    const took = performance.now() - t0;
    assert.ok(caps, "answers with what it found by the deadline");
    assert.deepEqual(caps.models, ["m1"]);
    assert.equal(caps.endpoint_count, 2);
    // Budget plus the Worker's start-up margin, far below the 60 s probe timeout.
    assert.ok(took < 2_500, `took ${took} ms`);
  } finally {
    hung.close();
    await accepting;
    for (const c of held) c.close();
  }
});

Deno.test("discovery with no endpoints answers at once without a Worker", async () => {
  assert.deepEqual(await discoverCapabilities(settingsFor([])), {
    models: [],
    endpoint_count: 0,
    max_concurrent_requests: 0,
  });
});

Deno.test("a discovery Worker that cannot start yields null, not an error", async () => {
  const caps = await discoverCapabilities(
    settingsFor([{ name: "a", base_url: "http://127.0.0.1:9/v1" }]),
    { workerUrl: new URL("data:application/javascript,throw new Error('boom')") },
  );
  assert.equal(caps, null);
});

Deno.test("the discovery Worker may reach the endpoints and nothing else", () => {
  const p = discoveryPermissions(["http://10.0.0.5:11434/v1", "http://10.0.0.5:11434/v1/x"]);
  assert.deepEqual(p.net, ["10.0.0.5:11434"]);
  for (const k of ["read", "write", "run", "env", "ffi", "sys", "import"] as const) {
    assert.equal(p[k], false);
  }
});
