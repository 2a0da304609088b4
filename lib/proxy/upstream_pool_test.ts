import assert from "node:assert/strict";
import { gate, rawServer, readChunks, text } from "./_testing.ts";
import { FetchUpstreamClient, UpstreamError, UpstreamPool } from "./upstream_client.ts";

const encoder = new TextEncoder();

function post(
  url: string,
  body = "{}",
  init: { signal?: AbortSignal; headers?: HeadersInit } = {},
) {
  return {
    method: "POST",
    url,
    headers: new Headers(init.headers ?? { "content-type": "application/json" }),
    body: encoder.encode(body),
    signal: init.signal,
  };
}

async function rejects(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  assert.fail("expected a rejection");
}

Deno.test("content-length body, request head as written, hop-by-hop request headers dropped", async () => {
  const seen: string[] = [];
  let seenBody = "";
  const server = rawServer(async (conn) => {
    const req = await conn.readRequest();
    assert(req);
    seen.push(req.head);
    seenBody = text(req.body);
    await conn.write("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Foo: bar\r\n\r\nhello");
    await conn.waitClosed();
  });
  const pool = new UpstreamPool(server.origin);
  try {
    const res = await pool.request(post(`${server.origin}/v1/chat/completions?x=1`, '{"a":1}', {
      headers: { "content-type": "application/json", connection: "x-secret", "keep-alive": "5" },
    }));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("x-foo"), "bar");
    assert(res.body);
    assert.deepEqual(await readChunks(res.body), ["hello"]);
    const head = seen[0];
    assert.match(head, /^POST \/v1\/chat\/completions\?x=1 HTTP\/1\.1\r\n/);
    assert.match(head, new RegExp(`\r\nhost: 127\\.0\\.0\\.1:${server.port}\r\n`));
    assert.match(head, /\r\ncontent-length: 7(\r\n|$)/);
    assert.doesNotMatch(head, /connection|keep-alive/i);
    assert.equal(seenBody, '{"a":1}');
    assert.deepEqual(pool.stats(), { total: 1, idle: 1, busy: 0, waiting: 0 });
  } finally {
    pool.close();
    await server.close();
  }
});

Deno.test("chunked body with extensions and trailers arrives chunk by chunk; connection reused", async () => {
  let requests = 0;
  const server = rawServer(async (conn) => {
    for (;;) {
      const req = await conn.readRequest();
      if (!req) return;
      requests++;
      await conn.write(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
          "5;name=value\r\nhello\r\n6 \r\n world\r\n0\r\nX-Trailer: t\r\n\r\n",
      );
    }
  });
  const pool = new UpstreamPool(server.origin);
  try {
    for (let i = 0; i < 3; i++) {
      const res = await pool.request(post(`${server.origin}/x`));
      assert(res.body);
      assert.deepEqual(await readChunks(res.body), ["hello", " world"]);
    }
    assert.equal(requests, 3);
    assert.equal(server.connections, 1);
  } finally {
    pool.close();
    await server.close();
  }
});

Deno.test("a chunk split across TCP writes is emitted before the rest arrives", async () => {
  const firstSeen = gate();
  const server = rawServer(async (conn) => {
    await conn.readRequest();
    await conn.write("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhel");
    await firstSeen.promise;
    await conn.write("lo\r\n");
    await conn.write("3\r\n");
    await conn.write("abc\r\n0\r\n\r\n");
    await conn.waitClosed();
  });
  const pool = new UpstreamPool(server.origin);
  try {
    const res = await pool.request(post(server.origin + "/"));
    assert(res.body);
    const reader = res.body.getReader();
    const first = await reader.read();
    assert.equal(text(first.value!), "hel");
    firstSeen.open();
    const rest: string[] = [];
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      rest.push(text(r.value));
    }
    assert.equal(rest.join(""), "loabc");
    assert.equal(pool.stats().idle, 1);
  } finally {
    pool.close();
    await server.close();
  }
});

