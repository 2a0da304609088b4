import assert from "node:assert/strict";
import { until } from "../../tests/helpers/wait.ts";
import type {
  AcquireOptions,
  AcquireResult,
  EndpointTarget,
  LeaseOutcome,
  ModelEntry,
  Router,
} from "../registry/types.ts";
import { createDataPlaneMetrics, type DataPlaneMetrics, Registry } from "../telemetry/mod.ts";
import { gate, rawServer } from "./_testing.ts";
import { BodyBudget } from "./body_reader.ts";
import { createProxyHandler, type ProxyHandler } from "./handler.ts";
import { createUpstreamClients, type UpstreamClientOptions } from "./upstream_client.ts";
import { UsageLedger } from "./usage.ts";

/** A small in-test Router: first non-excluded target wins; every release is recorded. */
class FakeRouter implements Router {
  releases: { endpoint: string; outcome: LeaseOutcome | undefined }[] = [];
  acquires: { slug: string; exclude: string[] }[] = [];
  override: AcquireResult | null = null;
  constructor(readonly targets: Record<string, EndpointTarget[]>) {}

  acquire(slug: string, options: AcquireOptions = {}): Promise<AcquireResult> {
    this.acquires.push({ slug, exclude: [...(options.exclude ?? [])] });
    if (this.override) return Promise.resolve(this.override);
    const list = this.targets[slug];
    if (!list) {
      return Promise.resolve({
        ok: false,
        status: 404,
        message: `The model '${slug}' does not exist`,
      });
    }
    const target = list.find((t) => !options.exclude?.has(t.endpoint));
    if (!target) {
      return Promise.resolve({
        ok: false,
        status: 503,
        message: "No healthy endpoint",
        retryAfterS: 2,
      });
    }
    const releases = this.releases;
    return Promise.resolve({
      ok: true,
      lease: {
        target,
        queuedMs: 0,
        release(outcome?: LeaseOutcome) {
          releases.push({ endpoint: target.endpoint, outcome });
        },
      },
    });
  }

  listModels(): ModelEntry[] {
    return Object.keys(this.targets).map((id) => ({
      id,
      object: "model" as const,
      created: 0,
      owned_by: "labman",
    }));
  }
}

function target(endpoint: string, origin: string, model: string, apiKey?: string): EndpointTarget {
  return { endpoint, baseUrl: `${origin}/v1`, model, tenant: "local", apiKey };
}

interface Setup {
  handler: ProxyHandler;
  router: FakeRouter;
  metrics: DataPlaneMetrics;
  close(): void;
}

function setup(
  targets: Record<string, EndpointTarget[]>,
  opts: {
    client?: UpstreamClientOptions;
    maxBody?: number;
    bodyBudget?: BodyBudget;
    bodyTimeoutMs?: number;
    usage?: UsageLedger;
  } = {},
): Setup {
  const router = new FakeRouter(targets);
  const metrics = createDataPlaneMetrics(new Registry());
  const clients = createUpstreamClients(opts.client);
  const handler = createProxyHandler({
    router,
    client: clients,
    proxy: {
      max_body_bytes: opts.maxBody ?? 1024 * 1024,
      retry_connect_failures: true,
      ...(opts.bodyTimeoutMs !== undefined ? { body_timeout_ms: opts.bodyTimeoutMs } : {}),
    },
    ...(opts.bodyBudget ? { bodyBudget: opts.bodyBudget } : {}),
    ...(opts.usage ? { usage: opts.usage } : {}),
    metrics,
  });
  return { handler, router, metrics, close: () => clients.close() };
}

function serve(handler: (req: Request) => Response | Promise<Response>) {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler);
  return { server, origin: `http://127.0.0.1:${server.addr.port}` };
}

function chat(body: string | BodyInit, init: RequestInit = {}): Request {
  return new Request("http://proxy.test/v1/chat/completions", {
    method: "POST",
    headers: { "content-type": "application/json", ...(init.headers as Record<string, string>) },
    body,
    signal: init.signal,
  });
}

