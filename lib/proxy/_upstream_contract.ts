/**
 * The one contract of {@linkcode UpstreamClient} (`upstream_types.ts`), run against both
 * implementations by `upstream_contract_test.ts`: the {@linkcode UpstreamPool} and the fetch
 * fallback. Each case talks to a raw TCP server that writes exactly the bytes it asks for, so
 * framing and failures are real. Implementation-specific behaviour (connection reuse, pool
 * limits, the stale keep-alive retry) stays in `upstream_pool_test.ts`.
 *
 * @module
 */
import assert from "node:assert/strict";
import { gate, rawServer, readChunks, text } from "./_testing.ts";
import type {
  BodyEnd,
  UpstreamClient,
  UpstreamClientOptions,
  UpstreamRequest,
} from "./upstream_types.ts";
import { UpstreamError } from "./upstream_types.ts";

export interface UpstreamContractCase {
  readonly name: string;
  /** `client(origin, options)` builds the client under test for one server origin. */
  run(client: (origin: string, options?: UpstreamClientOptions) => UpstreamClient): Promise<void>;
}

const encoder = new TextEncoder();

function hooks(): {
  events: string[];
  req: Pick<UpstreamRequest, "onFirstByte" | "onBodyEnd">;
  ended: Promise<BodyEnd>;
} {
  const events: string[] = [];
  const end = Promise.withResolvers<BodyEnd>();
  return {
    events,
    ended: end.promise,
    req: {
      onFirstByte: () => events.push("first"),
      onBodyEnd: (e) => {
        events.push(e);
        end.resolve(e);
      },
    },
  };
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  assert.fail("expected a rejection");
}

function closedPort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

