import assert from "node:assert/strict";
import {
  check,
  checklistExitCode,
  countChecks,
  formatCheck,
  formatChecklist,
} from "./checklist.ts";

Deno.test("formatCheck marks status and shows fixes only for failures and warnings", () => {
  assert.equal(
    formatCheck(check("ok", "/dev/net/tun", "present", "ignored")),
    "✓ /dev/net/tun: present",
  );
  assert.equal(
    formatCheck(check("fail", "wireguard-go", "not found on PATH", "apt-get install wireguard-go")),
    "✗ wireguard-go: not found on PATH\n    fix: apt-get install wireguard-go",
  );
  assert.equal(
    formatCheck(check("warn", "ip_forward", "1", "line one\nline two")),
    "! ip_forward: 1\n    fix: line one\n         line two",
  );
  assert.equal(formatCheck(check("warn", "no detail")), "! no detail");
});

Deno.test("formatChecklist counts and checklistExitCode fails only on ✗", () => {
  const checks = [check("ok", "a"), check("warn", "b", undefined, "do b"), check("ok", "c")];
  assert.deepEqual(countChecks(checks), { ok: 2, warn: 1, fail: 0 });
  assert.equal(
    formatChecklist(checks),
    "✓ a\n! b\n    fix: do b\n✓ c\n\n2 ok, 1 warning, 0 failed",
  );
  assert.equal(checklistExitCode(checks), 0);
  assert.equal(checklistExitCode([...checks, check("fail", "d")]), 1);
});