async function counter(
  metric: { get(): Promise<{ values: { value: number; labels: Record<string, unknown> }[] }> },
  labels: Record<string, string> = {},
): Promise<number> {
  const { values } = await metric.get();
  return values
    .filter((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))
    .reduce((sum, v) => sum + v.value, 0);
}

async function assertOpenAIError(res: Response, status: number, code?: string | null) {
  assert.equal(res.status, status);
  assert.equal(res.headers.get("content-type"), "application/json");
  const body = await res.json();
  assert.deepEqual(Object.keys(body), ["error"]);
  assert.deepEqual(Object.keys(body.error).sort(), ["code", "message", "param", "type"]);
  assert.equal(typeof body.error.message, "string");
  if (code !== undefined) assert.equal(body.error.code, code);
  return body.error;
}

Deno.test("rewrites only the model value; headers allowlisted; endpoint key replaces authorization", async () => {
  let seenBody = "";
  let seenHeaders: Headers = new Headers();
  let seenPath = "";
  const up = serve(async (req) => {
    seenPath = new URL(req.url).pathname;
    seenHeaders = req.headers;
    seenBody = await req.text();
    return Response.json({ ok: true }, {
      headers: {
        "x-upstream": "1",
        "openai-processing-ms": "7",
        "x-ratelimit-limit-requests": "9",
      },
    });
  });
  const t = setup({
    "slug-a": [target("ep1", up.origin, "llama-3.1-8b", "sk-endpoint")],
    "slug-b": [target("ep2", up.origin, "qwen")],
  });
  try {
    const original = '{ "messages":[{"role":"user","content":"say \\"model\\": ünïcode"}],\n' +
      '  "model" : "slug-a", "seed": 12345678901234567890, "temperature":1.0,' +
      ' "meta":{"model":"nested stays"}}';
    const res = await t.handler.fetch(chat(original, {
      headers: {
        authorization: "Bearer control-plane-secret",
        accept: "application/json",
        "user-agent": "openai-sdk",
        "openai-organization": "org-1",
        "x-request-id": "req-123",
        cookie: "a=b",
        "x-custom": "no",
        connection: "openai-beta",
        "openai-beta": "hop-only",
      },
    }));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("x-request-id"), "req-123");
    assert.equal(res.headers.get("x-upstream"), null, "upstream X-* internals stay on the node");
    assert.equal(res.headers.get("openai-processing-ms"), "7");
    assert.equal(res.headers.get("x-ratelimit-limit-requests"), "9");
    assert.deepEqual(await res.json(), { ok: true });
    assert.equal(seenPath, "/v1/chat/completions");
    assert.equal(seenBody, original.replace('"model" : "slug-a"', '"model" : "llama-3.1-8b"'));
    assert.equal(seenHeaders.get("authorization"), "Bearer sk-endpoint");
    assert.equal(seenHeaders.get("content-type"), "application/json");
    assert.equal(seenHeaders.get("accept"), "application/json");
    assert.equal(seenHeaders.get("user-agent"), "openai-sdk");
    assert.equal(seenHeaders.get("openai-organization"), "org-1");
    assert.equal(seenHeaders.get("x-request-id"), "req-123");
    assert.equal(seenHeaders.get("cookie"), null);
    assert.equal(seenHeaders.get("x-custom"), null);
    assert.equal(seenHeaders.get("openai-beta"), null, "Connection-listed header is hop-by-hop");

    const res2 = await t.handler.fetch(chat('{"model":"slug-b"}', {
      headers: { authorization: "Bearer control-plane-secret" },
    }));
    assert.deepEqual(await res2.json(), { ok: true });
    assert.equal(seenBody, '{"model":"qwen"}');
    assert.equal(seenHeaders.get("authorization"), null, "control-plane credentials never leak");
    assert.match(res2.headers.get("x-request-id") ?? "", /^[0-9a-f-]{36}$/);
    assert.deepEqual(t.router.releases, [
      { endpoint: "ep1", outcome: "ok" },
      { endpoint: "ep2", outcome: "ok" },
    ]);
    assert.equal(await counter(t.metrics.requests, { model: "slug-a", status: "200" }), 1);
    assert.equal(t.handler.inFlight(), 0);
  } finally {
    t.close();
    await up.server.shutdown();
  }
});

