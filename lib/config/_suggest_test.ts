import assert from "node:assert/strict";
import { closest, editDistance } from "./_suggest.ts";

Deno.test("editDistance counts transpositions as one edit", () => {
  assert.equal(editDistance("listen_prot", "listen_port"), 1);
  assert.equal(editDistance("abc", "abc"), 0);
  assert.equal(editDistance("", "abc"), 3);
});

Deno.test("closest suggests near names only", () => {
  assert.equal(closest("listen_prot", ["listen_addr", "listen_port"]), "listen_port");
  assert.equal(closest("zzzzzz", ["listen_addr", "listen_port"]), undefined);
});
