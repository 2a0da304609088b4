/**
 * End to end in local mode: labmand runs as a real process (same permission flags as the
 * compiled binary) in front of real mock model servers, driven by the official `openai` SDK.
 */
import assert from "node:assert/strict";
import OpenAI from "openai";
import { type MockLlm, replyText, startMockLlm } from "../lib/mockllm/mod.ts";
import { freePort, until } from "./helpers/netns.ts";
import { startLabmand } from "./helpers/labmand_process.ts";
import { makeTestDir } from "./helpers/test_dirs.ts";

interface EndpointSpec {
  name: string;
  mock: MockLlm;
  extra?: string;
}

async function writeConfig(
  endpoints: EndpointSpec[],
  extra = "",
): Promise<{ path: string; port: number; admin: number; dir: string }> {
  const dir = await makeTestDir({ prefix: "labman-e2e-" });
  const port = freePort();
  const admin = freePort();
  const path = `${dir}/labman.toml`;
  await Deno.writeTextFile(path, configText(endpoints, port, admin, extra));
  return { path, port, admin, dir };
}

function configText(endpoints: EndpointSpec[], port: number, admin: number, extra = ""): string {
  return `[wireguard]
mode = "off"

[proxy]
listen_port = ${port}
queue_max = 1
queue_timeout_ms = 2000
shutdown_grace_ms = 10000
${extra}

[admin]
listen_port = ${admin}

[logging]
level = "info"
format = "json"

[health]
interval_s = 0.5
timeout_ms = 400
unhealthy_after = 2
healthy_after = 1
backoff_max_s = 1
` + endpoints.map((e) => `
[[endpoints]]
name = "${e.name}"
base_url = "${e.mock.url}"
${e.extra ?? ""}
`).join("");
}

function client(baseURL: string): OpenAI {
  return new OpenAI({ baseURL, apiKey: "control-plane-secret", maxRetries: 0, timeout: 10_000 });
}

async function metricValue(
  adminUrl: string,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  let sum = 0;
  let found = false;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const m = line.match(/^([a-z_]+)(\{[^}]*\})? ([0-9.eE+-]+)$/);
    if (!m || m[1] !== name) continue;
    const labelText = m[2] ?? "";
    if (Object.entries(labels).every(([k, v]) => labelText.includes(`${k}="${v}"`))) {
      sum += Number(m[3]);
      found = true;
    }
  }
  return found ? sum : NaN;
}

Deno.test("labmand local mode: the openai SDK lists, chats, streams, completes and embeds", async () => {
  await using a = await startMockLlm({ models: ["llama-3-8b", "qwen-7b", "secret-model"] });
  await using b = await startMockLlm({
    models: ["llama-3-8b", "embed-small"],
    apiKey: "endpoint-key",
  });
  const keyDir = await makeTestDir();
  await Deno.writeTextFile(`${keyDir}/b.key`, "endpoint-key\n");
  await Deno.chmod(`${keyDir}/b.key`, 0o600);
  const cfg = await writeConfig([
    { name: "a", mock: a, extra: `models_exclude = ["secret-*"]` },
    { name: "b", mock: b, extra: `api_key_file = "${keyDir}/b.key"` },
  ]);
  await using labmand = await startLabmand(cfg.path);
  const sdk = client(labmand.proxyUrl);

  await until(async () => (await sdk.models.list()).data.length === 3, "3 models");
  const ids = (await sdk.models.list()).data.map((m) => m.id).sort();
  assert.deepEqual(ids, ["embed-small", "llama-3-8b", "qwen-7b"], "exclude glob hides secret-*");

  const prompt = "tell me about wireguard";
  const chat = await sdk.chat.completions.create({
    model: "qwen-7b",
    messages: [{ role: "user", content: prompt }],
  });
  assert.equal(chat.choices[0].message.content, replyText(prompt, 16));
  assert.equal(chat.model, "qwen-7b");
  // The control plane's bearer token never reaches a local endpoint.
  assert.equal(a.stats().lastRequest?.headers["authorization"], undefined);

  const stream = await sdk.chat.completions.create({
    model: "qwen-7b",
    stream: true,
    messages: [{ role: "user", content: prompt }],
  });
  let text = "";
  let chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    text += chunk.choices[0]?.delta?.content ?? "";
  }
  assert.equal(text, replyText(prompt, 16));
  assert.ok(chunks >= 17, `expected every SSE event to arrive, got ${chunks}`);

  const completion = await sdk.completions.create({ model: "qwen-7b", prompt: "once upon a time" });
  assert.equal(completion.object, "text_completion");
  assert.ok(completion.choices[0].text.length > 0);

  // Endpoint b requires its own key: labmand sends it, the SDK's key is not forwarded.
  const emb = await sdk.embeddings.create({ model: "embed-small", input: ["a", "b"] });
  assert.equal(emb.data.length, 2);
  assert.equal(emb.data[0].embedding.length, 16);
  assert.equal(b.stats().lastRequest?.headers["authorization"], "Bearer endpoint-key");

  await assert.rejects(
    sdk.chat.completions.create({
      model: "no-such-model",
      messages: [{ role: "user", content: "x" }],
    }),
    (err: unknown) => err instanceof OpenAI.NotFoundError,
  );
  await assert.rejects(
    sdk.chat.completions.create({
      model: "secret-model",
      messages: [{ role: "user", content: "x" }],
    }),
    (err: unknown) => err instanceof OpenAI.NotFoundError,
    "excluded models are not routable",
  );

  assert.ok(
    await metricValue(labmand.adminUrl!, "labman_proxy_requests_total", {
      model: "qwen-7b",
      status: "200",
    }) >= 3,
  );
  assert.equal(await metricValue(labmand.adminUrl!, "labman_endpoint_up", { endpoint: "a" }), 1);
  labmand.signal("SIGTERM");
  assert.equal(await labmand.exited(), 0);
  await Deno.remove(keyDir, { recursive: true });
  await Deno.remove(cfg.dir, { recursive: true });
});