Deno.test("identity routing forwards the client's bytes; escaped or BOM bodies are rewritten", async () => {
  const seen: Uint8Array[] = [];
  const up = serve(async (req) => {
    seen.push(await req.bytes());
    return Response.json({ ok: true });
  });
  const t = setup({ "same": [target("ep1", up.origin, "same")] });
  const enc = new TextEncoder();
  try {
    const exact = '{"model":"same", "n": 1.0e0, "big": 123456789012345678901234567890}';
    const escaped = '{"model":"s\\u0061me","n":1}';
    const bom = new Uint8Array([0xef, 0xbb, 0xbf, ...enc.encode('{"model":"same"}')]);
    for (const body of [exact, escaped, bom]) {
      const res = await t.handler.fetch(chat(body));
      assert.equal(res.status, 200);
      await res.body?.cancel();
    }
    assert.deepEqual(seen[0], enc.encode(exact));
    assert.equal(new TextDecoder().decode(seen[1]), '{"model":"same","n":1}');
    assert.deepEqual(seen[2], enc.encode('{"model":"same"}'), "BOM dropped as before");
  } finally {
    t.close();
    await up.server.shutdown();
  }
});

Deno.test("response headers pass an allowlist; upstream 4xx/5xx become OpenAI errors naming the endpoint", async () => {
  const server = rawServer(async (conn) => {
    for (;;) {
      const req = await conn.readRequest();
      if (!req) return;
      if (req.path.endsWith("/embeddings")) {
        await conn.write(
          "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n" +
            "server: vllm/0.6\r\nretry-after: 7\r\n" +
            'content-length: 61\r\n\r\n{"error":{"message":"db at 10.0.0.9 down","code":"overload"}}',
        );
        continue;
      }
      await conn.write(
        "HTTP/1.1 200 OK\r\nConnection: keep-alive, x-hop\r\nKeep-Alive: timeout=5\r\n" +
          "X-Hop: 1\r\nUpgrade: h2c\r\nProxy-Authenticate: Basic\r\nX-Kept: yes\r\n" +
          "Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 2\r\n\r\nok",
      );
    }
  });
  const t = setup({ m: [target("ep", server.origin, "m")] });
  try {
    const res = await t.handler.fetch(chat('{"model":"m"}'));
    assert.equal(await res.text(), "ok");
    for (const name of ["connection", "keep-alive", "x-hop", "upgrade", "proxy-authenticate"]) {
      assert.equal(res.headers.get(name), null, name);
    }
    assert.equal(res.headers.get("x-kept"), null);
    assert.equal(res.headers.get("content-length"), "2");
    assert.deepEqual(res.headers.getSetCookie(), []);

    const failed = await t.handler.fetch(
      new Request("http://proxy.test/v1/embeddings", { method: "POST", body: '{"model":"m"}' }),
    );
    const error = await assertOpenAIError(failed, 503, "overload");
    assert.equal(error.message, 'Endpoint "ep" answered 503 Service Unavailable');
    assert.equal(failed.headers.get("server"), null);
    assert.equal(failed.headers.get("retry-after"), "7");
    assert.equal(await counter(t.metrics.upstreamErrors, { kind: "http_5xx" }), 1);
    assert.deepEqual(t.router.releases.map((r) => r.outcome), ["ok", "upstream_error"]);
  } finally {
    t.close();
    await server.close();
  }
});

Deno.test("GET /v1/models lists the router's models", async () => {
  const t = setup({ a: [], b: [] });
  try {
    const res = await t.handler.fetch(new Request("http://proxy.test/v1/models"));
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.object, "list");
    assert.deepEqual(body.data.map((m: ModelEntry) => m.id), ["a", "b"]);
  } finally {
    t.close();
  }
});

