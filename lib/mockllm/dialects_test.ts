import assert from "node:assert/strict";
import type { ServerKind } from "../registry/mod.ts";
import { MOCK_DIALECTS } from "./dialects.ts";
import { startMockLlm } from "./server.ts";

const KINDS = Object.keys(MOCK_DIALECTS) as ServerKind[];

async function post(url: string, body: unknown, signal?: AbortSignal): Promise<Response> {
  return await fetch(`${url}/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    ...(signal ? { signal } : {}),
  });
}

for (const kind of KINDS) {
  Deno.test(`mock dialect ${kind}: errors, stream endings and overload as the server sends them`, async () => {
    const d = MOCK_DIALECTS[kind];
    await using mock = await startMockLlm({ dialect: kind, models: ["m"], slots: 1 });
    // Unknown model: the dialect's own status and body.
    const missing = await post(mock.url, {
      model: "nope",
      messages: [{ role: "user", content: "x" }],
    });
    if (d.modelNotFound) {
      const expected = d.modelNotFound("nope");
      assert.equal(missing.status, expected.status);
      assert.deepEqual(await missing.json(), expected.body);
    } else {
      assert.equal(missing.status, 200, "llama.cpp ignores the model field");
      assert.equal((await missing.json()).model, "m", "and names its own model");
    }

    // Stream ending: a usage chunk before [DONE] only where the server honours include_usage.
    const model = kind === "koboldcpp" ? "koboldcpp/m" : "m";
    const stream = await post(mock.url, {
      model,
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: "user", content: "hello" }],
    });
    const frames = (await stream.text()).split("\n\n").filter(Boolean);
    assert.equal(frames.at(-1), "data: [DONE]");
    const last = JSON.parse(frames.at(-2)!.slice("data: ".length));
    assert.equal("usage" in last && last.usage !== null, d.usageChunk, JSON.stringify(last));

    // Past its one slot the server queues (the request waits) or refuses with its own body.
    mock.setMode({ hang: true });
    const holder = new AbortController();
    const held = post(
      mock.url,
      { model, messages: [{ role: "user", content: "x" }] },
      holder.signal,
    )
      .then((r) => r.body?.cancel(), () => {});
    for (let i = 0; i < 100 && mock.stats().running < 1; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(mock.stats().running, 1);
    const second = new AbortController();
    const next = post(
      mock.url,
      { model, messages: [{ role: "user", content: "x" }] },
      second.signal,
    );
    if (d.overCapacity === "reject") {
      const r = await next;
      assert.equal(r.status, d.overload!.status);
      assert.deepEqual(await r.json(), d.overload!.body);
      assert.equal(mock.stats().overloaded, 1);
    } else {
      for (let i = 0; i < 100 && mock.stats().waiting < 1; i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.equal(mock.stats().waiting, 1, "the second request waits for the slot");
      second.abort();
      await next.catch(() => {});
    }
    holder.abort();
    await held;
  });
}

Deno.test("mock dialect llamacpp: every route answers 503 Loading model while loading", async () => {
  await using mock = await startMockLlm({ dialect: "llamacpp", models: ["m"], loading: true });
  const root = mock.url.replace(/\/v1$/, "");
  for (const path of ["/health", "/v1/models", "/slots"]) {
    const r = await fetch(`${root}${path}`);
    assert.equal(r.status, 503);
    assert.deepEqual(await r.json(), {
      error: { code: 503, message: "Loading model", type: "unavailable_error" },
    });
  }
  mock.setLoading(false);
  const ok = await fetch(`${root}/health`);
  assert.deepEqual(await ok.json(), { status: "ok" });
});
