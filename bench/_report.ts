/**
 * Formatting helpers for the bench's markdown tables.
 *
 * @module
 */

/** Milliseconds with µs resolution; "n/a" for NaN. */
export function ms(v: number): string {
  if (!Number.isFinite(v)) return "n/a";
  return v >= 100 ? v.toFixed(1) : v.toFixed(3);
}

/** Signed milliseconds ("+0.052"); "n/a" for NaN. */
export function delta(v: number): string {
  if (!Number.isFinite(v)) return "n/a";
  return `${v >= 0 ? "+" : "−"}${ms(Math.abs(v))}`;
}

/** `a / b` as "1.85×"; "n/a" when either is missing or b is 0. */
export function ratio(a: number, b: number): string {
  if (!Number.isFinite(a) || !Number.isFinite(b) || b === 0) return "n/a";
  return `${(a / b).toFixed(2)}×`;
}

/** Integer with thousands separators. */
export function int(v: number): string {
  if (!Number.isFinite(v)) return "n/a";
  return Math.round(v).toLocaleString("en-US");
}

/** kB as MB with one decimal. */
export function mb(kb: number): string {
  if (!Number.isFinite(kb)) return "n/a";
  return (kb / 1024).toFixed(1);
}

/** A markdown table; every row must have as many cells as the header. */
export function table(header: string[], rows: string[][]): string {
  const esc = (c: string) => c.replaceAll("|", "\\|");
  const lines = [
    `| ${header.map(esc).join(" | ")} |`,
    `|${header.map((_, i) => (i === 0 ? "---" : "--:")).join("|")}|`,
    ...rows.map((r) => `| ${r.map(esc).join(" | ")} |`),
  ];
  return lines.join("\n");
}

/** A row for a path that could not be measured: the reason, then empty cells. */
export function notMeasured(name: string, reason: string, width: number): string[] {
  return [name, `not measured: ${reason}`, ...Array(Math.max(0, width - 2)).fill("—")];
}

/** "pass" / "FAIL" / "n/a" for a target check. */
export function verdict(ok: boolean | null): string {
  return ok === null ? "n/a" : ok ? "pass" : "**FAIL**";
}