Deno.test("client errors: 400, 404, 405 and 413 in the OpenAI shape", async () => {
  const t = setup({ m: [target("ep", "http://127.0.0.1:9", "m")] }, { maxBody: 64 });
  try {
    await assertOpenAIError(await t.handler.fetch(chat("{not json")), 400, "invalid_json");
    await assertOpenAIError(await t.handler.fetch(chat('["model"]')), 400, "invalid_json");
    await assertOpenAIError(await t.handler.fetch(chat("\xff")), 400, "invalid_json");
    const missing = await assertOpenAIError(await t.handler.fetch(chat("{}")), 400);
    assert.equal(missing.param, "model");
    const notString = await assertOpenAIError(await t.handler.fetch(chat('{"model":7}')), 400);
    assert.equal(notString.param, "model");
    await assertOpenAIError(
      await t.handler.fetch(chat('{"model":"nope"}')),
      404,
      "model_not_found",
    );
    await assertOpenAIError(
      await t.handler.fetch(new Request("http://proxy.test/v1/files")),
      404,
      "unknown_url",
    );
    const get = await t.handler.fetch(new Request("http://proxy.test/v1/chat/completions"));
    assert.equal(get.headers.get("allow"), "POST");
    await assertOpenAIError(get, 405);
    const post = await t.handler.fetch(
      new Request("http://proxy.test/v1/models", { method: "POST" }),
    );
    assert.equal(post.headers.get("allow"), "GET");
    await assertOpenAIError(post, 405);

    const big = '{"model":"m","x":"' + "a".repeat(100) + '"}';
    await assertOpenAIError(await t.handler.fetch(chat(big)), 413, "request_too_large");
    // Without Content-Length the limit is enforced while reading.
    let pulled = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        pulled++;
        if (pulled > 1000) return c.close();
        c.enqueue(new TextEncoder().encode("x".repeat(32)));
      },
    });
    const streamed = await t.handler.fetch(chat(stream));
    await assertOpenAIError(streamed, 413, "request_too_large");
    assert(pulled < 10, `stopped reading early (pulled ${pulled} chunks)`);
    assert.deepEqual(t.router.releases, [], "no lease was taken");
    assert.equal(t.handler.inFlight(), 0);
  } finally {
    t.close();
  }
});

Deno.test("router refusals: 429 and 503 carry Retry-After", async () => {
  const t = setup({ m: [] });
  try {
    t.router.override = { ok: false, status: 429, message: "Queue full", retryAfterS: 3 };
    const full = await t.handler.fetch(chat('{"model":"m"}'));
    assert.equal(full.headers.get("retry-after"), "3");
    await assertOpenAIError(full, 429, "rate_limit_exceeded");
    t.router.override = { ok: false, status: 503, message: "Draining", retryAfterS: 10 };
    const draining = await t.handler.fetch(chat('{"model":"m"}'));
    assert.equal(draining.headers.get("retry-after"), "10");
    const err = await assertOpenAIError(draining, 503);
    assert.equal(err.message, "Draining");
  } finally {
    t.close();
  }
});

