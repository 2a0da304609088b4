import assert from "node:assert/strict";
import fc from "fast-check";
import { compileModelFilter, compileModelGlobs } from "./globs.ts";

/**
 * Keeps the ids that match `include` (all ids when `include` is absent) and do not match
 * `exclude`. Order and duplicates of `models` are preserved.
 *
 * An empty `include` list includes nothing; an absent one includes everything.
 */
function filterModels(
  models: readonly string[],
  include?: readonly string[],
  exclude?: readonly string[],
): string[] {
  if (include === undefined && exclude === undefined) return [...models];
  const keep = compileModelFilter(include, exclude);
  return models.filter(keep);
}

const IDS = [
  "meta-llama/Llama-3.1-8B-Instruct",
  "meta-llama/Llama-3.1-70B-Instruct",
  "Qwen/Qwen2.5-7B-Instruct",
  "llama3.1:8b",
  "llama3.1:70b",
  "nomic-embed-text:latest",
  "gpt-oss-20b",
  ".hidden-model",
];

Deno.test("filterModels: `*` crosses `/` and `:` because model ids are names, not paths", () => {
  const cases: [string, string[]][] = [
    ["*", IDS],
    ["**", IDS],
    ["meta-llama/*", ["meta-llama/Llama-3.1-8B-Instruct", "meta-llama/Llama-3.1-70B-Instruct"]],
    ["*:8b", ["llama3.1:8b"]],
    ["llama3.1:*", ["llama3.1:8b", "llama3.1:70b"]],
    ["*Instruct", [
      "meta-llama/Llama-3.1-8B-Instruct",
      "meta-llama/Llama-3.1-70B-Instruct",
      "Qwen/Qwen2.5-7B-Instruct",
    ]],
    ["*8B*", ["meta-llama/Llama-3.1-8B-Instruct"]], // case-sensitive: not llama3.1:8b
    ["*/*", [
      "meta-llama/Llama-3.1-8B-Instruct",
      "meta-llama/Llama-3.1-70B-Instruct",
      "Qwen/Qwen2.5-7B-Instruct",
    ]],
    ["llama3.1:?b", ["llama3.1:8b"]],
    ["{gpt-oss-20b,nomic-*}", ["nomic-embed-text:latest", "gpt-oss-20b"]],
    [".hidden*", [".hidden-model"]],
    ["Qwen/Qwen2.5-7B-Instruct", ["Qwen/Qwen2.5-7B-Instruct"]],
    ["qwen/*", []],
  ];
  for (const [pattern, want] of cases) {
    assert.deepEqual(filterModels(IDS, [pattern]), want, `include ${pattern}`);
  }
});

Deno.test("filterModels: include first, then exclude; absent include = all; empty include = none", () => {
  assert.deepEqual(filterModels(IDS, undefined, ["*/*", "*embed*", ".*"]), [
    "llama3.1:8b",
    "llama3.1:70b",
    "gpt-oss-20b",
  ]);
  assert.deepEqual(filterModels(IDS, ["llama3.1:*", "meta-llama/*"], ["*70[Bb]*"]), [
    "meta-llama/Llama-3.1-8B-Instruct",
    "llama3.1:8b",
  ]);
  assert.deepEqual(filterModels(IDS, []), []);
  assert.deepEqual(filterModels(IDS, undefined, []), IDS);
  assert.deepEqual(filterModels(IDS, ["!*embed*"]), IDS.filter((m) => !m.includes("embed")));
});

Deno.test("filterModels: `.`/`..` are plain names; `!` negation and `!(…)` extglobs behave", () => {
  const ids = [".", "..", "a", "ab", "!x"];
  assert.deepEqual(filterModels(ids, ["*"]), ids);
  assert.deepEqual(filterModels(ids, [".."]), [".."]);
  assert.deepEqual(filterModels(ids, ["!a"]), [".", "..", "ab", "!x"]);
  assert.deepEqual(filterModels(ids, ["!!a"]), ["a"]);
  assert.deepEqual(filterModels(ids, ["!(a)"]), [".", "..", "ab", "!x"]);
  assert.deepEqual(filterModels(ids, ["\\!x"]), ["!x"]);
  assert.deepEqual(filterModels(ids, ["[^a.]*"]), ["!x"]);
});

Deno.test("compileModelGlobs: an empty pattern is refused with its index", () => {
  assert.throws(
    () => compileModelGlobs(["ok", ""]),
    /glob \[1\]: pattern must be a non-empty string/,
  );
});

const modelId = fc.stringMatching(/^[A-Za-z0-9._\/:-]{1,24}$/);
const pattern = fc.oneof(
  modelId,
  modelId.map((s) => `${s.slice(0, 3)}*`),
  modelId.map((s) => `*${s.slice(-3)}`),
  fc.constantFrom("*", "*/*", "*:*", "a*", "*b*", "?*", "[a-m]*"),
);
const patterns = fc.option(fc.array(pattern, { maxLength: 4 }), { nil: undefined });

Deno.test("filterModels properties: subset, order kept, exclude wins, identity without filters", () => {
  fc.assert(
    fc.property(fc.array(modelId, { maxLength: 20 }), patterns, patterns, (models, inc, exc) => {
      const out = filterModels(models, inc, exc);
      // Subset with order preserved: `out` is a subsequence of `models`.
      let i = 0;
      for (const m of out) {
        while (i < models.length && models[i] !== m) i++;
        assert.ok(i < models.length, `${m} is not from the input (in order)`);
        i++;
      }
      // Exclude wins: nothing that matches an exclude pattern survives.
      if (exc) {
        const ex = compileModelGlobs(exc);
        assert.ok(out.every((m) => !ex(m)));
        // And excluding only removes: with the same include, out ⊆ include-only result.
        const incOnly = filterModels(models, inc);
        assert.ok(out.every((m) => incOnly.includes(m)));
      }
      // Everything that matches include and not exclude is kept.
      const inc2 = inc ? compileModelGlobs(inc) : () => true;
      const ex2 = exc ? compileModelGlobs(exc) : () => false;
      assert.deepEqual(out, models.filter((m) => inc2(m) && !ex2(m)));
    }),
    { numRuns: 300 },
  );
  fc.assert(
    fc.property(fc.array(modelId, { maxLength: 20 }), (models) => {
      assert.deepEqual(filterModels(models), models);
      assert.deepEqual(filterModels(models, ["*"]), models);
      assert.deepEqual(filterModels(models, undefined, ["*"]), []);
    }),
    { numRuns: 200 },
  );
});
