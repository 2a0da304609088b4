import assert from "node:assert/strict";
import fc from "fast-check";
import { extractUsage, mergeUsageRows, TailBuffer, tapUsage, UsageLedger } from "./usage.ts";

const U = { prompt_tokens: 12, completion_tokens: 30, total_tokens: 42 };

Deno.test("extractUsage reads a JSON answer's usage and a stream's final usage chunk", () => {
  const json = JSON.stringify({
    id: "c1",
    choices: [{ message: { content: 'he said "usage":{"prompt_tokens":999}' } }],
    usage: U,
  });
  assert.deepEqual(extractUsage(json), U);
  const sse = [
    `data: {"choices":[{"delta":{"content":"hi"}}],"usage":null}`,
    `data: {"choices":[],"usage":${JSON.stringify(U)}}`,
    "data: [DONE]",
    "",
  ].join("\n\n");
  assert.deepEqual(extractUsage(sse), U);
  assert.equal(extractUsage(`data: {"choices":[],"usage":null}\n\ndata: [DONE]`), null);
  // Only completion tokens missing (embeddings): total stands, completion is 0.
  assert.deepEqual(extractUsage(`{"usage":{"prompt_tokens":5,"total_tokens":5}}`), {
    prompt_tokens: 5,
    completion_tokens: 0,
    total_tokens: 5,
  });
  // Truncated at the front: the last complete object still counts; a cut-off one does not.
  assert.deepEqual(extractUsage(`tokens":1}} {"usage":${JSON.stringify(U)}}`), U);
  assert.equal(extractUsage(`{"usage":{"prompt_tokens":5,"total_to`), null);
  // Hostile values are not counted.
  assert.deepEqual(extractUsage(`{"usage":{"prompt_tokens":-4,"total_tokens":"x"}}`), {
    prompt_tokens: 0,
    completion_tokens: 0,
    total_tokens: 0,
  });
});

Deno.test("fuzz: extractUsage never throws and finds usage appended to any prefix", () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 3000 }), (junk) => {
      extractUsage(junk);
      const found = extractUsage(
        `${junk}\n\ndata: {"choices":[],"usage":${JSON.stringify(U)}}\n\n`,
      );
      assert.deepEqual(found, U);
    }),
    { numRuns: 1000 },
  );
});

Deno.test("TailBuffer keeps exactly the last bytes across chunk sizes", () => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 50 }), { maxLength: 40 }), (chunks) => {
      const t = new TailBuffer(64);
      const all: number[] = [];
      for (const c of chunks) {
        t.push(c);
        all.push(...c);
      }
      const want = new TextDecoder().decode(new Uint8Array(all.slice(-64)));
      assert.equal(t.text(), want);
    }),
  );
});

Deno.test("tapUsage passes bytes through unchanged and reports at the end", async () => {
  const enc = new TextEncoder();
  const parts = [
    `data: {"usage":null}\n\n`,
    `data: {"choices":[],"usage":`,
    `${JSON.stringify(U)}}\n\n`,
    "data: [DONE]\n\n",
  ];
  let seen: unknown = "not called";
  const out = tapUsage(ReadableStream.from(parts.map((p) => enc.encode(p))), (u) => seen = u);
  assert.equal(await new Response(out).text(), parts.join(""));
  assert.deepEqual(seen, U);
});

Deno.test("UsageLedger sums per key, resets on take and bounds its keys", () => {
  const l = new UsageLedger(2);
  const k = (slug: string) => ({ tenant: "t", slug, endpoint: "e", model: "m" });
  l.add(k("a"), U);
  l.add(k("a"), null);
  l.add(k("b"), U);
  l.add(k("c"), U);
  l.add(k("d"), U);
  const rows = l.take();
  assert.deepEqual(rows.find((r) => r.slug === "a"), { ...k("a"), requests: 2, ...U });
  assert.equal(rows.length, 3);
  assert.equal(rows.find((r) => r.slug === "(other)")!.requests, 2);
  assert.deepEqual(l.take(), []);
});

Deno.test("mergeUsageRows sums the ledgers of two Workers per key", () => {
  const a = new UsageLedger(), b = new UsageLedger();
  const k = (slug: string) => ({ tenant: "t", slug, endpoint: "e", model: "m" });
  a.add(k("x"), U);
  b.add(k("x"), U);
  b.add(k("y"), null);
  const rows = mergeUsageRows([...a.take(), ...b.take()]);
  assert.equal(rows.length, 2);
  const x = rows.find((r) => r.slug === "x")!;
  assert.equal(x.requests, 2);
  assert.equal(x.total_tokens, 2 * U.total_tokens);
  assert.equal(rows.find((r) => r.slug === "y")!.requests, 1);
});
