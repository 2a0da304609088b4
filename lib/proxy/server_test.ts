import assert from "node:assert/strict";
import type { AcquireResult, EndpointTarget, LeaseOutcome, Router } from "../registry/types.ts";
import { createDataPlaneMetrics, Registry } from "../telemetry/mod.ts";
import { gate } from "./_testing.ts";
import { createProxyHandler } from "./handler.ts";
import { startProxyServer } from "./server.ts";
import { createUpstreamClients } from "./upstream_client.ts";

function oneTargetRouter(target: EndpointTarget, releases: (LeaseOutcome | undefined)[]): Router {
  return {
    acquire(): Promise<AcquireResult> {
      return Promise.resolve({
        ok: true,
        lease: { target, queuedMs: 0, release: (outcome) => void releases.push(outcome) },
      });
    },
    listModels: () => [],
  };
}

/** Upstream whose SSE stream sends one event, then waits for `more` before finishing. */
function sseUpstream(more: Promise<void>, onCancel: () => void) {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    const enc = new TextEncoder();
    let step = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(c) {
        step++;
        if (step === 1) c.enqueue(enc.encode("data: 1\n\n"));
        else if (step === 2) {
          await more;
          c.enqueue(enc.encode("data: 2\n\n"));
        } else c.close();
      },
      cancel: onCancel,
    });
    return new Response(body, { headers: { "content-type": "text/event-stream" } });
  });
  return { server, origin: `http://127.0.0.1:${server.addr.port}` };
}

function proxyFor(origin: string) {
  const releases: (LeaseOutcome | undefined)[] = [];
  const metrics = createDataPlaneMetrics(new Registry());
  const clients = createUpstreamClients();
  const handler = createProxyHandler({
    router: oneTargetRouter(
      { endpoint: "ep", baseUrl: `${origin}/v1`, model: "m", tenant: "local" },
      releases,
    ),
    client: clients,
    proxy: { max_body_bytes: 1024, retry_connect_failures: true },
    metrics,
  });
  const proxy = startProxyServer({ hostname: "127.0.0.1", port: 0, handler });
  const url = `http://127.0.0.1:${proxy.addr.port}/v1/chat/completions`;
  return { releases, metrics, clients, handler, proxy, url };
}

async function cancellations(metrics: ReturnType<typeof createDataPlaneMetrics>) {
  return (await metrics.cancellations.get()).values.reduce((sum, v) => sum + v.value, 0);
}

Deno.test("over real sockets: normal completion is not a cancellation; disconnect is", async () => {
  const more = gate();
  const upstreamCancelled = gate();
  const up = sseUpstream(more.promise, () => upstreamCancelled.open());
  const p = proxyFor(up.origin);
  const client = Deno.createHttpClient({});
  try {
    more.open();
    const ok = await fetch(p.url, { method: "POST", body: '{"model":"x"}', client });
    assert.equal(await ok.text(), "data: 1\n\ndata: 2\n\n");
    assert.match(ok.headers.get("x-request-id") ?? "", /^[0-9a-f-]{36}$/);
    // Give Deno a turn to fire the legacy post-response abort on request.signal.
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(p.releases, ["ok"]);
    assert.equal(await cancellations(p.metrics), 0);
  } finally {
    client.close();
    await p.proxy.shutdown(1000);
    p.clients.close();
    await up.server.shutdown();
  }

  const stalled = gate();
  const up2 = sseUpstream(stalled.promise, () => upstreamCancelled.open());
  const p2 = proxyFor(up2.origin);
  const client2 = Deno.createHttpClient({});
  try {
    const controller = new AbortController();
    const res = await fetch(p2.url, {
      method: "POST",
      body: '{"model":"x"}',
      client: client2,
      signal: controller.signal,
    });
    const reader = res.body!.getReader();
    assert.equal(new TextDecoder().decode((await reader.read()).value), "data: 1\n\n");
    controller.abort();
    await reader.read().catch(() => {});
    await upstreamCancelled.promise;
    for (let i = 0; i < 200 && p2.releases.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.deepEqual(p2.releases, ["cancelled"]);
    assert.equal(await cancellations(p2.metrics), 1);
  } finally {
    stalled.open();
    client2.close();
    await p2.proxy.shutdown(1000);
    p2.clients.close();
    await up2.server.shutdown();
  }
});

Deno.test("shutdown lets a request finish within grace, then aborts what is left", async () => {
  const more = gate();
  const upstreamCancelled = gate();
  const up = sseUpstream(more.promise, () => upstreamCancelled.open());
  const p = proxyFor(up.origin);
  const client = Deno.createHttpClient({});
  try {
    const res = await fetch(p.url, { method: "POST", body: '{"model":"x"}', client });
    const reader = res.body!.getReader();
    await reader.read();
    // Nothing finishes the stream, so after 50 ms the shutdown aborts it.
    const stopping = p.proxy.shutdown(50);
    await assert.rejects(async () => {
      for (let i = 0; i < 100; i++) if ((await reader.read()).done) return;
    });
    await stopping;
    await upstreamCancelled.promise;
    assert.deepEqual(p.releases, ["cancelled"]);
    assert.equal(p.handler.inFlight(), 0);
  } finally {
    more.open();
    client.close();
    await p.proxy.shutdown(0);
    p.clients.close();
    await up.server.shutdown();
  }

  const more2 = gate();
  const up2 = sseUpstream(more2.promise, () => {});
  const p2 = proxyFor(up2.origin);
  const client2 = Deno.createHttpClient({});
  try {
    const res = await fetch(p2.url, { method: "POST", body: '{"model":"x"}', client: client2 });
    const reader = res.body!.getReader();
    await reader.read();
    const stopping = p2.proxy.shutdown(10_000);
    more2.open();
    const second = await reader.read();
    assert.equal(new TextDecoder().decode(second.value), "data: 2\n\n");
    assert.equal((await reader.read()).done, true);
    await stopping;
    assert.deepEqual(p2.releases, ["ok"]);
  } finally {
    client2.close();
    await p2.proxy.shutdown(0);
    p2.clients.close();
    await up2.server.shutdown();
  }
});

Deno.test("a throwing handler yields a 500 in the OpenAI shape without a stack trace", async () => {
  const server = startProxyServer({
    hostname: "127.0.0.1",
    port: 0,
    handler: () => {
      throw new Error("secret internals at /src/x.ts:1");
    },
  });
  try {
    const res = await fetch(`http://127.0.0.1:${server.addr.port}/v1/models`);
    assert.equal(res.status, 500);
    const body = await res.json();
    assert.equal(body.error.code, "internal_error");
    assert.equal(body.error.type, "server_error");
    assert.doesNotMatch(JSON.stringify(body), /secret|\.ts/);
  } finally {
    await server.shutdown(0);
  }
});
