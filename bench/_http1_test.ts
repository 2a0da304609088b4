import assert from "node:assert/strict";
import { postRequest, ResponseReader, SseSplitter } from "./_http1.ts";
import { summarize } from "./_stats.ts";

const enc = new TextEncoder();

function feedInPieces(reader: ResponseReader, text: string, sizes: number[]): void {
  const bytes = enc.encode(text);
  let off = 0;
  for (const n of sizes) {
    if (off >= bytes.length) break;
    reader.feed(bytes.subarray(off, off + n));
    off += n;
  }
  if (off < bytes.length) reader.feed(bytes.subarray(off));
}

Deno.test("ResponseReader reads a content-length response split anywhere", () => {
  const text = 'HTTP/1.1 200 OK\r\ncontent-length: 11\r\ncontent-type: a/b\r\n\r\n{"ok":true}';
  for (let cut = 1; cut < text.length; cut++) {
    const body: Uint8Array[] = [];
    const r = new ResponseReader((b) => body.push(b.slice()));
    feedInPieces(r, text, [cut]);
    assert.equal(r.done, true, `cut at ${cut}`);
    assert.equal(r.head?.status, 200);
    assert.equal(r.head?.close, false);
    assert.equal(new TextDecoder().decode(concat(body)), '{"ok":true}');
  }
});

Deno.test("ResponseReader de-chunks, sees trailers end, and resets for keep-alive", () => {
  const text = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n" +
    "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n";
  const body: Uint8Array[] = [];
  const r = new ResponseReader((b) => body.push(b.slice()));
  feedInPieces(r, text, [3, 50, 2, 1, 7, 4]);
  assert.equal(r.done, true);
  assert.equal(r.head?.close, true);
  assert.equal(new TextDecoder().decode(concat(body)), "hello world");
  r.reset();
  assert.equal(r.done, false);
  r.feed(enc.encode("HTTP/1.1 204 No Content\r\n\r\n"));
  assert.equal(r.done, true);
  assert.equal(r.head?.status, 204);
});

Deno.test("ResponseReader rejects bytes after the response and unframed bodies", () => {
  const r = new ResponseReader();
  assert.throws(
    () => r.feed(enc.encode("HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\nab")),
    /unexpected/,
  );
  const u = new ResponseReader();
  assert.throws(() => u.feed(enc.encode("HTTP/1.1 200 OK\r\n\r\n")), /not supported/);
});

Deno.test("SseSplitter counts events per push and reads the mock's stamps", () => {
  const s = new SseSplitter();
  const ev = (i: number) =>
    `data: {"x":1,"mock_index":${i},"mock_sent_at_ms":1795665438309.5352}\n\n`;
  const two = ev(0) + ev(1);
  assert.equal(s.push(enc.encode(two.slice(0, 10))).length, 0);
  const got = s.push(enc.encode(two.slice(10)));
  assert.equal(got.length, 2, "two events completed by one read = one merged read");
  assert.deepEqual(got[1], { index: 1, sentAtMs: 1795665438309.5352, done: false });
  const done = s.push(enc.encode("data: [DONE]\n\n"));
  assert.deepEqual(done, [{ index: -1, sentAtMs: NaN, done: true }]);
});

Deno.test("postRequest frames the body with its byte length", () => {
  const req = new TextDecoder().decode(postRequest("h:1", "/v1/x", '{"m":"é"}'));
  assert.match(req, /^POST \/v1\/x HTTP\/1\.1\r\n/);
  assert.match(req, /content-length: 10\r\n/);
  assert.ok(req.endsWith('\r\n\r\n{"m":"é"}'));
});

Deno.test("summarize uses nearest-rank percentiles", () => {
  const s = summarize(Array.from({ length: 100 }, (_, i) => 100 - i));
  assert.equal(s.p50, 50);
  assert.equal(s.p99, 99);
  assert.equal(s.max, 100);
  assert.equal(s.n, 100);
  assert.ok(Number.isNaN(summarize([]).p50));
});

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