Deno.test("close-delimited body reads to EOF and the connection is not reused", async () => {
  const server = rawServer(async (conn) => {
    await conn.readRequest();
    await conn.write("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nabc");
    await conn.write("def");
  });
  const pool = new UpstreamPool(server.origin);
  try {
    const res = await pool.request(post(server.origin + "/"));
    assert(res.body);
    assert.equal((await readChunks(res.body)).join(""), "abcdef");
    assert.deepEqual(pool.stats(), { total: 0, idle: 0, busy: 0, waiting: 0 });
  } finally {
    pool.close();
    await server.close();
  }
});

Deno.test("a close-delimited SSE or JSON body cut mid-event is an error, not a clean end", async () => {
  const bodies = [
    ["text/event-stream", 'data: {"a":1}\n\ndata: {"b"', true],
    ["text/event-stream; charset=utf-8", 'data: {"a":1}\n\ndata: [DONE]\n\n', false],
    ["application/json", '{"choices":[{"text":"he', true],
    ["application/json", '{"choices":[]}\n', false],
    ["text/plain", "anything at all", false],
  ] as const;
  let next = 0;
  const server = rawServer(async (conn) => {
    await conn.readRequest();
    const [type, body] = bodies[next++];
    await conn.write(`HTTP/1.1 200 OK\r\ncontent-type: ${type}\r\n\r\n${body}`);
  });
  const pool = new UpstreamPool(server.origin);
  try {
    for (const [type, body, cut] of bodies) {
      const ends: string[] = [];
      const res = await pool.request({
        ...post(server.origin + "/"),
        onBodyEnd: (end) => void ends.push(end),
      });
      assert(res.body);
      if (cut) {
        const err = await rejects(readChunks(res.body));
        assert.ok(err instanceof UpstreamError, `${type}: ${err}`);
        assert.match(err.message, /closed in the middle/);
        assert.deepEqual(ends, ["failed"]);
      } else {
        assert.equal((await readChunks(res.body)).join(""), body);
        assert.deepEqual(ends, ["done"]);
      }
    }
  } finally {
    pool.close();
    await server.close();
  }
});

Deno.test("Connection: close is honoured; 1xx skipped; 204 and HEAD have no body", async () => {
  const server = rawServer(async (conn) => {
    for (;;) {
      const req = await conn.readRequest();
      if (!req) return;
      if (req.path === "/close") {
        await conn.write("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok");
        return;
      }
      if (req.path === "/continue") {
        await conn.write(
          "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\n",
        );
        await conn.write("HTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nz");
      } else if (req.path === "/204") {
        await conn.write("HTTP/1.1 204 No Content\r\n\r\n");
      } else {
        await conn.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n");
      }
    }
  });
  const pool = new UpstreamPool(server.origin);
  try {
    const closed = await pool.request(post(server.origin + "/close"));
    assert.deepEqual(await readChunks(closed.body!), ["ok"]);
    assert.equal(pool.stats().total, 0);
    const created = await pool.request(post(server.origin + "/continue"));
    assert.equal(created.status, 201);
    assert.deepEqual(await readChunks(created.body!), ["z"]);
    const empty = await pool.request(post(server.origin + "/204"));
    assert.equal(empty.status, 204);
    assert.equal(empty.body, null);
    const head = await pool.request({
      method: "HEAD",
      url: server.origin + "/head",
      headers: new Headers(),
      body: null,
    });
    assert.equal(head.headers.get("content-length"), "100");
    assert.equal(head.body, null);
    // All three after the close ran on one reused connection.
    assert.equal(server.connections, 2);
  } finally {
    pool.close();
    await server.close();
  }
});

