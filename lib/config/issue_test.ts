import assert from "node:assert/strict";
import { formatIssue } from "./issue.ts";

Deno.test("formatIssue: file:line: path: message — fix", () => {
  assert.equal(
    formatIssue({
      file: "/etc/labman/labman.toml",
      line: 14,
      path: "endpoints[2].base_url",
      message: "not an http(s) URL",
      fix: 'use e.g. "http://127.0.0.1:11434/v1"',
    }),
    '/etc/labman/labman.toml:14: endpoints[2].base_url: not an http(s) URL — use e.g. "http://127.0.0.1:11434/v1"',
  );
});

Deno.test("formatIssue leaves out absent parts", () => {
  assert.equal(formatIssue({ file: "f", path: "proxy", message: "m" }), "f: proxy: m");
  assert.equal(formatIssue({ file: "f", line: 2, column: 5, path: "", message: "m" }), "f:2:5: m");
  assert.equal(formatIssue({ file: "", path: "", message: "m", fix: "x" }), "m — x");
});
