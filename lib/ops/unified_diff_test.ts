import assert from "node:assert/strict";
import { unifiedDiff } from "./unified_diff.ts";

const lines = (n: number, f = (i: number) => `line ${i}`) =>
  Array.from({ length: n }, (_, i) => f(i + 1)).join("\n") + "\n";

Deno.test("unifiedDiff is empty for equal texts", () => {
  assert.equal(unifiedDiff("a\nb\n", "a\nb\n"), "");
});

Deno.test("unifiedDiff shows one changed line with three lines of context", () => {
  const before = lines(10);
  const after = lines(10, (i) => i === 5 ? "LINE FIVE" : `line ${i}`);
  assert.equal(
    unifiedDiff(before, after, { fromName: "old", toName: "new" }),
    [
      "--- old",
      "+++ new",
      "@@ -2,7 +2,7 @@",
      " line 2",
      " line 3",
      " line 4",
      "-line 5",
      "+LINE FIVE",
      " line 6",
      " line 7",
      " line 8",
      "",
    ].join("\n"),
  );
});

Deno.test("unifiedDiff splits distant changes into hunks and handles additions at the end", () => {
  const before = lines(30);
  const after = lines(30, (i) => i === 2 ? "two" : `line ${i}`) + "added\n";
  const diff = unifiedDiff(before, after);
  const hunks = diff.split("\n").filter((l) => l.startsWith("@@"));
  assert.deepEqual(hunks, ["@@ -1,5 +1,5 @@", "@@ -28,3 +28,4 @@"]);
  assert.match(diff, /\n\+added\n$/);
});

Deno.test("unifiedDiff from an empty text is all additions", () => {
  assert.equal(unifiedDiff("", "x\ny\n"), "--- a\n+++ b\n@@ -0,0 +1,2 @@\n+x\n+y\n");
});