Deno.test("SSE passes through event by event", async () => {
  const clientGotFirst = gate();
  const up = serve(() => {
    const enc = new TextEncoder();
    let step = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(c) {
        step++;
        if (step === 1) c.enqueue(enc.encode('data: {"n":1}\n\n'));
        else if (step === 2) {
          await clientGotFirst.promise;
          c.enqueue(enc.encode('data: {"n":2}\n\n'));
        } else if (step === 3) c.enqueue(enc.encode("data: [DONE]\n\n"));
        else c.close();
      },
    });
    return new Response(body, { headers: { "content-type": "text/event-stream" } });
  });
  const t = setup({ m: [target("ep", up.origin, "m")] });
  try {
    const res = await t.handler.fetch(chat('{"model":"m","stream":true}'));
    assert.equal(res.headers.get("content-type"), "text/event-stream");
    const reader = res.body!.getReader();
    const dec = new TextDecoder();
    // Event 1 arrives while the upstream is still blocked before producing event 2.
    assert.equal(dec.decode((await reader.read()).value), 'data: {"n":1}\n\n');
    clientGotFirst.open();
    let rest = "";
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      rest += dec.decode(r.value);
    }
    assert.equal(rest, 'data: {"n":2}\n\ndata: [DONE]\n\n');
    assert.deepEqual(t.router.releases, [{ endpoint: "ep", outcome: "ok" }]);
    assert.equal(
      (await t.metrics.ttfb.get()).values.find((v) => v.metricName?.endsWith("_count"))?.value,
      1,
    );
    assert.equal(
      (await t.metrics.duration.get()).values.find((v) => v.metricName?.endsWith("_count"))?.value,
      1,
    );
    assert.equal(await counter(t.metrics.cancellations), 0);
    assert.equal(t.handler.inFlight(), 0);
  } finally {
    t.close();
    await up.server.shutdown();
  }
});

function endlessSse(onCancel: () => void) {
  return serve(() => {
    const enc = new TextEncoder();
    let sent = false;
    const body = new ReadableStream<Uint8Array>({
      async pull(c) {
        if (!sent) {
          sent = true;
          c.enqueue(enc.encode("data: 1\n\n"));
        } else {
          await new Promise(() => {}); // stalls until cancelled
        }
      },
      cancel() {
        onCancel();
      },
    });
    return new Response(body, { headers: { "content-type": "text/event-stream" } });
  });
}

Deno.test("client cancelling the stream aborts the upstream and releases the lease once", async () => {
  const upstreamCancelled = gate();
  const up = endlessSse(() => upstreamCancelled.open());
  const t = setup({ m: [target("ep", up.origin, "m")] });
  try {
    const res = await t.handler.fetch(chat('{"model":"m","stream":true}'));
    const reader = res.body!.getReader();
    assert.equal(new TextDecoder().decode((await reader.read()).value), "data: 1\n\n");
    await reader.cancel();
    await upstreamCancelled.promise;
    assert.deepEqual(t.router.releases, [{ endpoint: "ep", outcome: "cancelled" }]);
    assert.equal(await counter(t.metrics.cancellations, { endpoint: "ep" }), 1);
    assert.equal(t.handler.inFlight(), 0);
  } finally {
    t.close();
    await up.server.shutdown();
  }
});

Deno.test("request signal abort mid-stream aborts the upstream and errors the client stream", async () => {
  const upstreamCancelled = gate();
  const up = endlessSse(() => upstreamCancelled.open());
  const t = setup({ m: [target("ep", up.origin, "m")] });
  try {
    const controller = new AbortController();
    const res = await t.handler.fetch(chat('{"model":"m"}', { signal: controller.signal }));
    const reader = res.body!.getReader();
    await reader.read();
    controller.abort();
    await assert.rejects(reader.read());
    await upstreamCancelled.promise;
    assert.deepEqual(t.router.releases, [{ endpoint: "ep", outcome: "cancelled" }]);
    assert.equal(await counter(t.metrics.cancellations), 1);
  } finally {
    t.close();
    await up.server.shutdown();
  }
});

Deno.test("client abort while waiting for a non-streaming answer aborts the upstream", async () => {
  const received = gate();
  const upstreamAborted = gate();
  const up = serve(async (req) => {
    req.signal.addEventListener("abort", () => upstreamAborted.open());
    received.open();
    await upstreamAborted.promise;
    return new Response("late");
  });
  const t = setup({ m: [target("ep", up.origin, "m")] });
  try {
    const controller = new AbortController();
    const pending = t.handler.fetch(chat('{"model":"m"}', { signal: controller.signal }));
    await received.promise;
    controller.abort();
    const res = await pending;
    assert.notEqual(res.status, 499, "no non-standard status on the wire");
    await res.body?.cancel();
    await upstreamAborted.promise;
    assert.deepEqual(t.router.releases, [{ endpoint: "ep", outcome: "cancelled" }]);
    assert.equal(await counter(t.metrics.cancellations), 1);
    assert.equal(t.handler.inFlight(), 0);
  } finally {
    t.close();
    await up.server.shutdown();
  }
});

