import assert from "node:assert/strict";
import { parse as parseToml } from "smol-toml";
import { listedModelIds, MOCK_DIALECTS, startMockLlm } from "../mockllm/mod.ts";
import { fingerprint, identifyServer, type ServerKind } from "../registry/mod.ts";
import {
  expandHosts,
  type FoundServer,
  mergeEndpoints,
  planEndpoints,
  renderEndpoints,
  scanServers,
} from "./mod.ts";

const KINDS = Object.keys(MOCK_DIALECTS) as ServerKind[];
const MODELS = ["alpha-7b", "beta-embed"];

for (const kind of KINDS) {
  Deno.test(`discover: identifies a ${kind} server by its fingerprint and lists its models`, async () => {
    await using mock = await startMockLlm({ dialect: kind, models: MODELS });
    const fp = await identifyServer(`http://127.0.0.1:${mock.port}`);
    assert.ok(fp, `no verdict for ${kind}`);
    assert.equal(fp.kind, kind, fp.evidence);
    assert.deepEqual(fp.models, listedModelIds(kind, MODELS));
    assert.ok(fp.evidence.length > 0);
  });
}

Deno.test("discover: an HTTP server that is no LLM server gets no verdict", async () => {
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response("<html>router admin</html>", { headers: { "content-type": "text/html" } }),
  );
  assert.equal(await identifyServer(`http://127.0.0.1:${server.addr.port}`), undefined);
});

Deno.test("discover: fingerprints are not fooled by servers answering 200 everywhere", () => {
  // LM Studio answers unknown routes with 200 {"error":"Unexpected endpoint…"}.
  const lmsError = (p: string) => ({
    status: 200,
    text: JSON.stringify({ error: `Unexpected endpoint or method. (GET ${p})` }),
  });
  const fp = fingerprint({
    "/v1/models": {
      status: 200,
      text: JSON.stringify({
        data: [{ id: "m", object: "model", owned_by: "organization_owner" }],
      }),
    },
    "/api/version": lmsError("/api/version"),
    "/props": lmsError("/props"),
    "/version": lmsError("/version"),
    "/readyz": lmsError("/readyz"),
  });
  assert.equal(fp?.kind, "openai");
  assert.equal(fingerprint({ "/v1/models": { status: 200, text: "not json" } }), undefined);
  assert.equal(fingerprint({}), undefined);
});

Deno.test("discover: scan probes only the given loopback ports and reports open non-LLM ports", async () => {
  await using ollama = await startMockLlm({ dialect: "ollama", models: ["llama3.2:3b"] });
  await using llama = await startMockLlm({ dialect: "llamacpp", models: ["tiny"] });
  await using other = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response("nope", { status: 404 }),
  );
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const closedPort = (closed.addr as Deno.NetAddr).port;
  closed.close();
  const result = await scanServers({
    ports: [ollama.port, llama.port, other.addr.port, closedPort],
    connectTimeoutMs: 300,
  });
  assert.equal(result.probed, 4);
  assert.deepEqual(
    result.servers.map((s) => [s.kind, s.port, s.baseUrl, s.models]),
    [
      ["ollama", ollama.port, `http://127.0.0.1:${ollama.port}/v1`, ["llama3.2:3b"]],
      ["llamacpp", llama.port, `http://127.0.0.1:${llama.port}/v1`, ["tiny"]],
    ],
  );
  assert.deepEqual(result.unknown, [`127.0.0.1:${other.addr.port}`]);
});

Deno.test("discover: --hosts expansion accepts names, addresses and /24-or-narrower ranges", () => {
  assert.deepEqual(expandHosts(["gpu1.lan", "10.0.0.5", "[::1]"]), ["gpu1.lan", "10.0.0.5", "::1"]);
  assert.equal(expandHosts(["192.168.1.0/24"]).length, 254);
  assert.deepEqual(expandHosts(["192.168.1.8/30"]), ["192.168.1.9", "192.168.1.10"]);
  assert.deepEqual(expandHosts(["10.1.2.3/32"]), ["10.1.2.3"]);
  assert.throws(() => expandHosts(["10.0.0.0/16"]), /wider than \/24/);
  assert.throws(() => expandHosts(["300.1.1.1/24"]), /not an IPv4 range/);
  assert.throws(() => expandHosts(["http://x"]), /not a host name/);
});

