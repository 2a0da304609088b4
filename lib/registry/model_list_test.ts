import assert from "node:assert/strict";
import { modelIdsOf, parseModelList } from "./model_list.ts";

function ids(json: unknown): string[] | string {
  const r = parseModelList(json);
  return r.ok ? modelIdsOf(r.list) : r.problem;
}

Deno.test("parseModelList: the servers' list formats, extra fields ignored", () => {
  // vLLM / OpenAI
  assert.deepEqual(
    ids({ object: "list", data: [{ id: "a", max_model_len: 8192 }, { id: "b" }, { id: "a" }] }),
    ["a", "b"],
  );
  // llama.cpp without `object`, with an Ollama-style `models` next to `data`: data wins.
  assert.deepEqual(ids({ data: [{ id: "x" }], models: [{ model: "y" }] }), ["x"]);
  // Ollama-style only: model, else name.
  assert.deepEqual(ids({ models: [{ model: "m1" }, { name: "n2" }] }), ["m1", "n2"]);
  assert.deepEqual(ids({ object: "list", data: [] }), []);
  const r = parseModelList({ data: [{ id: "a", meta: { n: 1 } }], extra: true });
  assert.ok(r.ok);
  assert.deepEqual(r.list, { data: [{ id: "a" }] });
});

Deno.test("parseModelList: every bad shape names the first bad field", () => {
  assert.equal(ids([{ id: "a" }]), "got an array");
  assert.equal(ids(null), "got null");
  assert.equal(ids("list"), "got string");
  assert.equal(ids({ hello: "world" }), `no "data" array`);
  assert.equal(ids({ data: null }), "data: expected an array, got null");
  assert.equal(ids({ data: [{ id: "a" }, { id: 7 }] }), "data.1.id: expected a string, got number");
  assert.equal(ids({ data: [{ id: "" }] }), "data.0.id: must not be empty");
  assert.equal(ids({ data: ["a"] }), "data.0: expected an object, got string");
  assert.equal(ids({ object: 1, data: [] }), "object: expected a string, got number");
  assert.equal(ids({ models: [{ size: 1 }] }), `models.0: needs "model" or "name"`);
  assert.equal(ids({ models: [{ name: 3 }] }), "models.0.name: expected a string, got number");
  // Both arrays bad: the `data` problem is reported, it is the format nearly every server speaks.
  assert.equal(
    ids({ models: [{}], data: [{ id: null }] }),
    "data.0.id: expected a string, got null",
  );
});

Deno.test("parseModelList: hostile input is checked without throwing", () => {
  const huge = { data: Array.from({ length: 50_000 }, (_, i) => ({ id: `m${i % 10}` })) };
  assert.equal((ids(huge) as string[]).length, 10);
  const proto = JSON.parse(`{"__proto__": {"data": [{"id": "x"}]}}`);
  assert.equal(ids(proto), `no "data" array`);
  assert.equal(
    ids({ data: [{ id: { toString: () => "x" } }] }),
    "data.0.id: expected a string, got object",
  );
});
