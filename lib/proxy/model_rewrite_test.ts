import assert from "node:assert/strict";
import fc from "fast-check";
import { findModelSpans, replaceSpans } from "./model_rewrite.ts";

function rewrite(text: string, model: string): string {
  return replaceSpans(text, findModelSpans(text), model);
}

Deno.test("only the top-level model value changes, byte for byte", () => {
  const body = '{"a":{"model":"x"},"b":["model",{"model":1}],"s":"\\"model\\": \\\\",' +
    ' "model"  :\t"slug" , "n": 1.50e3, "big": 123456789012345678901234567890}';
  assert.equal(rewrite(body, 'llama "3"'), body.replace('"slug"', '"llama \\"3\\""'));
});

Deno.test("escaped and duplicate model keys are all rewritten", () => {
  assert.equal(rewrite('{"mod\\u0065l":"a","model":"b"}', "m"), '{"mod\\u0065l":"m","model":"m"}');
  assert.equal(
    rewrite('{"model":null,"x":[1,2,{"y":"}"}],"model":"s"}', "m"),
    '{"model":"m","x":[1,2,{"y":"}"}],"model":"m"}',
  );
});

Deno.test("property: rewriting equals parse, set model, compare", () => {
  fc.assert(
    fc.property(
      fc.dictionary(fc.string(), fc.jsonValue()),
      fc.string(),
      fc.string(),
      fc.boolean(),
      (obj, slug, model, pretty) => {
        const input = { ...obj, model: slug };
        const text = JSON.stringify(input, null, pretty ? 2 : undefined);
        const out = rewrite(text, model);
        const expected = JSON.parse(text);
        expected.model = model;
        assert.deepEqual(JSON.parse(out), expected);
      },
    ),
    { numRuns: 300 },
  );
});
