import assert from "node:assert/strict";
import fc from "fast-check";
import {
  chatPrompt,
  chatText,
  completionPrompt,
  countTokens,
  embeddingInputs,
  embeddingVector,
  float32Base64,
  fnv1a32,
  replyText,
  replyTokens,
} from "./content.ts";

Deno.test("replyTokens cycles the prompt's words and joins to replyText", () => {
  assert.deepEqual(replyTokens("a b", 5), ["a", " b", " a", " b", " a"]);
  assert.deepEqual(replyTokens("   ", 2), ["mock", " mock"]);
  assert.deepEqual(replyTokens("x", 0), []);
  fc.assert(fc.property(fc.string(), fc.nat(40), (prompt, n) => {
    const tokens = replyTokens(prompt, n);
    assert.equal(tokens.length, n);
    assert.equal(tokens.join(""), replyText(prompt, n));
    assert.equal(countTokens(replyText(prompt, n)), n);
  }));
});

Deno.test("chatPrompt takes the last user message, including multi-part text", () => {
  assert.equal(
    chatPrompt([
      { role: "user", content: "first" },
      { role: "assistant", content: "reply" },
      {
        role: "user",
        content: [{ type: "text", text: "look" }, { type: "image_url" }, {
          type: "text",
          text: "here",
        }],
      },
      { role: "tool", content: "ignored" },
    ]),
    "look here",
  );
  assert.equal(chatPrompt("nope"), "");
  assert.equal(chatPrompt([{ role: "system", content: "s" }]), "");
  assert.equal(
    chatText([{ role: "system", content: "s t" }, { role: "user", content: "u" }]),
    "s t u",
  );
});

Deno.test("completionPrompt accepts strings, string arrays and token ids", () => {
  assert.equal(completionPrompt("p"), "p");
  assert.equal(completionPrompt(["a", "b"]), "a");
  assert.equal(completionPrompt([1, 2, 3]), "1 2 3");
  assert.equal(completionPrompt([[4, 5], [6]]), "4 5");
  assert.equal(completionPrompt(42), "");
});

Deno.test("embeddingVector is deterministic, distinct per text, unit length, float32", () => {
  const a = embeddingVector("alpha", 16);
  assert.deepEqual(a, embeddingVector("alpha", 16));
  assert.notDeepEqual(a, embeddingVector("alphb", 16));
  assert.equal(a.length, 16);
  assert.ok(Math.abs(Math.hypot(...a) - 1) < 1e-5);
  for (const v of a) assert.equal(v, Math.fround(v));
  assert.equal(fnv1a32(""), 0x811c9dc5);
  assert.equal(fnv1a32("a"), 0xe40c292c);
});

Deno.test("float32Base64 is little-endian float32 bytes", () => {
  assert.equal(float32Base64([1]), "AACAPw==");
  fc.assert(fc.property(fc.string(), fc.integer({ min: 1, max: 64 }), (text, dims) => {
    const vector = embeddingVector(text, dims);
    const bytes = Uint8Array.from(atob(float32Base64(vector)), (c) => c.charCodeAt(0));
    assert.deepEqual([...new Float32Array(bytes.buffer)], vector);
  }));
});

Deno.test("embeddingInputs accepts the four OpenAI input forms and rejects others", () => {
  assert.deepEqual(embeddingInputs("x"), ["x"]);
  assert.deepEqual(embeddingInputs(["x", "y"]), ["x", "y"]);
  assert.deepEqual(embeddingInputs([1, 2]), ["1 2"]);
  assert.deepEqual(embeddingInputs([[1], [2, 3]]), ["1", "2 3"]);
  assert.equal(embeddingInputs([]), null);
  assert.equal(embeddingInputs(["x", 1]), null);
  assert.equal(embeddingInputs({ text: "x" }), null);
  assert.equal(embeddingInputs(undefined), null);
});