function found(kind: ServerKind, host: string, port: number, models: string[]): FoundServer {
  return {
    kind,
    host,
    port,
    models,
    evidence: "test",
    baseUrl: `http://${host}:${port}/v1`,
  };
}

Deno.test("discover: rendered [[endpoints]] parse as TOML with unique names", () => {
  const servers = [
    found("llamacpp", "127.0.0.1", 8080, ["tiny"]),
    found("llamacpp", "127.0.0.1", 8081, []),
    found("vllm", "192.168.1.20", 8000, ["meta-llama/Llama-3.1-8B-Instruct"]),
  ];
  const planned = planEndpoints(servers, ["llamacpp-8080"]);
  assert.deepEqual(planned.map((p) => p.name), [
    "llamacpp-8080-2",
    "llamacpp-8081",
    "vllm-192-168-1-20",
  ]);
  const doc = parseToml(renderEndpoints(planned)) as { endpoints: Record<string, string>[] };
  assert.deepEqual(doc.endpoints.map((e) => [e.name, e.base_url, e.kind]), [
    ["llamacpp-8080-2", "http://127.0.0.1:8080/v1", "llamacpp"],
    ["llamacpp-8081", "http://127.0.0.1:8081/v1", "llamacpp"],
    ["vllm-192-168-1-20", "http://192.168.1.20:8000/v1", "vllm"],
  ]);
});

Deno.test("discover: merging keeps the file's text and comments and skips configured URLs", () => {
  const before = `# my node
[proxy]
listen_port = 8443 # keep this comment

[[endpoints]]
# the box under the desk
name = "ollama"
base_url = "http://localhost:11434"
`;
  const r = mergeEndpoints(before, [
    found("ollama", "127.0.0.1", 11434, ["llama3.2:3b"]),
    found("llamacpp", "127.0.0.1", 8080, ["tiny"]),
  ]);
  assert.ok(r.text.startsWith(before), "the original text is kept byte for byte");
  assert.deepEqual(r.skipped.map((s) => s.existing), ["ollama"]);
  assert.deepEqual(r.added.map((a) => a.name), ["llamacpp"]);
  const doc = parseToml(r.text) as { endpoints: { name: string }[] };
  assert.deepEqual(doc.endpoints.map((e) => e.name), ["ollama", "llamacpp"]);
  const again = mergeEndpoints(r.text, [found("llamacpp", "127.0.0.1", 8080, ["tiny"])]);
  assert.equal(again.text, r.text, "running it twice adds nothing");
  assert.throws(() => mergeEndpoints("[[endpoints]\n", []), SyntaxError);
});

Deno.test("discover: llama.cpp is recognised even while it loads its model", async () => {
  await using mock = await startMockLlm({ dialect: "llamacpp", models: ["tiny"], loading: true });
  const fp = await identifyServer(`http://127.0.0.1:${mock.port}`);
  assert.equal(fp?.kind, "llamacpp");
  assert.deepEqual(fp?.models, [], "no model list while loading");
  assert.match(fp!.evidence, /Loading model/);
});

Deno.test("discover: hostile answers cannot inject TOML or terminal escapes", async () => {
  await using server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const path = new URL(req.url).pathname;
    if (path === "/api/version") {
      return Response.json({ version: '1.0\n[[endpoints]]\nname = "evil"' });
    }
    if (path === "/v1/models") {
      return Response.json({ data: [{ id: 'm"\n[[endpoints]]\nname = "evil2"\x1b[2J' }] });
    }
    return new Response("no", { status: 404 });
  });
  const fp = await identifyServer(`http://127.0.0.1:${server.addr.port}`);
  assert.equal(fp?.kind, "openai", "a non-printable version is no Ollama fingerprint");
  const text = renderEndpoints(planEndpoints([{
    ...fp!,
    host: "127.0.0.1",
    port: server.addr.port,
    baseUrl: `http://127.0.0.1:${server.addr.port}/v1`,
  }]));
  const doc = parseToml(text) as { endpoints: { name: string }[] };
  assert.deepEqual(doc.endpoints.map((e) => e.name), ["openai"]);
});
