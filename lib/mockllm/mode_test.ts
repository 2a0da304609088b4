import assert from "node:assert/strict";
import { applyModePatch, DEFAULT_MOCK_MODE, MockModeSchema, parseModePatch } from "./mode.ts";

Deno.test("the default mode is valid and healthy", () => {
  assert.deepEqual(MockModeSchema.parse(DEFAULT_MOCK_MODE), DEFAULT_MOCK_MODE);
  assert.equal(DEFAULT_MOCK_MODE.tokens, 16);
  assert.equal(DEFAULT_MOCK_MODE.failStatus, null);
});

Deno.test("applyModePatch changes only the given fields and ignores undefined", () => {
  const next = applyModePatch(DEFAULT_MOCK_MODE, { latencyMs: 5, tokens: undefined });
  assert.equal(next.latencyMs, 5);
  assert.equal(next.tokens, 16);
  assert.equal(DEFAULT_MOCK_MODE.latencyMs, 0, "the input is not mutated");
  assert.equal(applyModePatch(next, { failStatus: null }).failStatus, null);
});

Deno.test("parseModePatch rejects bad values and unknown fields, naming the field", () => {
  assert.throws(() => parseModePatch({ tokens: -1 }), /mode\.tokens: .* — fix or remove it/);
  assert.throws(() => parseModePatch({ failStatus: 200 }), /mode\.failStatus/);
  assert.throws(() => parseModePatch({ latencyMs: "5" }), /mode\.latencyMs/);
  assert.throws(() => parseModePatch({ latency: 5 }), TypeError);
  assert.throws(() => parseModePatch(null), /Cannot set mock mode/);
  assert.deepEqual(parseModePatch({ hang: true, dieAfterChunks: 0 }), {
    hang: true,
    dieAfterChunks: 0,
  });
});
