import assert from "node:assert/strict";
import { probeEndpoint } from "./discovery.ts";

/** A real HTTP server on 127.0.0.1:0; `await using` closes it. */
function serve(handler: (req: Request) => Response | Promise<Response>) {
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler);
}

function base(server: Deno.HttpServer<Deno.NetAddr>): string {
  return `http://127.0.0.1:${server.addr.port}/v1`;
}

Deno.test("probeEndpoint: healthy OpenAI list, GET /models only, bearer key sent", async () => {
  const seen: string[] = [];
  await using server = serve((req) => {
    seen.push(`${req.method} ${new URL(req.url).pathname} ${req.headers.get("authorization")}`);
    return Response.json({
      object: "list",
      data: [
        {
          id: "meta-llama/Llama-3.1-8B-Instruct",
          object: "model",
          created: 1,
          owned_by: "vllm",
          max_model_len: 8192,
        },
        { id: "llama3.1:8b", object: "model", owned_by: "library" },
        { id: "llama3.1:8b", object: "model" },
      ],
    });
  });
  const r = await probeEndpoint(base(server) + "/", {
    name: "vllm",
    apiKey: "sekret",
    timeoutMs: 2000,
  });
  assert.deepEqual(r, { ok: true, models: ["meta-llama/Llama-3.1-8B-Instruct", "llama3.1:8b"] });
  assert.deepEqual(seen, ["GET /v1/models Bearer sekret"]);
});

Deno.test("probeEndpoint: tolerates missing `object` and the Ollama-style `models` array", async () => {
  await using a = serve(() => Response.json({ data: [{ id: "x", meta: { n_ctx: 4096 } }] }));
  assert.deepEqual(await probeEndpoint(base(a)), { ok: true, models: ["x"] });
  await using b = serve(() => Response.json({ models: [{ model: "qwen2:7b" }, { name: "phi3" }] }));
  assert.deepEqual(await probeEndpoint(base(b)), { ok: true, models: ["qwen2:7b", "phi3"] });
  await using c = serve(() => Response.json({ object: "list", data: [] }));
  assert.deepEqual(await probeEndpoint(base(c)), { ok: true, models: [] });
});

Deno.test("probeEndpoint: HTTP 500 → kind http with status and a hint", async () => {
  await using server = serve(() => new Response("model runner crashed", { status: 500 }));
  const r = await probeEndpoint(base(server), { name: "ollama" });
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.equal(r.error.kind, "http");
  assert.equal(r.error.status, 500);
  assert.equal(
    r.error.message,
    `Cannot list models of endpoint "ollama" at ${base(server)}/models: HTTP 500 ` +
      `(model runner crashed) — the server is failing; check its logs`,
  );
});

Deno.test("probeEndpoint: 401 and 404 hint at api_key_file and at /v1", async () => {
  await using s401 = serve(() => Response.json({ error: "Unauthorized" }, { status: 401 }));
  const r401 = await probeEndpoint(base(s401), { name: "v" });
  assert.ok(
    !r401.ok && r401.error.status === 401 && /check api_key_file$/.test(r401.error.message),
  );
  await using s404 = serve(() => new Response("not found", { status: 404 }));
  const r404 = await probeEndpoint(`http://127.0.0.1:${s404.addr.port}`, { name: "v" });
  assert.ok(
    !r404.ok && r404.error.status === 404 && /usually ending in \/v1$/.test(r404.error.message),
  );
});

Deno.test("probeEndpoint: bad JSON and wrong shape are told apart", async () => {
  await using html = serve(() =>
    new Response("<html>hello</html>", { headers: { "content-type": "text/html" } })
  );
  const r1 = await probeEndpoint(base(html), { name: "lm" });
  assert.ok(!r1.ok);
  assert.equal(r1.error.kind, "bad_json");
  assert.match(
    r1.error.message,
    /^Cannot parse the model list of endpoint "lm" at .*: invalid JSON/,
  );

  await using shape = serve(() => Response.json({ object: "list", data: [{ id: 7 }] }));
  const r2 = await probeEndpoint(base(shape), { name: "lm" });
  assert.ok(!r2.ok);
  assert.equal(r2.error.kind, "bad_shape");
  assert.match(r2.error.message, /: data\.0\.id: .* — expected OpenAI list format/);

  await using none = serve(() => Response.json({ hello: "world" }));
  const r3 = await probeEndpoint(base(none), { name: "lm" });
  assert.ok(!r3.ok && r3.error.kind === "bad_shape" && /no "data" array/.test(r3.error.message));
});

