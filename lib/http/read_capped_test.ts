import assert from "node:assert/strict";
import { BodyTooLargeError, readCapped, readCappedText } from "./mod.ts";

/** A stream of the given chunks that records whether it was cancelled. */
function chunks(parts: string[]): { stream: ReadableStream<Uint8Array>; cancelled: () => boolean } {
  let cancelled = false;
  let i = 0;
  const enc = new TextEncoder();
  const stream = new ReadableStream<Uint8Array>({
    pull(c) {
      if (i < parts.length) c.enqueue(enc.encode(parts[i++]));
      else c.close();
    },
    cancel() {
      cancelled = true;
    },
  });
  return { stream, cancelled: () => cancelled };
}

Deno.test("readCapped returns the whole body under the cap and leaves a finished stream alone", async () => {
  const s = chunks(["ab", "cd", "e"]);
  assert.deepEqual(await readCappedText(s.stream, 5), { text: "abcde", truncated: false });
  assert.equal(s.cancelled(), false);
  assert.deepEqual(await readCapped(null, 10), { bytes: new Uint8Array(0), truncated: false });
});

Deno.test("readCapped throws BodyTooLargeError past the cap and cancels the stream", async () => {
  const s = chunks(["abc", "def", "never read"]);
  await assert.rejects(readCapped(s.stream, 5), (e: unknown) => {
    assert.ok(e instanceof BodyTooLargeError);
    assert.equal(e.limit, 5);
    assert.match(e.message, /^Cannot read body: it is larger than 5 bytes — /);
    return true;
  });
  assert.equal(s.cancelled(), true);
});

Deno.test("readCapped truncate mode keeps exactly maxBytes and cancels the rest", async () => {
  const s = chunks(["abc", "def", "ghi"]);
  assert.deepEqual(await readCappedText(s.stream, 4, { overflow: "truncate" }), {
    text: "abcd",
    truncated: true,
  });
  assert.equal(s.cancelled(), true);
  const exact = chunks(["abcd"]);
  assert.deepEqual(await readCappedText(exact.stream, 4, { overflow: "truncate" }), {
    text: "abcd",
    truncated: false,
  });
});

Deno.test("readCapped passes read errors on and refuses a negative cap", async () => {
  const failing = new ReadableStream<Uint8Array>({
    pull(c) {
      c.error(new TypeError("connection reset"));
    },
  });
  await assert.rejects(readCapped(failing, 10), /connection reset/);
  await assert.rejects(readCapped(null, -1), /Cannot read body as 'maxBytes' must be >= 0/);
});

Deno.test("readCapped over a real HTTP response: a 1 MiB answer against a 64 KiB cap", async () => {
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response("x".repeat(1 << 20)),
  );
  const res = await fetch(`http://127.0.0.1:${server.addr.port}/`);
  await assert.rejects(readCapped(res.body, 64 * 1024), BodyTooLargeError);
});