Deno.test("idle connection closed by the server is dropped; the next request succeeds", async () => {
  const closedByServer = gate();
  const server = rawServer(async (conn) => {
    await conn.readRequest();
    await conn.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    if (conn.index === 0) {
      conn.close();
      closedByServer.open();
      return;
    }
    await conn.waitClosed();
  });
  const pool = new UpstreamPool(server.origin);
  try {
    const a = await pool.request(post(server.origin + "/"));
    assert.deepEqual(await readChunks(a.body!), ["ok"]);
    await closedByServer.promise;
    const b = await pool.request(post(server.origin + "/"));
    assert.deepEqual(await readChunks(b.body!), ["ok"]);
    assert.equal(server.connections, 2);
  } finally {
    pool.close();
    await server.close();
  }
});

Deno.test("stale keep-alive race: reused connection closed before any response byte is retried once", async () => {
  const bodies: string[] = [];
  const server = rawServer(async (conn) => {
    for (let i = 0;; i++) {
      const req = await conn.readRequest();
      if (!req) return;
      bodies.push(text(req.body));
      // First connection: answer once, then take the second request and hang up on it.
      if (conn.index === 0 && i === 1) return;
      await conn.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    }
  });
  const pool = new UpstreamPool(server.origin);
  try {
    const a = await pool.request(post(server.origin + "/", "one"));
    assert.deepEqual(await readChunks(a.body!), ["ok"]);
    const b = await pool.request(post(server.origin + "/", "two"));
    assert.deepEqual(await readChunks(b.body!), ["ok"]);
    assert.deepEqual(bodies, ["one", "two", "two"]);
    assert.equal(server.connections, 2);
  } finally {
    pool.close();
    await server.close();
  }
});

Deno.test("a fresh connection closed before headers is a reset error, not retried", async () => {
  const server = rawServer(async (conn) => {
    await conn.readRequest();
  });
  const pool = new UpstreamPool(server.origin);
  try {
    const err = await rejects(pool.request(post(server.origin + "/")));
    assert(err instanceof UpstreamError);
    assert.equal(err.kind, "reset");
    assert.equal(server.connections, 1);
    assert.equal(pool.stats().total, 0);
  } finally {
    pool.close();
    await server.close();
  }
});

Deno.test("malformed status line and oversized headers are protocol errors", async () => {
  const server = rawServer(async (conn) => {
    const req = await conn.readRequest();
    if (req?.path === "/bad") await conn.write("HTTP/1.1 2OO OK\r\nContent-Length: 0\r\n\r\n");
    else await conn.write("HTTP/1.1 200 OK\r\nX-Big: " + "a".repeat(4000) + "\r\n\r\n");
    await conn.waitClosed();
  });
  const pool = new UpstreamPool(server.origin, { maxHeaderBytes: 1024 });
  try {
    const bad = await rejects(pool.request(post(server.origin + "/bad")));
    assert(bad instanceof UpstreamError);
    assert.equal(bad.kind, "protocol");
    assert.match(bad.message, /status line/);
    const big = await rejects(pool.request(post(server.origin + "/big")));
    assert(big instanceof UpstreamError);
    assert.equal(big.kind, "protocol");
    assert.match(big.message, /exceeds 1024 bytes/);
    assert.equal(pool.stats().total, 0);
  } finally {
    pool.close();
    await server.close();
  }
});

Deno.test("slow first byte times out; silence mid-body times out the stream", async () => {
  const server = rawServer(async (conn) => {
    const req = await conn.readRequest();
    if (req?.path === "/body") {
      await conn.write("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1\r\na\r\n");
    }
    await conn.waitClosed();
  });
  const pool = new UpstreamPool(server.origin, { firstByteTimeoutMs: 50, idleTimeoutMs: 50 });
  try {
    const err = await rejects(pool.request(post(server.origin + "/slow")));
    assert(err instanceof UpstreamError);
    assert.equal(err.kind, "timeout");
    const res = await pool.request(post(server.origin + "/body"));
    const reader = res.body!.getReader();
    assert.equal(text((await reader.read()).value!), "a");
    const mid = await rejects(reader.read());
    assert(mid instanceof UpstreamError);
    assert.equal(mid.kind, "timeout");
    assert.equal(pool.stats().total, 0);
  } finally {
    pool.close();
    await server.close();
  }
});