Deno.test("upstream dying mid-stream errors the client stream and releases the lease once", async () => {
  const server = rawServer(async (conn) => {
    await conn.readRequest();
    await conn.write("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n9\r\ndata: 1\n\n\r\n");
    // Returning closes the socket inside the chunked body.
  });
  const t = setup({ m: [target("ep", server.origin, "m")] });
  try {
    const res = await t.handler.fetch(chat('{"model":"m"}'));
    const reader = res.body!.getReader();
    assert.equal(new TextDecoder().decode((await reader.read()).value), "data: 1\n\n");
    await assert.rejects(reader.read());
    assert.deepEqual(t.router.releases, [{ endpoint: "ep", outcome: "upstream_error" }]);
    assert.equal(await counter(t.metrics.upstreamErrors, { kind: "reset" }), 1);
    assert.equal(await counter(t.metrics.cancellations), 0);
  } finally {
    t.close();
    await server.close();
  }
});

Deno.test("connect failure is retried once on another endpoint", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const deadOrigin = `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`;
  listener.close();
  let seenBody = "";
  const up = serve(async (req) => {
    seenBody = await req.text();
    return new Response("from b");
  });
  const t = setup({ m: [target("a", deadOrigin, "model-a"), target("b", up.origin, "model-b")] });
  try {
    const res = await t.handler.fetch(chat('{"model":"m"}'));
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "from b");
    assert.equal(seenBody, '{"model":"model-b"}');
    assert.deepEqual(t.router.acquires, [
      { slug: "m", exclude: [] },
      { slug: "m", exclude: ["a"] },
    ]);
    assert.deepEqual(t.router.releases, [
      { endpoint: "a", outcome: "connect_error" },
      { endpoint: "b", outcome: "ok" },
    ]);
    assert.equal(await counter(t.metrics.upstreamErrors, { endpoint: "a", kind: "connect" }), 1);
  } finally {
    t.close();
    await up.server.shutdown();
  }
});

Deno.test("connect failure with no other endpoint is a 502", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const deadOrigin = `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`;
  listener.close();
  const t = setup({ m: [target("a", deadOrigin, "model-a")] });
  try {
    await assertOpenAIError(await t.handler.fetch(chat('{"model":"m"}')), 502, "upstream_error");
    assert.deepEqual(t.router.releases, [{ endpoint: "a", outcome: "connect_error" }]);
  } finally {
    t.close();
  }
});

Deno.test("upstream timeout is a 504", async () => {
  const server = rawServer(async (conn) => {
    await conn.readRequest();
    await conn.waitClosed();
  });
  const t = setup({ m: [target("ep", server.origin, "m")] }, {
    client: { firstByteTimeoutMs: 50 },
  });
  try {
    await assertOpenAIError(await t.handler.fetch(chat('{"model":"m"}')), 504, "upstream_timeout");
    assert.deepEqual(t.router.releases, [{ endpoint: "ep", outcome: "timeout" }]);
    assert.equal(await counter(t.metrics.upstreamErrors, { kind: "timeout" }), 1);
  } finally {
    t.close();
    await server.close();
  }
});

Deno.test("an abort after a completed response is not a cancellation (Deno 2.9 legacy abort)", async () => {
  const up = serve(() => new Response("done"));
  const t = setup({ m: [target("ep", up.origin, "m")] });
  try {
    const controller = new AbortController();
    const res = await t.handler.fetch(chat('{"model":"m"}', { signal: controller.signal }));
    assert.equal(await res.text(), "done");
    controller.abort();
    assert.deepEqual(t.router.releases, [{ endpoint: "ep", outcome: "ok" }]);
    assert.equal(await counter(t.metrics.cancellations), 0);
    assert.equal(await counter(t.metrics.requests, { status: "200" }), 1);
  } finally {
    t.close();
    await up.server.shutdown();
  }
});