Deno.test("probeEndpoint: a slow server → timeout", async () => {
  const { promise: answer, resolve } = Promise.withResolvers<void>();
  // Answers only after the probe has given up.
  await using server = serve(() => answer.then(() => new Response("too late")));
  const r = await probeEndpoint(base(server), { name: "slow", timeoutMs: 100 });
  resolve();
  assert.ok(!r.ok);
  assert.equal(r.error.kind, "timeout");
  assert.match(
    r.error.message,
    /^Cannot reach endpoint "slow" at .*: no complete answer within 100 ms/,
  );
});

Deno.test("probeEndpoint: a body that stalls after the headers also times out", async () => {
  await using server = serve(() => {
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new TextEncoder().encode('{"object":"list","data":['));
      },
    });
    return new Response(body, { headers: { "content-type": "application/json" } });
  });
  const r = await probeEndpoint(base(server), { name: "stall", timeoutMs: 150 });
  assert.ok(!r.ok);
  assert.equal(r.error.kind, "timeout");
});

Deno.test("probeEndpoint: refused port → actionable message", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = l.addr.port;
  l.close(); // Nothing listens there now.
  const r = await probeEndpoint(`http://127.0.0.1:${port}/v1`, { name: "ollama", timeoutMs: 2000 });
  assert.deepEqual(r, {
    ok: false,
    error: {
      kind: "refused",
      message: `Cannot reach endpoint "ollama" at http://127.0.0.1:${port}/v1/models: connection ` +
        `refused — is the server running and listening on that port?`,
    },
  });
});

Deno.test("probeEndpoint: caller abort is reported as aborted, not as a failure of the server", async () => {
  const { promise: answer, resolve } = Promise.withResolvers<void>();
  const { promise: arrived, resolve: arrive } = Promise.withResolvers<void>();
  await using server = serve(() => {
    arrive();
    return answer.then(() => new Response(""));
  });
  const ac = new AbortController();
  const p = probeEndpoint(base(server), { name: "x", signal: ac.signal, timeoutMs: 5000 });
  await arrived;
  ac.abort();
  const r = await p;
  resolve();
  assert.ok(!r.ok && r.error.kind === "aborted");
});

Deno.test("probeEndpoint: an oversized list is refused without reading it all", async () => {
  await using server = serve(() => Response.json({ data: [{ id: "x".repeat(5000) }] }));
  const r = await probeEndpoint(base(server), { name: "big", maxBodyBytes: 1000 });
  assert.ok(!r.ok && r.error.kind === "too_large");
});

Deno.test("probeEndpoint: sandbox refusal (NotCapable) and DNS errors are classified", async () => {
  // The class Deno throws when the Worker's permissions refuse the connection.
  const notCapable = new Deno.errors.NotCapable('Requires net access to "10.0.0.9:80"');
  const r1 = await probeEndpoint("http://10.0.0.9/v1", {
    name: "lan",
    fetch: () => Promise.reject(notCapable),
  });
  assert.ok(!r1.ok && r1.error.kind === "not_permitted");
  const dns = new TypeError("fetch failed", {
    cause: new Error("client error (Connect): dns error: failed to lookup address information"),
  });
  const r2 = await probeEndpoint("http://nope.invalid/v1", {
    name: "lan",
    fetch: () => Promise.reject(dns),
  });
  assert.ok(!r2.ok && r2.error.kind === "dns");
  assert.match(r2.error.message, /host name not found — check the host in base_url$/);
});