Deno.test("connection refused is a connect error", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const pool = new UpstreamPool(`http://127.0.0.1:${port}`);
  try {
    const err = await rejects(pool.request(post(`http://127.0.0.1:${port}/`)));
    assert(err instanceof UpstreamError);
    assert.equal(err.kind, "connect");
    assert.equal(pool.stats().total, 0);
  } finally {
    pool.close();
  }
});

Deno.test("cancelling the body mid-stream closes the socket; it is not reused", async () => {
  const serverSawClose = gate<boolean>();
  const server = rawServer(async (conn) => {
    await conn.readRequest();
    if (conn.index === 0) {
      await conn.write("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\none\r\n");
      serverSawClose.open(await conn.waitClosed());
      return;
    }
    await conn.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
    await conn.waitClosed();
  });
  const pool = new UpstreamPool(server.origin);
  try {
    const res = await pool.request(post(server.origin + "/"));
    const reader = res.body!.getReader();
    assert.equal(text((await reader.read()).value!), "one");
    await reader.cancel();
    assert.equal(await serverSawClose.promise, true);
    assert.equal(pool.stats().total, 0);
    const next = await pool.request(post(server.origin + "/"));
    assert.deepEqual(await readChunks(next.body!), ["ok"]);
    assert.equal(server.connections, 2);
  } finally {
    pool.close();
    await server.close();
  }
});

Deno.test("aborting the signal before headers and mid-body closes the socket", async () => {
  const closes: boolean[] = [];
  const sent = gate();
  const server = rawServer(async (conn) => {
    const req = await conn.readRequest();
    if (req?.path === "/body") {
      await conn.write("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\none\r\n");
    } else {
      sent.open();
    }
    closes.push(await conn.waitClosed());
  });
  const pool = new UpstreamPool(server.origin);
  try {
    const early = new AbortController();
    const pending = pool.request(post(server.origin + "/head", "{}", { signal: early.signal }));
    await sent.promise;
    early.abort(new Error("client left"));
    const err = await rejects(pending);
    assert.equal((err as Error).message, "client left");

    const late = new AbortController();
    const res = await pool.request(post(server.origin + "/body", "{}", { signal: late.signal }));
    const reader = res.body!.getReader();
    assert.equal(text((await reader.read()).value!), "one");
    late.abort(new Error("gone mid-body"));
    const mid = await rejects(reader.read());
    assert.equal((mid as Error).message, "gone mid-body");
    assert.equal(pool.stats().total, 0);
  } finally {
    pool.close();
    await server.close();
  }
  assert.deepEqual(closes, [true, true]);
});