Deno.test("abortAll stops in-flight streams", async () => {
  const upstreamCancelled = gate();
  const up = endlessSse(() => upstreamCancelled.open());
  const t = setup({ m: [target("ep", up.origin, "m")] });
  try {
    const res = await t.handler.fetch(chat('{"model":"m"}'));
    const reader = res.body!.getReader();
    await reader.read();
    assert.equal(t.handler.inFlight(), 1);
    t.handler.abortAll();
    await assert.rejects(reader.read());
    await upstreamCancelled.promise;
    await until(() => t.handler.inFlight() === 0, "in-flight to drain");
    assert.deepEqual(t.router.releases, [{ endpoint: "ep", outcome: "cancelled" }]);
  } finally {
    t.close();
    await up.server.shutdown();
  }
});

Deno.test("a client that disconnects while uploading is a cancellation, not a 500", async () => {
  const t = setup({ m: [] });
  try {
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new TextEncoder().encode('{"model":'));
        c.error(new Error("connection reset"));
      },
    });
    const res = await t.handler.fetch(chat(body));
    assert.notEqual(res.status, 499, "no non-standard status on the wire");
    await res.body?.cancel();
    assert.equal(await counter(t.metrics.cancellations), 1);
    assert.equal(await counter(t.metrics.requests, { status: "499" }), 1);
    assert.deepEqual(t.router.acquires, []);
    assert.equal(t.handler.inFlight(), 0);
  } finally {
    t.close();
  }
});

Deno.test("502/504 bodies name the endpoint, never its URL, host, port or the upstream's words", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const t = setup({ m: [target("gpu-box", `http://127.0.0.1:${port}`, "m")] });
  const slow = rawServer(async (conn) => {
    await conn.readRequest();
    await conn.waitClosed();
  });
  const t2 = setup({ m: [target("slow-box", slow.origin, "m")] }, {
    client: { firstByteTimeoutMs: 30 },
  });
  try {
    for (const [h, status, name] of [[t, 502, "gpu-box"], [t2, 504, "slow-box"]] as const) {
      const res = await h.handler.fetch(chat('{"model":"m"}'));
      const text = await res.text();
      assert.equal(res.status, status);
      assert.ok(JSON.parse(text).error.message.includes(`"${name}"`), text);
      for (const leak of ["127.0.0.1", String(port), "http://", slow.origin]) {
        assert.ok(!text.includes(leak), `${leak} leaked in ${text}`);
      }
    }
  } finally {
    t.close();
    t2.close();
    await slow.close();
  }
});

Deno.test("model names the router does not know are counted under one 'unknown' label", async () => {
  const up = serve(() => Response.json({ ok: true }));
  const t = setup({ known: [target("ep", up.origin, "m")] });
  try {
    for (let i = 0; i < 200; i++) {
      const res = await t.handler.fetch(
        chat(JSON.stringify({ model: `probe-${i}-${"x".repeat(1000)}` })),
      );
      assert.equal(res.status, 404);
      assert.ok((await res.text()).length < 1500, "the answer does not echo the whole name");
    }
    await (await t.handler.fetch(chat('{"model":"known"}'))).body?.cancel();
    const { values } = await t.metrics.requests.get();
    const models = new Set(values.map((v) => v.labels.model));
    assert.deepEqual([...models].sort(), ["known", "unknown"]);
    assert.equal(await counter(t.metrics.requests, { model: "unknown", status: "404" }), 200);
  } finally {
    t.close();
    await up.server.shutdown();
  }
});