export const UPSTREAM_CONTRACT: readonly UpstreamContractCase[] = [
  {
    name: "the request arrives as sent: method, path and query, body, end-to-end headers",
    async run(make) {
      const seen = Promise.withResolvers<
        { method: string; path: string; body: string; h: Map<string, string> }
      >();
      const server = rawServer(async (conn) => {
        const r = await conn.readRequest();
        if (!r) return;
        seen.resolve({ method: r.method, path: r.path, body: text(r.body), h: r.headers });
        await conn.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
      });
      const client = make(server.origin);
      try {
        const res = await client.request({
          method: "POST",
          url: `${server.origin}/v1/chat/completions?stream=false`,
          headers: [["content-type", "application/json"], ["x-request-id", "abc"]],
          body: encoder.encode('{"model":"m"}'),
        });
        await readChunks(res.body ?? new ReadableStream({ start: (c) => c.close() }));
        const got = await seen.promise;
        assert.equal(got.method, "POST");
        assert.equal(got.path, "/v1/chat/completions?stream=false");
        assert.equal(got.body, '{"model":"m"}');
        assert.equal(got.h.get("content-type"), "application/json");
        assert.equal(got.h.get("x-request-id"), "abc");
        assert.equal(got.h.get("content-length"), "13");
        assert.equal(got.h.get("host"), new URL(server.origin).host);
      } finally {
        client.close();
        await server.close();
      }
    },
  },
  {
    name: "a Content-Length answer: status, headers, body; first byte then done, once each",
    async run(make) {
      const server = rawServer(async (conn) => {
        if (!(await conn.readRequest())) return;
        await conn.write(
          'HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nX-Up: 1\r\nContent-Length: 11\r\n\r\n{"ok":true}',
        );
      });
      const client = make(server.origin);
      const h = hooks();
      try {
        const res = await client.request({
          method: "GET",
          url: `${server.origin}/v1/models`,
          headers: [],
          body: null,
          ...h.req,
        });
        assert.equal(res.status, 201);
        assert.equal(res.headers.get("x-up"), "1");
        const body = res.bytes !== undefined
          ? text(res.bytes)
          : (await readChunks(res.body!)).join("");
        assert.equal(body, '{"ok":true}');
        assert.equal(await h.ended, "done");
        assert.deepEqual(h.events, ["first", "done"]);
      } finally {
        client.close();
        await server.close();
      }
    },
  },
  {
    name: "a chunked answer streams each chunk before the next is sent, then ends done",
    async run(make) {
      const next = gate();
      const server = rawServer(async (conn) => {
        if (!(await conn.readRequest())) return;
        await conn.write(
          "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n" +
            "6\r\ndata:1\r\n",
        );
        await next.promise;
        await conn.write("6\r\ndata:2\r\n0\r\n\r\n");
      });
      const client = make(server.origin);
      const h = hooks();
      const seen: string[] = [];
      try {
        const res = await client.request({
          method: "POST",
          url: `${server.origin}/v1/completions`,
          headers: [],
          body: encoder.encode("{}"),
          ...h.req,
          onData: (chunk) => seen.push(text(chunk)),
        });
        const reader = res.body!.getReader();
        const first = await reader.read();
        assert.deepEqual(seen, ["data:1"], "onData sees a piece as it is handed over");
        assert.equal(
          text(first.value!),
          "data:1",
          "the first chunk came before the second was sent",
        );
        next.open();
        let rest = "";
        for (;;) {
          const r = await reader.read();
          if (r.done) break;
          rest += text(r.value);
        }
        assert.equal(rest, "data:2");
        assert.equal(seen.join(""), "data:1data:2");
        assert.equal(await h.ended, "done");
        assert.deepEqual(h.events, ["first", "done"]);
      } finally {
        client.close();
        await server.close();
      }
    },
  },
  {
    name: "204 and HEAD answers have a null body and end done",
    async run(make) {
      const server = rawServer(async (conn) => {
        const a = await conn.readRequest();
        if (!a) return;
        await conn.write("HTTP/1.1 204 No Content\r\n\r\n");
        if (!(await conn.readRequest())) return;
        await conn.write("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
      });
      const client = make(server.origin);
      try {
        for (const method of ["DELETE", "HEAD"]) {
          const h = hooks();
          const res = await client.request({
            method,
            url: `${server.origin}/x`,
            headers: [],
            body: null,
            ...h.req,
          });
          assert.equal(res.body, null, method);
          assert.equal(await h.ended, "done");
        }
      } finally {
        client.close();
        await server.close();
      }
    },
  },
  {
    name: "connection refused rejects with UpstreamError kind connect",
    async run(make) {
      const origin = `http://127.0.0.1:${closedPort()}`;
      const client = make(origin);
      try {
        const err = await rejection(
          client.request({ method: "GET", url: `${origin}/v1/models`, headers: [], body: null }),
        );
        assert.ok(err instanceof UpstreamError, String(err));
        assert.equal(err.kind, "connect");
      } finally {
        client.close();
      }
    },
  },
  {
    name: "no response head within firstByteTimeoutMs rejects with kind timeout",
    async run(make) {
      const release = gate();
      const server = rawServer(async (conn) => {
        if (!(await conn.readRequest())) return;
        await Promise.race([release.promise, conn.waitClosed()]);
      });
      const client = make(server.origin, { firstByteTimeoutMs: 150 });
      try {
        const err = await rejection(
          client.request({ method: "GET", url: `${server.origin}/slow`, headers: [], body: null }),
        );
        assert.ok(err instanceof UpstreamError, String(err));
        assert.equal(err.kind, "timeout");
      } finally {
        release.open();
        client.close();
        await server.close();
      }
    },
  },
  {
    name: "aborting before the head rejects with the signal's reason and closes the connection",
    async run(make) {
      const closed = Promise.withResolvers<boolean>();
      const received = gate();
      const server = rawServer(async (conn) => {
        if (!(await conn.readRequest())) return;
        received.open();
        closed.resolve(await conn.waitClosed());
      });
      const client = make(server.origin);
      const ac = new AbortController();
      try {
        const pending = client.request({
          method: "GET",
          url: `${server.origin}/slow`,
          headers: [],
          body: null,
          signal: ac.signal,
        });
        await received.promise;
        const reason = new Error("Cannot wait for the answer: the client went away");
        ac.abort(reason);
        assert.equal(await rejection(pending), reason);
        assert.equal(await closed.promise, true, "the upstream connection stayed open");
      } finally {
        client.close();
        await server.close();
      }
    },
  },
  {
    name: "cancelling the body reports cancelled",
    async run(make) {
      const server = rawServer(async (conn) => {
        if (!(await conn.readRequest())) return;
        await conn.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n");
        await conn.waitClosed();
      });
      const client = make(server.origin);
      const h = hooks();
      try {
        const res = await client.request({
          method: "GET",
          url: `${server.origin}/stream`,
          headers: [],
          body: null,
          ...h.req,
        });
        const reader = res.body!.getReader();
        await reader.read();
        await reader.cancel();
        assert.equal(await h.ended, "cancelled");
      } finally {
        client.close();
        await server.close();
      }
    },
  },
  {
    name: "a body cut mid-stream errors the stream and reports failed",
    async run(make) {
      const server = rawServer(async (conn) => {
        if (!(await conn.readRequest())) return;
        await conn.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial");
        conn.close();
      });
      const client = make(server.origin);
      const h = hooks();
      try {
        const res = await client.request({
          method: "GET",
          url: `${server.origin}/cut`,
          headers: [],
          body: null,
          ...h.req,
        });
        await assert.rejects(readChunks(res.body!));
        assert.equal(await h.ended, "failed");
      } finally {
        client.close();
        await server.close();
      }
    },
  },
];