Deno.test("the pool never opens more than maxConnections; waiters get released connections", async () => {
  const release = gate();
  let active = 0;
  let peak = 0;
  const server = rawServer(async (conn) => {
    for (;;) {
      const req = await conn.readRequest();
      if (!req) return;
      active++;
      peak = Math.max(peak, active);
      await release.promise;
      active--;
      await conn.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
    }
  });
  const pool = new UpstreamPool(server.origin, { maxConnections: 2 });
  try {
    // Each body is read as soon as its response arrives: that is what frees the connection.
    const pending = Array.from(
      { length: 5 },
      () => pool.request(post(server.origin + "/")).then((res) => readChunks(res.body!)),
    );
    pending.forEach((p) => p.catch(() => {}));
    for (let i = 0; i < 400 && (active < 2 || pool.stats().waiting < 3); i++) {
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.deepEqual(pool.stats(), { total: 2, idle: 0, busy: 2, waiting: 3 });
    release.open();
    for (const chunks of await Promise.all(pending)) assert.deepEqual(chunks, ["ok"]);
    assert.equal(server.connections, 2);
    assert.equal(peak, 2);
    assert.equal(pool.stats().total, 2);
  } finally {
    pool.close();
    await server.close();
  }
});

Deno.test("a waiter leaves the queue when its signal aborts", async () => {
  const release = gate();
  const server = rawServer(async (conn) => {
    await conn.readRequest();
    await release.promise;
    await conn.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
    await conn.waitClosed();
  });
  const pool = new UpstreamPool(server.origin, { maxConnections: 1 });
  try {
    const first = pool.request(post(server.origin + "/"));
    const controller = new AbortController();
    const second = pool.request(post(server.origin + "/", "{}", { signal: controller.signal }));
    first.catch(() => {});
    second.catch(() => {});
    for (let i = 0; i < 200 && pool.stats().waiting < 1; i++) {
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.equal(pool.stats().waiting, 1);
    controller.abort(new Error("stop waiting"));
    assert.equal(((await rejects(second)) as Error).message, "stop waiting");
    assert.equal(pool.stats().waiting, 0);
    release.open();
    assert.deepEqual(await readChunks((await first).body!), ["ok"]);
  } finally {
    pool.close();
    await server.close();
  }
});

Deno.test("a request for another origin is refused", async () => {
  const pool = new UpstreamPool("http://127.0.0.1:9");
  try {
    await assert.rejects(pool.request(post("http://127.0.0.2:9/")), TypeError);
  } finally {
    pool.close();
  }
});

Deno.test("FetchUpstreamClient (https fallback) streams, reports hooks and classifies connect errors", async () => {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const body = await req.text();
    return new Response(`echo:${body}:${req.headers.get("accept-encoding")}`, {
      headers: { "x-up": "1" },
    });
  });
  const client = new FetchUpstreamClient();
  const events: string[] = [];
  try {
    const res = await client.request({
      ...post(`http://127.0.0.1:${server.addr.port}/v1/x`, "hi"),
      onFirstByte: () => events.push("first"),
      onBodyEnd: (end) => events.push(end),
    });
    assert.equal(res.headers.get("x-up"), "1");
    res.headers.set("x-editable", "yes");
    assert.deepEqual(await readChunks(res.body!), ["echo:hi:identity"]);
    assert.deepEqual(events, ["first", "done"]);

    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    listener.close();
    const err = await rejects(client.request(post(`http://127.0.0.1:${port}/`)));
    assert(err instanceof UpstreamError);
    assert.equal(err.kind, "connect");
  } finally {
    client.close();
    await server.shutdown();
  }
});

Deno.test("pool hooks: buffered bodies end before request() resolves; streamed ones on completion", async () => {
  const server = rawServer(async (conn) => {
    for (;;) {
      const req = await conn.readRequest();
      if (!req) return;
      if (req.path === "/small") await conn.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
      else {await conn.write(
          "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n",
        );}
    }
  });
  const pool = new UpstreamPool(server.origin);
  try {
    const events: string[] = [];
    const hooks = {
      onFirstByte: () => events.push("first"),
      onBodyEnd: (end: string) => events.push(end),
    };
    const small = await pool.request({ ...post(server.origin + "/small"), ...hooks });
    assert.deepEqual(events, ["first", "done"]);
    assert.equal(text(small.bytes!), "ok");
    assert.deepEqual(await readChunks(small.body!), ["ok"], "body is still readable");
    events.length = 0;
    const streamed = await pool.request({ ...post(server.origin + "/chunked"), ...hooks });
    assert.equal(streamed.bytes, undefined);
    assert.deepEqual(events, []);
    assert.deepEqual(await readChunks(streamed.body!), ["ab"]);
    assert.deepEqual(events, ["first", "done"]);
    events.length = 0;
    const cancelled = await pool.request({ ...post(server.origin + "/chunked"), ...hooks });
    await cancelled.body!.cancel();
    assert.deepEqual(events, ["cancelled"]);
  } finally {
    pool.close();
    await server.close();
  }
});
