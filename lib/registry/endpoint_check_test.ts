import assert from "node:assert/strict";
import { checkEndpoint } from "./endpoint_check.ts";

/** A scripted server: path → response factory; anything else is 404. */
function server(routes: Record<string, () => Response>): typeof fetch {
  return ((input: string | URL | Request) => {
    const path = new URL(String(input)).pathname;
    const route = routes[path];
    return Promise.resolve(route ? route() : new Response("not found", { status: 404 }));
  }) as typeof fetch;
}

const models = () => Response.json({ object: "list", data: [{ id: "m", owned_by: "vllm" }] });

Deno.test("checkEndpoint: a metrics page cut at the size cap never yields a cut-off number", async () => {
  const first = "vllm:num_requests_running 3\n";
  // One long comment line, sized so the 1 MiB cap falls right after "…waiting 1" of "12".
  const padLength = 1024 * 1024 - first.length - "vllm:num_requests_waiting 1".length;
  const pad = `# ${"x".repeat(padLength - 3)}\n`;
  const text = `${first}${pad}vllm:num_requests_waiting 12\n`;
  const r = await checkEndpoint("http://gpu.lan:8000/v1", "vllm", {
    fetch: server({
      "/health": () => new Response(""),
      "/v1/models": models,
      "/metrics": () => new Response(text),
    }),
  });
  assert.ok(r.ok);
  assert.deepEqual(r.capacity, { running: 3, full: false, source: "/metrics" });
});

Deno.test("checkEndpoint: health failures are classified per dialect", async () => {
  const base = "http://gpu.lan:8080/v1";
  const loading = await checkEndpoint(base, "sglang", {
    fetch: server({ "/health": () => new Response("", { status: 503 }), "/v1/models": models }),
  });
  assert.equal(loading.condition, "loading");
  const down = await checkEndpoint(base, "vllm", {
    fetch: server({ "/health": () => new Response("", { status: 503 }), "/v1/models": models }),
  });
  assert.equal(down.condition, "down", "vLLM's 503 means a dead engine, not loading");
  assert.ok(!down.ok && /HTTP 503 — the server reports a problem/.test(down.error.message));
  const key = await checkEndpoint(base, "ollama", {
    fetch: server({ "/api/version": () => new Response("", { status: 401 }) }),
  });
  assert.ok(!key.ok && /wants an API key; check api_key_file/.test(key.error.message));
  const refused = await checkEndpoint(base, "llamacpp", {
    fetch: (() =>
      Promise.reject(
        new TypeError("fetch failed", { cause: new Error("Connection refused (os error 111)") }),
      )) as typeof fetch,
  });
  assert.ok(!refused.ok && refused.error.kind === "refused");
  // Health passes but the model list does not: down, with the model-list message.
  const noModels = await checkEndpoint(base, "mistralrs", {
    fetch: server({ "/health": () => new Response("OK") }),
  });
  assert.ok(!noModels.ok && noModels.condition === "down" && noModels.error.status === 404);
});

Deno.test("checkEndpoint: a capacity reader that finds garbage leaves the endpoint ready", async () => {
  const r = await checkEndpoint("http://gpu.lan:8080/v1", "llamacpp", {
    fetch: server({
      "/health": () => Response.json({ status: "ok" }),
      "/v1/models": models,
      "/slots": () => Response.json({ error: { code: 501, message: "slots disabled" } }),
      "/metrics": () => new Response("<html>", { status: 501 }),
    }),
  });
  assert.ok(r.ok);
  assert.equal(r.condition, "ready");
  assert.equal(r.capacity, undefined);
});