Deno.test("request bodies share one budget: past it 503 + Retry-After, freed when done", async () => {
  const release = gate();
  const up = serve(async (req) => {
    await req.arrayBuffer();
    await release.promise;
    return Response.json({ ok: true });
  });
  const budget = new BodyBudget(150_000);
  const t = setup({ m: [target("ep", up.origin, "m")] }, { bodyBudget: budget });
  const big = JSON.stringify({ model: "m", pad: "y".repeat(100_000) });
  try {
    const first = t.handler.fetch(chat(big));
    await until(() => budget.used > 0, "first body reserved");
    const second = await t.handler.fetch(chat(big));
    const error = await assertOpenAIError(second, 503, "service_unavailable");
    assert.match(error.message, /max_body_bytes_in_flight/);
    assert.equal(second.headers.get("retry-after"), "1");
    assert.equal(await counter(t.metrics.rejected, { reason: "body_budget" }), 1);
    release.open();
    assert.equal((await first).status, 200);
    assert.equal(budget.used, 0, "the budget is given back");
    const third = await t.handler.fetch(chat(big));
    assert.equal(third.status, 200);
    await third.body?.cancel();
  } finally {
    t.close();
    await up.server.shutdown();
  }
});

Deno.test("a body that does not arrive in time is a 408 that closes the connection", async () => {
  const t = setup({ m: [] }, { bodyTimeoutMs: 50 });
  let cancelled = false;
  try {
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new TextEncoder().encode('{"model":'));
      },
      cancel() {
        cancelled = true;
      },
    });
    const res = await t.handler.fetch(chat(body));
    await assertOpenAIError(res, 408, "request_timeout");
    assert.equal(res.headers.get("connection"), "close");
    assert.ok(cancelled, "the body stream is cancelled");
    assert.equal(await counter(t.metrics.rejected, { reason: "body_timeout" }), 1);
  } finally {
    t.close();
  }
});

Deno.test("usage: booked from a JSON answer and from a stream's tail once it ends, not from a cancelled stream", async () => {
  const usageJson = '"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}';
  const up = serve(async (req) => {
    const body = await req.json();
    if (!body.stream) {
      return new Response(`{"id":"x",${usageJson}}`, {
        headers: { "content-type": "application/json" },
      });
    }
    const enc = new TextEncoder();
    const events = [
      'data: {"choices":[{"delta":{"content":"a"}}]}\n\n',
      `data: {"choices":[],${usageJson.replace("3", "5").replace("7", "9")}}\n\n`,
      "data: [DONE]\n\n",
    ];
    if (body.endless) events.length = 1;
    let i = 0;
    return new Response(
      new ReadableStream({
        async pull(c) {
          if (i < events.length) c.enqueue(enc.encode(events[i++]));
          else if (body.endless) await new Promise(() => {}); // until the proxy hangs up
          else c.close();
        },
      }, { highWaterMark: 0 }),
      { headers: { "content-type": "text/event-stream" } },
    );
  });
  const usage = new UsageLedger();
  const t = setup({ m: [target("ep", up.origin, "m")] }, { usage });
  try {
    const plain = await t.handler.fetch(chat('{"model":"m"}'));
    assert.equal(plain.status, 200);
    await plain.text();
    const streamed = await t.handler.fetch(chat('{"model":"m","stream":true}'));
    assert.match(await streamed.text(), /\[DONE\]/);
    const cut = await t.handler.fetch(chat('{"model":"m","stream":true,"endless":true}'));
    const reader = cut.body!.getReader();
    await reader.read();
    await reader.cancel();
    await until(() => t.handler.inFlight() === 0, "the cancelled stream to finish");
    const rows = usage.take();
    assert.equal(rows.length, 1);
    const { requests, prompt_tokens, completion_tokens, total_tokens } = rows[0];
    // The cancelled stream is not booked: two requests, 3+5 prompt, 4+4 completion tokens.
    assert.deepEqual({ requests, prompt_tokens, completion_tokens, total_tokens }, {
      requests: 2,
      prompt_tokens: 8,
      completion_tokens: 8,
      total_tokens: 16,
    });
  } finally {
    t.close();
    await up.server.shutdown();
  }
});