Deno.test("labmand local mode: upstream failures, broken streams and client aborts", async () => {
  await using good = await startMockLlm({ models: ["m"] });
  await using flaky = await startMockLlm({ models: ["flaky-only"] });
  const cfg = await writeConfig([{ name: "good", mock: good }, { name: "flaky", mock: flaky }]);
  await using labmand = await startLabmand(cfg.path);
  const sdk = client(labmand.proxyUrl);
  await until(async () => (await sdk.models.list()).data.length === 2, "both endpoints healthy");
  const ask = (model: string) =>
    sdk.chat.completions.create({ model, messages: [{ role: "user", content: "hi" }] });

  // The model server's own errors pass through with their status and OpenAI body.
  flaky.setMode({ failStatus: 500 });
  await assert.rejects(ask("flaky-only"), (e: unknown) => e instanceof OpenAI.InternalServerError);
  flaky.setMode({ failStatus: 400 });
  await assert.rejects(ask("flaky-only"), (e: unknown) => e instanceof OpenAI.BadRequestError);
  flaky.setMode({ failStatus: null });

  // Dying mid-stream: the client's stream breaks, the lease is released.
  flaky.setMode({ dieAfterChunks: 3, tokenDelayMs: 5 });
  await assert.rejects(async () => {
    const s = await sdk.chat.completions.create({
      model: "flaky-only",
      stream: true,
      messages: [{ role: "user", content: "hi" }],
    });
    for await (const _ of s) { /* drain */ }
  });
  await until(
    async () =>
      (await metricValue(labmand.adminUrl!, "labman_endpoint_in_flight_requests", {
        endpoint: "flaky",
      })) === 0,
    "lease released after broken stream",
  );

  // Client abort mid-stream: the upstream request is aborted too.
  flaky.setMode({ dieAfterChunks: null, tokenDelayMs: 200, tokens: 50 });
  const before = flaky.stats().abortedStreams;
  const ac = new AbortController();
  const s = await sdk.chat.completions.create(
    { model: "flaky-only", stream: true, messages: [{ role: "user", content: "hi" }] },
    { signal: ac.signal },
  );
  let received = 0;
  try {
    for await (const _ of s) if (++received === 2) ac.abort();
  } catch {
    // The SDK ends the iteration (or throws, depending on timing) once its signal aborts.
  }
  assert.ok(received < 50, "the stream stopped after the abort");
  await until(
    () => flaky.stats().abortedStreams === before + 1,
    "upstream stream aborted after client abort",
  );
  await until(
    async () =>
      (await metricValue(labmand.adminUrl!, "labman_endpoint_in_flight_requests", {
        endpoint: "flaky",
      })) === 0,
    "lease released after client abort",
  );
  assert.ok(await metricValue(labmand.adminUrl!, "labman_proxy_cancellations_total") >= 1);

  // Flapping: failing health checks take the endpoint out, recovery brings it back.
  flaky.setMode({ tokenDelayMs: 0, tokens: 16, healthStatus: 503 });
  await until(
    async () => !(await sdk.models.list()).data.some((m) => m.id === "flaky-only"),
    "flaky endpoint marked down",
  );
  await assert.rejects(
    ask("flaky-only"),
    (e: unknown) => e instanceof OpenAI.APIError && e.status === 503,
  );
  flaky.setMode({ healthStatus: 200 });
  await until(
    async () => (await sdk.models.list()).data.some((m) => m.id === "flaky-only"),
    "flaky endpoint back",
  );
  assert.equal((await ask("flaky-only")).choices[0].finish_reason, "stop");

  labmand.signal("SIGTERM");
  assert.equal(await labmand.exited(), 0);
  await Deno.remove(cfg.dir, { recursive: true });
});

