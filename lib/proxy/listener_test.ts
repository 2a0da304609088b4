import assert from "node:assert/strict";
import { createDataPlaneMetrics, Registry } from "../telemetry/mod.ts";
import { type ProxyServer, startProxyServer } from "./server.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

async function counter(
  metric: { get(): Promise<{ values: { value: number; labels: Record<string, unknown> }[] }> },
  labels: Record<string, string> = {},
): Promise<number> {
  const { values } = await metric.get();
  return values
    .filter((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))
    .reduce((sum, v) => sum + v.value, 0);
}

/** Reads until the peer closes (or `limit` bytes), bounded by `ms`; returns the text and why. */
async function readUntilClosed(
  conn: Deno.Conn,
  ms: number,
): Promise<{ text: string; closed: boolean }> {
  let text = "";
  const buf = new Uint8Array(4096);
  const timer = setTimeout(() => conn.close(), ms);
  try {
    for (let i = 0; i < 1000; i++) {
      const n = await conn.read(buf);
      if (n === null) return { text, closed: true };
      text += dec.decode(buf.subarray(0, n));
    }
    return { text, closed: false };
  } catch {
    return { text, closed: false };
  } finally {
    clearTimeout(timer);
  }
}

function start(
  limits: { maxConnections?: number; headerTimeoutMs?: number; idleTimeoutMs?: number },
  handler: (req: Request) => Response | Promise<Response> = () => new Response("ok"),
) {
  const metrics = createDataPlaneMetrics(new Registry());
  const server: ProxyServer = startProxyServer({
    hostname: "127.0.0.1",
    port: 0,
    handler,
    limits,
    metrics,
  });
  const connect = () => Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  return { server, metrics, connect };
}

Deno.test("a connection without a complete request head is closed after header_timeout_ms", async () => {
  const t = start({ headerTimeoutMs: 100 });
  try {
    const silent = await t.connect();
    const half = await t.connect();
    await half.write(enc.encode("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-"));
    for (const conn of [silent, half]) {
      const { text, closed } = await readUntilClosed(conn, 5_000);
      assert.ok(closed, "the server closed the connection");
      assert.equal(text, "", "nothing is answered to a head that never completed");
      conn.close();
    }
    assert.equal(await counter(t.metrics.rejected, { reason: "head_timeout" }), 2);
    assert.equal(t.server.openConnections(), 0);
  } finally {
    await t.server.shutdown(0);
  }
});

Deno.test("an idle keep-alive connection is closed after client_idle_timeout_ms", async () => {
  const t = start({ idleTimeoutMs: 100, headerTimeoutMs: 5_000 });
  try {
    const conn = await t.connect();
    await conn.write(enc.encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    const { text, closed } = await readUntilClosed(conn, 5_000);
    conn.close();
    assert.match(text, /^HTTP\/1\.1 200 OK/);
    assert.ok(closed);
    assert.equal(await counter(t.metrics.rejected, { reason: "idle_timeout" }), 1);
  } finally {
    await t.server.shutdown(0);
  }
});

Deno.test("a connection busy answering is never closed by the idle or head timers", async () => {
  const t = start({ idleTimeoutMs: 50, headerTimeoutMs: 50 }, () => {
    let n = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(c) {
        await new Promise((r) => setTimeout(r, 40));
        c.enqueue(enc.encode(`data: ${n}\n\n`));
        if (++n === 8) c.close();
      },
    });
    return new Response(body, { headers: { "content-type": "text/event-stream" } });
  });
  try {
    const res = await fetch(`http://127.0.0.1:${t.server.addr.port}/`);
    const text = await res.text();
    assert.equal(text.split("data:").length - 1, 8, "all 8 events arrived (~320 ms > timers)");
  } finally {
    await t.server.shutdown(0);
  }
});

Deno.test("past max_connections a new connection gets 503 + Retry-After, then service resumes", async () => {
  const t = start({ maxConnections: 2, headerTimeoutMs: 10_000 });
  const held: Deno.Conn[] = [];
  try {
    held.push(await t.connect(), await t.connect());
    // Both are accepted before the third arrives.
    for (let i = 0; i < 200 && t.server.openConnections() < 2; i++) {
      await new Promise((r) => setTimeout(r, 5));
    }
    const third = await t.connect();
    const { text, closed } = await readUntilClosed(third, 5_000);
    third.close();
    assert.ok(closed);
    assert.match(text, /^HTTP\/1\.1 503 Service Unavailable\r\n/);
    assert.match(text, /\r\nretry-after: 1\r\n/);
    assert.match(text, /max_connections/);
    assert.equal(await counter(t.metrics.rejected, { reason: "connection_cap" }), 1);
    for (const c of held.splice(0)) c.close();
    for (let i = 0; i < 200 && t.server.openConnections() > 0; i++) {
      await new Promise((r) => setTimeout(r, 5));
    }
    const res = await fetch(`http://127.0.0.1:${t.server.addr.port}/`);
    assert.equal(await res.text(), "ok");
  } finally {
    for (const c of held) c.close();
    await t.server.shutdown(0);
  }
});

Deno.test("shutdown closes idle connections at once and lets a busy one finish", async () => {
  const { promise: release, resolve } = Promise.withResolvers<void>();
  const arrived = Promise.withResolvers<void>();
  const t = start({ headerTimeoutMs: 10_000, idleTimeoutMs: 10_000 }, async (req) => {
    if (new URL(req.url).pathname === "/warm") return new Response("warm");
    arrived.resolve();
    await release;
    return new Response("late but whole");
  });
  const idle = await t.connect();
  try {
    // A keep-alive connection that already served a request and now sits idle.
    await idle.write(enc.encode("GET /warm HTTP/1.1\r\nHost: x\r\n\r\n"));
    await idle.read(new Uint8Array(4096));
    const busy = fetch(`http://127.0.0.1:${t.server.addr.port}/`);
    await arrived.promise;
    const stopping = t.server.shutdown(10_000);
    const { closed } = await readUntilClosed(idle, 5_000);
    assert.ok(closed, "the idle connection is closed right away");
    resolve();
    assert.equal(await (await busy).text(), "late but whole");
    await stopping;
  } finally {
    idle.close();
    resolve();
    await t.server.shutdown(0);
  }
});
