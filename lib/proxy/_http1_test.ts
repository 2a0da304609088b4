import assert from "node:assert/strict";
import {
  encodeRequestHead,
  findHeadEnd,
  HttpProtocolError,
  parseChunkSize,
  parseResponseHead,
} from "./_http1.ts";

const enc = new TextEncoder();

function head(text: string, method = "POST") {
  const bytes = enc.encode(text);
  return parseResponseHead(bytes, 0, bytes.length, method);
}

Deno.test("findHeadEnd accepts CRLF and bare LF, and finds nothing in a partial head", () => {
  const crlf = enc.encode("HTTP/1.1 200 OK\r\na: b\r\n\r\nbody");
  assert.equal(findHeadEnd(crlf, 0, crlf.length), crlf.length - 4);
  const lf = enc.encode("HTTP/1.1 200 OK\na: b\n\nbody");
  assert.equal(findHeadEnd(lf, 0, lf.length), lf.length - 4);
  const partial = enc.encode("HTTP/1.1 200 OK\r\na: b\r\n\r");
  assert.equal(findHeadEnd(partial, 0, partial.length), -1);
});

Deno.test("framing follows RFC 9112 §6.3", () => {
  assert.deepEqual(head("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n").framing, {
    kind: "length",
    length: 12,
  });
  const both = head("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n");
  assert.equal(both.framing.kind, "chunked");
  assert.equal(both.keepAlive, false);
  assert.equal(head("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n").framing.kind, "close");
  assert.equal(head("HTTP/1.1 200 OK\r\n\r\n").keepAlive, false);
  assert.equal(head("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n").keepAlive, false);
  assert.equal(
    head("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 1\r\n\r\n").keepAlive,
    true,
  );
  assert.equal(head("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", "HEAD").framing.kind, "none");
  assert.equal(head("HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n").framing.kind, "none");
  assert.equal(head("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n").framing.kind, "length");
});

Deno.test("malformed heads are protocol errors", () => {
  for (
    const bad of [
      "HTTP/2 200 OK\r\n\r\n",
      "HTTP/1.1 20 OK\r\n\r\n",
      "HTTP/1.1 200 OK\r\n folded\r\n\r\n",
      "HTTP/1.1 200 OK\r\nname : v\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
      "HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
    ]
  ) {
    assert.throws(() => head(bad), HttpProtocolError, bad);
  }
});

Deno.test("chunk sizes: hex, extensions, whitespace; junk rejected", () => {
  const size = (s: string) => {
    const b = enc.encode(s);
    return parseChunkSize(b, 0, b.length);
  };
  assert.equal(size("1a"), 26);
  assert.equal(size("FF;name=value\r"), 255);
  assert.equal(size("0 \r"), 0);
  assert.throws(() => size("zz"), HttpProtocolError);
  assert.throws(() => size("12 34"), HttpProtocolError);
  assert.throws(() => size("1".repeat(14)), HttpProtocolError);
});

Deno.test("request head: client-owned fields replaced, content-length added", () => {
  const h = new Headers({ host: "evil", "content-length": "1", "x-a": "b", te: "trailers" });
  assert.equal(
    encodeRequestHead("POST", "/v1/x", "127.0.0.1:80", h, 3),
    "POST /v1/x HTTP/1.1\r\nhost: 127.0.0.1:80\r\nx-a: b\r\ncontent-length: 3\r\n\r\n",
  );
});

Deno.test("header fields keep arrival order; names outside RFC 9110 tokens are refused", () => {
  const h = head(
    "HTTP/1.1 200 OK\r\nX-B: 1\r\nSet-Cookie: a=1\r\nx-a:  two \r\nSet-Cookie: b=2\r\n\r\n",
  );
  assert.deepEqual(h.fields, [["X-B", "1"], ["Set-Cookie", "a=1"], ["x-a", "two"], [
    "Set-Cookie",
    "b=2",
  ]]);
  assert.equal(h.headers.get("x-a"), "two");
  assert.deepEqual(h.headers.getSetCookie(), ["a=1", "b=2"]);
  assert.equal(h.headers, h.headers, "built once");
  for (const bad of ["a(b: 1", "a/b: 1", 'a"b: 1', "a\u00e9: 1", "ok: a\u0000b"]) {
    assert.throws(() => head(`HTTP/1.1 200 OK\r\n${bad}\r\n\r\n`), HttpProtocolError, bad);
  }
});

Deno.test("header values are Latin-1 bytes, not UTF-8", () => {
  const bytes = new Uint8Array([
    ...enc.encode("HTTP/1.1 200 OK\r\nx-v: caf"),
    0xe9,
    0x0d,
    0x0a,
    0x0d,
    0x0a,
  ]);
  const h = parseResponseHead(bytes, 0, bytes.length, "GET");
  assert.deepEqual(h.fields, [["x-v", "caf\u00e9"]]);
});
