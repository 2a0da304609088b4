import assert from "node:assert/strict";
import { until } from "../../tests/helpers/wait.ts";
import OpenAI from "openai";
import { embeddingVector, replyText } from "./content.ts";
import { type MockLlm, startMockLlm } from "./server.ts";

function sdk(mock: MockLlm, apiKey = "x"): OpenAI {
  return new OpenAI({ baseURL: mock.url, apiKey, maxRetries: 0 });
}

function root(mock: MockLlm): string {
  return mock.url.slice(0, -"/v1".length);
}

const USER = [{ role: "user" as const, content: "hello brave world" }];

Deno.test("GET /v1/models lists the configured models in OpenAI list shape", async () => {
  await using mock = await startMockLlm({ models: ["m1", "m2"] });
  const ids = [];
  for await (const model of sdk(mock).models.list()) ids.push(model.id);
  assert.deepEqual(ids, ["m1", "m2"]);
  const res = await fetch(`${mock.url}/models`);
  const body = await res.json();
  assert.equal(body.object, "list");
  assert.deepEqual(Object.keys(body.data[0]).sort(), ["created", "id", "object", "owned_by"]);
  assert.equal(body.data[0].object, "model");
  const one = await sdk(mock).models.retrieve("m2");
  assert.equal(one.id, "m2");
  await assert.rejects(sdk(mock).models.retrieve("nope"), OpenAI.NotFoundError);
  assert.equal(mock.stats().requests["/v1/models"], 2);
});

Deno.test("chat completion: deterministic echo, model echoed, usage counted", async () => {
  await using mock = await startMockLlm({ mode: { tokens: 5 } });
  const reply = await sdk(mock).chat.completions.create({
    model: "mock-qwen-2.5-7b",
    messages: [{ role: "system", content: "be nice" }, ...USER],
  });
  assert.equal(reply.object, "chat.completion");
  assert.equal(reply.model, "mock-qwen-2.5-7b");
  assert.match(reply.id, /^chatcmpl-/);
  const choice = reply.choices[0];
  assert.equal(choice.message.role, "assistant");
  assert.equal(choice.message.content, "hello brave world hello brave");
  assert.equal(choice.message.content, replyText("hello brave world", 5));
  assert.equal(choice.finish_reason, "stop");
  assert.equal(choice.logprobs, null);
  assert.deepEqual(reply.usage, { prompt_tokens: 5, completion_tokens: 5, total_tokens: 10 });
});

Deno.test("chat completion: max_tokens below the mode's tokens stops with finish_reason length", async () => {
  await using mock = await startMockLlm();
  const reply = await sdk(mock).chat.completions.create({
    model: "mock-llama-3-8b",
    messages: USER,
    max_tokens: 2,
  });
  assert.equal(reply.choices[0].message.content, "hello brave");
  assert.equal(reply.choices[0].finish_reason, "length");
  assert.equal(reply.usage?.completion_tokens, 2);
});

Deno.test("chat stream: role chunk, content deltas, stop, usage chunk, stamps increase", async () => {
  await using mock = await startMockLlm({ mode: { tokens: 4 } });
  const stream = await sdk(mock).chat.completions.create({
    model: "mock-llama-3-8b",
    messages: USER,
    stream: true,
    stream_options: { include_usage: true },
  });
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  assert.equal(chunks.length, 4 + 3);
  assert.deepEqual(chunks[0].choices[0].delta, { role: "assistant", content: "" });
  const text = chunks.slice(1, 5).map((c) => c.choices[0].delta.content).join("");
  assert.equal(text, replyText("hello brave world", 4));
  assert.equal(chunks[5].choices[0].finish_reason, "stop");
  assert.deepEqual(chunks[5].choices[0].delta, {});
  assert.deepEqual(chunks[6].choices, []);
  assert.deepEqual(chunks[6].usage, { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 });
  for (const chunk of chunks.slice(0, 6)) {
    assert.equal(chunk.object, "chat.completion.chunk");
    assert.equal(chunk.usage, null);
  }
  const stamps = chunks.map((c) => c as unknown as { mock_index: number; mock_sent_at_ms: number });
  assert.deepEqual(stamps.map((s) => s.mock_index), [0, 1, 2, 3, 4, 5, 6]);
  for (let i = 1; i < stamps.length; i++) {
    assert.ok(stamps[i].mock_sent_at_ms >= stamps[i - 1].mock_sent_at_ms);
  }
  assert.ok(Math.abs(stamps[0].mock_sent_at_ms - Date.now()) < 60_000, "stamp is epoch ms");
  assert.equal(mock.stats().completedStreams, 1);
  assert.equal(mock.stats().openStreams, 0);
});

