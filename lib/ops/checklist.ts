/**
 * The ✓/✗/! checklist that `labman doctor` and `labman pre` print: one line per check, an
 * indented `fix:` under each failure or warning, and a closing count.
 *
 * @module
 */

/** `ok` ✓, `warn` ! (worth a look, not fatal), `fail` ✗ (labmand will not work). */
export type CheckStatus = "ok" | "warn" | "fail";

export interface Check {
  status: CheckStatus;
  /** What was checked, e.g. `/dev/net/tun`. */
  label: string;
  /** What was found, e.g. `character device 10:200`. */
  detail?: string;
  /** What to do about a `fail` or `warn`, e.g. a command to run. */
  fix?: string;
}

const MARK: Record<CheckStatus, string> = { ok: "✓", warn: "!", fail: "✗" };

export function check(status: CheckStatus, label: string, detail?: string, fix?: string): Check {
  const c: Check = { status, label };
  if (detail !== undefined) c.detail = detail;
  if (fix !== undefined) c.fix = fix;
  return c;
}

/** One check as text: `✗ label: detail` plus `    fix: …` lines (multi-line fixes indented). */
export function formatCheck(c: Check): string {
  const head = `${MARK[c.status]} ${c.label}${c.detail ? `: ${c.detail}` : ""}`;
  if (c.status === "ok" || !c.fix) return head;
  const [first, ...more] = c.fix.split("\n");
  return [head, `    fix: ${first}`, ...more.map((l) => `         ${l}`)].join("\n");
}

export interface ChecklistCounts {
  ok: number;
  warn: number;
  fail: number;
}

export function countChecks(checks: readonly Check[]): ChecklistCounts {
  const counts = { ok: 0, warn: 0, fail: 0 };
  for (const c of checks) counts[c.status]++;
  return counts;
}

/** Every check, then `N ok, N warnings, N failed`. */
export function formatChecklist(checks: readonly Check[]): string {
  const { ok, warn, fail } = countChecks(checks);
  const summary = `${ok} ok, ${warn} warning${warn === 1 ? "" : "s"}, ${fail} failed`;
  return [...checks.map(formatCheck), "", summary].join("\n");
}

/** 0 when nothing failed (warnings do not fail), else 1. */
export function checklistExitCode(checks: readonly Check[]): number {
  return checks.some((c) => c.status === "fail") ? 1 : 0;
}
