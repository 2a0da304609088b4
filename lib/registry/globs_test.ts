import assert from "node:assert/strict";
import fc from "fast-check";
import picomatch from "picomatch";
import {
  compileGlobs,
  compileModelFilter,
  compileModelFilters,
  compileModelGlobs,
} from "./globs.ts";
import { globsMatcher, modelFilterFrom, modelFiltersFor } from "./model_filter.ts";

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

/** The matcher before the split: picomatch run on the id itself (what the Worker used to do). */
function picomatchDirect(patterns: readonly string[]): (id: string) => boolean {
  const name = (s: string) => "\uE001" + s.replaceAll("/", "\uE000");
  const asPattern = (p: string) => {
    let bangs = /^!*/.exec(p)![0];
    let rest = p.slice(bangs.length);
    if (bangs && rest.startsWith("(")) {
      bangs = bangs.slice(0, -1);
      rest = `!${rest}`;
    }
    return bangs + name(rest);
  };
  if (patterns.length === 0) return () => false;
  const isMatch = picomatch(patterns.map(asPattern), { dot: true, windows: false });
  return (id) => isMatch(name(id));
}

// The documented dialect (module doc of globs.ts), built from its pieces so generated patterns
// hit `*`, `**`, `?`, classes, braces, extglobs, escapes and `!` negation, plus stray syntax.
const idChar = fc.constantFrom(..."ab.-_:/7B".split(""));
const idText = fc.array(idChar, { minLength: 1, maxLength: 5 }).map((a) => a.join(""));
const atom: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: idText },
  fc.constantFrom("*", "**", "?", "[ab]", "[a-z]", "[^a]", "[!a]", "[.]", "\\*", "\\!", "\\["),
  fc.tuple(idText, idText).map(([x, y]) => `{${x},${y}}`),
  fc.constantFrom("{1..3}", "{a,}", "@(a|b)", "!(a)", "+(a)", "*(b)", "?(7)", "(a|b)"),
  fc.constantFrom("[", "]", "{", "}", "(", ")", "|", "\\", "$", "^", "+"),
);
const dialectPattern = fc.tuple(
  fc.constantFrom("", "", "", "!", "!!"),
  fc.array(atom, { minLength: 1, maxLength: 4 }),
).map(([bang, atoms]) => bang + atoms.join(""));
const dialectId = fc.oneof(
  idText,
  fc.array(fc.oneof(idChar, fc.constantFrom("*", "!", "[", "(", "{", "\\")), {
    minLength: 1,
    maxLength: 8,
  }).map((a) => a.join("")),
  fc.constantFrom(".", "..", "a/b", "meta-llama/Llama-3.1-8B", "llama3.1:8b"),
);

Deno.test("compiled globs (as the Worker runs them, after a structured clone) match exactly as picomatch", () => {
  fc.assert(
    fc.property(
      fc.array(dialectPattern, { maxLength: 3 }),
      fc.array(dialectId, { minLength: 1, maxLength: 12 }),
      (patterns, ids) => {
        const shipped = structuredClone(compileGlobs(patterns));
        const ours = globsMatcher(shipped);
        const theirs = picomatchDirect(patterns);
        for (const id of ids) {
          assert.equal(
            ours(id),
            theirs(id),
            `${JSON.stringify(patterns)} on ${JSON.stringify(id)}`,
          );
        }
        // The patterns' own text as an id (picomatch's literal-equality path).
        for (const p of patterns) assert.equal(ours(p), theirs(p), `${p} on itself`);
      },
    ),
    { numRuns: 2000 },
  );
});

Deno.test("compileModelFilters: only endpoints with globs; absent lists stay absent; JSON-safe", () => {
  const table = compileModelFilters([
    { name: "plain" },
    { name: "inc", models_include: ["meta-llama/*"] },
    { name: "exc", models_exclude: ["*embed*"] },
  ]);
  assert.deepEqual(Object.keys(table), ["inc", "exc"]);
  assert.equal(table.inc.exclude, undefined);
  assert.equal(table.exc.include, undefined);
  const keep = modelFilterFrom(JSON.parse(JSON.stringify(table.exc)));
  assert.deepEqual(["a", "nomic-embed-text", "b/c"].filter(keep), ["a", "b/c"]);
  assert.equal(modelFilterFrom(undefined)("anything"), true);
});

Deno.test("modelFiltersFor: {} without globs; with globs, the table compileModelFilters builds", async () => {
  assert.deepEqual(await modelFiltersFor([{ name: "a" }, { name: "b" }]), {});
  const endpoints = [{ name: "a" }, { name: "b", models_exclude: ["*embed*"] }];
  assert.deepEqual(await modelFiltersFor(endpoints), compileModelFilters(endpoints));
});