Deno.test("raw SSE framing is byte-exact, from the first chunk to data: [DONE]", async () => {
  await using mock = await startMockLlm({
    now: () => 1_700_000_000_000,
    mode: { tokens: 2, stampChunks: false },
  });
  const res = await fetch(`${mock.url}/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      model: "mock-llama-3-8b",
      messages: [{ role: "user", content: "hi" }],
      stream: true,
    }),
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "text/event-stream; charset=utf-8");
  const head = '{"id":"chatcmpl-mock-1","object":"chat.completion.chunk","created":1700000000,' +
    '"model":"mock-llama-3-8b","choices":[{"index":0,"delta":';
  assert.equal(
    await res.text(),
    `data: ${head}{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}\n\n` +
      `data: ${head}{"content":"hi"},"logprobs":null,"finish_reason":null}]}\n\n` +
      `data: ${head}{"content":" hi"},"logprobs":null,"finish_reason":null}]}\n\n` +
      `data: ${head}{},"logprobs":null,"finish_reason":"stop"}]}\n\n` +
      "data: [DONE]\n\n",
  );
});

Deno.test("SSE events arrive as separate reads when tokens are spaced", async () => {
  await using mock = await startMockLlm({
    mode: { tokens: 3, tokenDelayMs: 15, stampChunks: false },
  });
  const res = await fetch(`${mock.url}/completions`, {
    method: "POST",
    body: JSON.stringify({ model: "mock-llama-3-8b", prompt: "a b c", stream: true }),
  });
  const reads: string[] = [];
  const decoder = new TextDecoder();
  for await (const bytes of res.body!) reads.push(decoder.decode(bytes));
  assert.ok(reads.length >= 5, `expected one read per event, got ${reads.length}`);
  for (const read of reads) assert.match(read, /^data: .*\n\n$/s);
  assert.equal(reads.at(-1), "data: [DONE]\n\n");
});

Deno.test("legacy completions, streamed and not", async () => {
  await using mock = await startMockLlm({ mode: { tokens: 3 } });
  const client = sdk(mock);
  const full = await client.completions.create({ model: "mock-llama-3-8b", prompt: "one two" });
  assert.equal(full.object, "text_completion");
  assert.equal(full.choices[0].text, "one two one");
  assert.equal(full.choices[0].finish_reason, "stop");
  assert.deepEqual(full.usage, { prompt_tokens: 2, completion_tokens: 3, total_tokens: 5 });
  const stream = await client.completions.create({
    model: "mock-llama-3-8b",
    prompt: "one two",
    stream: true,
  });
  const parts = [];
  for await (const chunk of stream) parts.push(chunk);
  assert.equal(parts.map((p) => p.choices[0].text).join(""), "one two one");
  assert.equal(parts.at(-1)?.choices[0].finish_reason, "stop");
});

Deno.test("embeddings: float and base64 decode to the same deterministic unit vectors", async () => {
  await using mock = await startMockLlm();
  const client = sdk(mock);
  const floats = await client.embeddings.create({
    model: "mock-embed-small",
    input: ["alpha", "beta"],
    encoding_format: "float",
  });
  assert.equal(floats.object, "list");
  assert.equal(floats.data.length, 2);
  assert.deepEqual(floats.data.map((d) => d.index), [0, 1]);
  assert.deepEqual(floats.data[0].embedding, embeddingVector("alpha", 16));
  assert.notDeepEqual(floats.data[0].embedding, floats.data[1].embedding);
  const norm = Math.hypot(...floats.data[0].embedding);
  assert.ok(Math.abs(norm - 1) < 1e-5);
  assert.deepEqual(floats.usage, { prompt_tokens: 2, total_tokens: 2 });

  // Without encoding_format the SDK asks for base64 and decodes it itself.
  const decoded = await client.embeddings.create({ model: "mock-embed-small", input: "alpha" });
  assert.equal(
    mock.stats().lastRequest?.body &&
      (mock.stats().lastRequest?.body as { encoding_format: string }).encoding_format,
    "base64",
  );
  assert.deepEqual(decoded.data[0].embedding, embeddingVector("alpha", 16));

  const raw = await client.embeddings.create({
    model: "mock-embed-small",
    input: "alpha",
    encoding_format: "base64",
    dimensions: 4,
  });
  const b64 = raw.data[0].embedding as unknown as string;
  assert.equal(typeof b64, "string");
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  assert.deepEqual([...new Float32Array(bytes.buffer)], embeddingVector("alpha", 4));
});

Deno.test("errors surface as the SDK's typed errors with OpenAI bodies", async () => {
  await using mock = await startMockLlm();
  const client = sdk(mock);
  const chat = () => client.chat.completions.create({ model: "mock-llama-3-8b", messages: USER });

  await assert.rejects(
    client.chat.completions.create({ model: "gpt-x", messages: USER }),
    (err: unknown) => {
      assert.ok(err instanceof OpenAI.NotFoundError);
      assert.equal(err.code, "model_not_found");
      assert.equal(err.param, "model");
      assert.equal(err.type, "invalid_request_error");
      assert.match(err.message, /The model `gpt-x` does not exist\./);
      return true;
    },
  );
  const cases: [number, new (...a: never[]) => Error][] = [
    [400, OpenAI.BadRequestError],
    [401, OpenAI.AuthenticationError],
    [404, OpenAI.NotFoundError],
    [429, OpenAI.RateLimitError],
    [500, OpenAI.InternalServerError],
    [503, OpenAI.InternalServerError],
  ];
  for (const [status, type] of cases) {
    mock.setMode({ failStatus: status, retryAfterSeconds: 7 });
    await assert.rejects(chat(), (err: unknown) => {
      assert.ok(err instanceof type, `${status} → ${type.name}, got ${err}`);
      assert.equal((err as InstanceType<typeof OpenAI.APIError>).status, status);
      const retryAfter = (err as InstanceType<typeof OpenAI.APIError>).headers?.get("retry-after");
      assert.equal(retryAfter, status === 429 || status === 503 ? "7" : null);
      return true;
    });
  }
  // failStatus applies to completion routes only; health stays up.
  assert.equal((await client.models.list()).data.length, 3);
});

Deno.test("bad JSON is 400, wrong method 405 with Allow, unknown path 404", async () => {
  await using mock = await startMockLlm();
  let res = await fetch(`${mock.url}/chat/completions`, { method: "POST", body: "{nope" });
  assert.equal(res.status, 400);
  assert.equal((await res.json()).error.type, "invalid_request_error");
  res = await fetch(`${mock.url}/chat/completions`);
  assert.equal(res.status, 405);
  assert.equal(res.headers.get("allow"), "POST");
  assert.equal((await res.json()).error.code, "method_not_allowed");
  res = await fetch(`${mock.url}/models`, { method: "DELETE" });
  assert.equal(res.status, 405);
  await res.body?.cancel();
  res = await fetch(`${mock.url}/nowhere`);
  assert.equal(res.status, 404);
  assert.match((await res.json()).error.message, /Invalid URL \(GET \/v1\/nowhere\)/);
  res = await fetch(`${mock.url}/chat/completions`, {
    method: "POST",
    body: JSON.stringify({ model: "mock-llama-3-8b", messages: [] }),
  });
  assert.equal(res.status, 400);
  assert.equal((await res.json()).error.param, "messages");
});

Deno.test("apiKey is enforced with a 401 OpenAI error", async () => {
  await using mock = await startMockLlm({ apiKey: "sekret" });
  await assert.rejects(sdk(mock, "wrong").models.list(), OpenAI.AuthenticationError);
  const res = await fetch(`${mock.url}/models`);
  assert.equal(res.status, 401);
  assert.equal((await res.json()).error.code, "invalid_api_key");
  const page = await sdk(mock, "sekret").models.list();
  assert.equal(page.data.length, 3);
  assert.equal(mock.stats().lastRequest?.headers.authorization, "Bearer sekret");
});

Deno.test("dieAfterChunks breaks the stream: the SDK iterator throws", async () => {
  await using mock = await startMockLlm({ mode: { dieAfterChunks: 3 } });
  const stream = await sdk(mock).chat.completions.create({
    model: "mock-llama-3-8b",
    messages: USER,
    stream: true,
  });
  const seen: string[] = [];
  await assert.rejects(async () => {
    for await (const chunk of stream) seen.push(chunk.choices[0]?.delta.content ?? "");
  });
  assert.deepEqual(seen, ["", "hello", " brave"]);
  assert.equal(mock.stats().diedResponses, 1);
  assert.equal(mock.stats().completedStreams, 0);
  assert.equal(mock.stats().abortedStreams, 0);

  // Non-streamed answers break halfway through the JSON body.
  const res = await fetch(`${mock.url}/chat/completions`, {
    method: "POST",
    body: JSON.stringify({ model: "mock-llama-3-8b", messages: USER }),
  });
  assert.equal(res.status, 200);
  await assert.rejects(res.text());
});

Deno.test("errorAfterChunks sends an in-band error event the SDK raises", async () => {
  await using mock = await startMockLlm({ mode: { errorAfterChunks: 2 } });
  const stream = await sdk(mock).chat.completions.create({
    model: "mock-llama-3-8b",
    messages: USER,
    stream: true,
  });
  await assert.rejects(async () => {
    for await (const _ of stream) { /* drain */ }
  }, OpenAI.APIError);
});

Deno.test("a client abort mid-stream is counted in abortedStreams", async () => {
  await using mock = await startMockLlm({ mode: { tokens: 200, tokenDelayMs: 20 } });
  const stream = await sdk(mock).chat.completions.create({
    model: "mock-llama-3-8b",
    messages: USER,
    stream: true,
  });
  let n = 0;
  for await (const _ of stream) if (++n === 2) break; // break aborts the request
  assert.equal(n, 2);
  await until(() => mock.stats().abortedStreams === 1, "abortedStreams === 1", 2_000);
  assert.equal(mock.stats().openStreams, 0);
  assert.equal(mock.stats().completedStreams, 0);
});

Deno.test("hang holds the request until the client leaves; latency delays headers", async () => {
  await using mock = await startMockLlm({ mode: { hang: true } });
  const ac = new AbortController();
  const pending = fetch(`${mock.url}/chat/completions`, {
    method: "POST",
    body: JSON.stringify({ model: "mock-llama-3-8b", messages: USER }),
    signal: ac.signal,
  });
  await until(() => mock.stats().pendingRequests === 1, "request is held", 2_000);
  ac.abort();
  await assert.rejects(pending);
  await until(() => mock.stats().abortedRequests === 1, "abortedRequests === 1", 2_000);
  assert.equal(mock.stats().pendingRequests, 0);

  mock.setMode({ hang: false, latencyMs: 30 });
  const started = performance.now();
  const reply = await sdk(mock).chat.completions.create({
    model: "mock-llama-3-8b",
    messages: USER,
  });
  assert.ok(performance.now() - started >= 25, "latencyMs delays the answer");
  assert.equal(reply.choices[0].finish_reason, "stop");
});

Deno.test("close() releases hanging requests and breaks open streams", async () => {
  const mock = await startMockLlm({ mode: { tokenDelayMs: 1_000, tokens: 5 } });
  const res = await fetch(`${mock.url}/chat/completions`, {
    method: "POST",
    body: JSON.stringify({ model: "mock-llama-3-8b", messages: USER, stream: true }),
  });
  const reader = res.body!.getReader();
  assert.equal((await reader.read()).done, false);
  mock.setMode({ hang: true });
  const held = fetch(`${mock.url}/completions`, {
    method: "POST",
    body: JSON.stringify({ model: "mock-llama-3-8b", prompt: "x" }),
  });
  await until(() => mock.stats().pendingRequests === 1, "request is held", 2_000);
  assert.equal(mock.stats().openStreams, 1);
  await mock.close();
  await assert.rejects(reader.read());
  const answer = await held;
  assert.equal(answer.status, 503);
  await answer.body?.cancel();
});

Deno.test("POST /_mock/mode switches behaviour at run time and validates input", async () => {
  await using mock = await startMockLlm();
  const client = sdk(mock);
  const post = (body: string) => fetch(`${root(mock)}/_mock/mode`, { method: "POST", body });

  let res = await post('{"healthStatus":503}');
  assert.equal(res.status, 200);
  assert.equal((await res.json()).healthStatus, 503);
  await assert.rejects(client.models.list(), OpenAI.InternalServerError);
  res = await post('{"healthStatus":200,"failStatus":429}');
  await res.body?.cancel();
  assert.equal((await client.models.list()).data.length, 3);
  await assert.rejects(
    client.chat.completions.create({ model: "mock-llama-3-8b", messages: USER }),
    OpenAI.RateLimitError,
  );
  res = await post('{"tokens":-1}');
  assert.equal(res.status, 400);
  assert.match((await res.json()).error.message, /mode\.tokens/);
  res = await post('{"bogus":1}');
  assert.equal(res.status, 400);
  await res.body?.cancel();
  res = await fetch(`${root(mock)}/_mock/mode`);
  assert.equal((await res.json()).failStatus, 429);
  assert.equal(mock.getMode().failStatus, 429);
  assert.throws(() => mock.setMode({ tokens: 1.5 }), TypeError);

  res = await fetch(`${root(mock)}/_mock/stats`);
  const stats = await res.json();
  assert.equal(stats.requests["/v1/models"], 2);
  assert.equal(stats.requests["/_mock/mode"], undefined, "control requests are not counted");
});

Deno.test("stats record the last request and connections", async () => {
  await using mock = await startMockLlm({ mode: { tokenDelayMs: 30, tokens: 3 } });
  const res = await fetch(`${mock.url}/chat/completions`, {
    method: "POST",
    headers: { "x-trace": "t1" },
    body: JSON.stringify({ model: "mock-llama-3-8b", messages: USER, stream: true }),
  });
  const stats = mock.stats();
  assert.equal(stats.openStreams, 1);
  assert.equal(stats.connectionsSeen, 1);
  if (stats.openConnections !== null) assert.ok(stats.openConnections >= 1);
  assert.equal(stats.lastRequest?.method, "POST");
  assert.equal(stats.lastRequest?.path, "/v1/chat/completions");
  assert.equal(stats.lastRequest?.headers["x-trace"], "t1");
  assert.deepEqual((stats.lastRequest?.body as { messages: unknown }).messages, USER);
  await res.text();
  mock.resetStats();
  assert.equal(mock.stats().totalRequests, 0);
  assert.equal(mock.stats().lastRequest, null);
});

Deno.test("fixedBody answers non-streamed chat with precomputed bytes", async () => {
  const body = '{"id":"fixed","object":"chat.completion","created":1,"model":"m","choices":[]}';
  await using mock = await startMockLlm({ fixedBody: body });
  const res = await fetch(`${mock.url}/chat/completions`, {
    method: "POST",
    body: JSON.stringify({ model: "whatever", messages: USER }),
  });
  assert.equal(await res.text(), body);
  // Streams still get the real path.
  const stream = await sdk(mock).chat.completions.create({
    model: "mock-llama-3-8b",
    messages: USER,
    stream: true,
  });
  let chunks = 0;
  for await (const _ of stream) chunks++;
  assert.equal(chunks, 18);
  // Any failure mode turns the fast path off.
  mock.setMode({ failStatus: 500 });
  await assert.rejects(
    sdk(mock).chat.completions.create({ model: "mock-llama-3-8b", messages: USER }),
    OpenAI.InternalServerError,
  );
  await using builtIn = await startMockLlm({ fixedBody: true });
  const reply = await sdk(builtIn).chat.completions.create({ model: "x", messages: USER });
  assert.equal(reply.choices[0].message.content, "fixed");
});

Deno.test("healthHang and healthLatencyMs affect only GET /v1/models", async () => {
  await using mock = await startMockLlm({ mode: { healthHang: true } });
  const ac = new AbortController();
  const probe = fetch(`${mock.url}/models`, { signal: ac.signal });
  await until(() => mock.stats().pendingRequests === 1, "health probe is held", 2_000);
  const reply = await sdk(mock).chat.completions.create({
    model: "mock-llama-3-8b",
    messages: USER,
  });
  assert.equal(reply.choices[0].finish_reason, "stop", "completions still answer");
  ac.abort();
  await assert.rejects(probe);
  await until(() => mock.stats().abortedRequests === 1, "abortedRequests === 1", 2_000);
  mock.setMode({ healthHang: false, healthLatencyMs: 20 });
  const started = performance.now();
  assert.equal((await sdk(mock).models.list()).data.length, 3);
  assert.ok(performance.now() - started >= 15);
});
