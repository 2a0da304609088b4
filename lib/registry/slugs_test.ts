import assert from "node:assert/strict";
import { HeartbeatResponseSchema } from "../control/mod.ts";
import { checkSlugEntries, SlugTable } from "./slugs.ts";
import { SlugTableSchema } from "./slug_schema.ts";

Deno.test("SlugTable: identity by default (local mode)", () => {
  const t = new SlugTable();
  assert.equal(t.isIdentity, true);
  assert.deepEqual(t.resolve("llama3.1:8b"), { tenant: "local", model: "llama3.1:8b" });
  assert.deepEqual(t.view(["a", "b/c"]), [
    { slug: "a", tenant: "local", model: "a" },
    { slug: "b/c", tenant: "local", model: "b/c" },
  ]);
});

Deno.test("SlugTable: replace swaps the whole table; unknown slugs resolve to undefined", () => {
  const t = new SlugTable();
  t.replace([
    { slug: "s-1", tenant: "acme", model: "llama3.1:8b" },
    { slug: "s-2", tenant: "beta", endpoint: "vllm", model: "meta-llama/Llama-3.1-8B-Instruct" },
  ]);
  assert.equal(t.isIdentity, false);
  assert.equal(t.size, 2);
  assert.deepEqual(t.resolve("s-1"), { tenant: "acme", model: "llama3.1:8b" });
  assert.deepEqual(t.resolve("s-2"), {
    tenant: "beta",
    endpoint: "vllm",
    model: "meta-llama/Llama-3.1-8B-Instruct",
  });
  assert.equal(t.resolve("llama3.1:8b"), undefined, "model ids are not slugs once a table is set");
  t.replace([{ slug: "s-3", tenant: "acme", model: "x" }]);
  assert.equal(t.resolve("s-1"), undefined);
  assert.deepEqual(t.entries(), [{ slug: "s-3", tenant: "acme", model: "x" }]);
  t.useIdentity();
  assert.deepEqual(t.resolve("x"), { tenant: "local", model: "x" });
});

Deno.test("SlugTable: an empty table routes nothing (control-plane mode before UpdateRegistry)", () => {
  const t = new SlugTable([]);
  assert.equal(t.isIdentity, false);
  assert.equal(t.resolve("anything"), undefined);
  assert.deepEqual(t.view(["a"]), []);
});

Deno.test("SlugTable: a bad message is refused and the current table stays", () => {
  const t = new SlugTable([{ slug: "keep", tenant: "t", model: "m" }]);
  assert.throws(
    () =>
      t.replace([
        { slug: "a", tenant: "t", model: "m" },
        { slug: "a", tenant: "t", model: "n" },
      ]),
    /entries\[1\]\.slug: duplicate slug "a" \(also at \[0\]\)/,
  );
  assert.throws(
    () => t.replace([{ slug: "b", tenant: "", model: "m" }]),
    /entries\[0\]\.tenant:/,
  );
  assert.deepEqual(t.resolve("keep"), { tenant: "t", model: "m" });
});

Deno.test("SlugTableSchema: an array of the control plane's {slug, tenant, endpoint?, model}", () => {
  assert.equal(SlugTableSchema.safeParse([{ slug: "s", tenant: "t", model: "m" }]).success, true);
  // Same entry schema as the heartbeat answer: a newer control plane's extra field is dropped,
  // never carried into the Worker, and the limits agree (a 512-char slug passes both).
  const extra = SlugTableSchema.safeParse([{ slug: "s", tenant: "t", model: "m", extra: 1 }]);
  assert.deepEqual(extra.data, [{ slug: "s", tenant: "t", model: "m" }]);
  const long = [{ slug: "s".repeat(512), tenant: "t", model: "m" }];
  assert.equal(SlugTableSchema.safeParse(long).success, true);
  assert.equal(
    HeartbeatResponseSchema.safeParse({ desired_state: "active", slugs: long }).success,
    true,
  );
  long[0].slug += "s";
  assert.equal(SlugTableSchema.safeParse(long).success, false);
  assert.equal(
    HeartbeatResponseSchema.safeParse({ desired_state: "active", slugs: long }).success,
    false,
  );
  assert.equal(SlugTableSchema.safeParse([{ slug: "s", tenant: "t" }]).success, false);
  assert.equal(SlugTableSchema.safeParse({ slug: "s" }).success, false);
});

Deno.test("checkSlugEntries: accepts and refuses exactly what SlugTableSchema does", () => {
  const cases: unknown[] = [
    [],
    [{ slug: "s", tenant: "t", model: "m" }],
    [{ slug: "s", tenant: "t", endpoint: "gpu-a", model: "m", extra: 1 }],
    [{ slug: "s".repeat(512), tenant: "t".repeat(256), endpoint: "e".repeat(64), model: "m" }],
    [{ slug: "s".repeat(513), tenant: "t", model: "m" }],
    [{ slug: "s", tenant: "t".repeat(257), model: "m" }],
    [{ slug: "s", tenant: "t", endpoint: "e".repeat(65), model: "m" }],
    [{ slug: "s", tenant: "t", model: "m".repeat(513) }],
    [{ slug: "s", tenant: "t", endpoint: "", model: "m" }],
    [{ slug: "s", tenant: "t", endpoint: null, model: "m" }],
    [{ slug: "", tenant: "t", model: "m" }],
    [{ slug: 1, tenant: "t", model: "m" }],
    [{ slug: "s", tenant: "t" }],
    [{ slug: "s", tenant: "t", model: "m" }, { slug: "s", tenant: "u", model: "n" }],
    [null],
    [["s", "t", "m"]],
    { slug: "s" },
    "s",
    null,
  ];
  for (const c of cases) {
    const zod = SlugTableSchema.safeParse(c);
    let plain: unknown[] | undefined;
    try {
      plain = checkSlugEntries(c);
    } catch (err) {
      assert.ok(err instanceof TypeError);
      assert.match(err.message, /^Cannot replace the slug table: entries/);
    }
    assert.equal(plain !== undefined, zod.success, JSON.stringify(c).slice(0, 80));
    if (zod.success) assert.deepEqual(plain, zod.data);
  }
});