Deno.test("labmand local mode: a full endpoint queues, then answers 429 with Retry-After", async () => {
  await using slow = await startMockLlm({ models: ["m"], mode: { latencyMs: 1500 } });
  const cfg = await writeConfig([{ name: "slow", mock: slow, extra: "max_concurrent = 1" }]);
  await using labmand = await startLabmand(cfg.path);
  const body = JSON.stringify({ model: "m", messages: [{ role: "user", content: "x" }] });
  const post = () =>
    fetch(`${labmand.proxyUrl}/chat/completions`, {
      method: "POST",
      body,
      headers: { "content-type": "application/json" },
    });
  await until(async () => {
    const r = await fetch(`${labmand.proxyUrl}/models`);
    return ((await r.json()).data as unknown[]).length === 1;
  }, "endpoint healthy");
  const first = post(); // takes the only slot
  await until(
    async () =>
      (await metricValue(labmand.adminUrl!, "labman_endpoint_in_flight_requests", {
        endpoint: "slow",
      })) === 1,
    "first request in flight",
  );
  const second = post(); // waits in the queue (queue_max = 1)
  await until(
    async () => (await metricValue(labmand.adminUrl!, "labman_proxy_queue_depth")) === 1,
    "second request queued",
  );
  const third = await post(); // queue full
  assert.equal(third.status, 429);
  assert.ok(Number(third.headers.get("retry-after")) >= 1);
  const err = await third.json();
  assert.equal(typeof err.error.message, "string");
  assert.equal((await first).status, 200);
  await (await first).body?.cancel();
  const r2 = await second;
  assert.equal(r2.status, 200);
  await r2.body?.cancel();
  labmand.signal("SIGTERM");
  assert.equal(await labmand.exited(), 0);
  await Deno.remove(cfg.dir, { recursive: true });
});

Deno.test("labmand: SIGHUP applies a valid config and rejects an invalid one; SIGTERM lets a stream finish", async () => {
  await using a = await startMockLlm({ models: ["alpha"] });
  await using b = await startMockLlm({ models: ["beta"], mode: { tokenDelayMs: 100, tokens: 20 } });
  const cfg = await writeConfig([{ name: "a", mock: a }]);
  await using labmand = await startLabmand(cfg.path);
  const sdk = client(labmand.proxyUrl);
  await until(async () => (await sdk.models.list()).data.length === 1, "alpha");

  // Valid reload: a second endpoint appears without restarting the listener.
  await Deno.writeTextFile(
    cfg.path,
    configText([{ name: "a", mock: a }, { name: "b", mock: b }], cfg.port, cfg.admin),
  );
  labmand.signal("SIGHUP");
  await until(
    async () => (await sdk.models.list()).data.some((m) => m.id === "beta"),
    "beta after reload",
  );

  // Invalid reload: rejected with its errors, the running config keeps serving.
  await Deno.writeTextFile(
    cfg.path,
    configText([{ name: "a", mock: a }], cfg.port, cfg.admin).replace(a.url, "ftp://nope"),
  );
  labmand.signal("SIGHUP");
  const rejected = await labmand.waitForLog((l) => String(l.message).startsWith("reload rejected"));
  assert.match(JSON.stringify(rejected), /endpoints\[0\]\.base_url/);
  assert.ok((await sdk.models.list()).data.some((m) => m.id === "beta"), "old config still active");

  // SIGTERM with a stream in flight: the stream completes (2 s of tokens), then labmand exits 0.
  const stream = await sdk.chat.completions.create({
    model: "beta",
    stream: true,
    messages: [{ role: "user", content: "go" }],
  });
  const iter = stream[Symbol.asyncIterator]();
  await iter.next();
  labmand.signal("SIGTERM");
  let text = "";
  for (let r = await iter.next(); !r.done; r = await iter.next()) {
    text += r.value.choices[0]?.delta?.content ?? "";
  }
  assert.equal(text, replyText("go", 20));
  assert.equal(await labmand.exited(), 0);
  await Deno.remove(cfg.dir, { recursive: true });
});
