/**
 * A unified diff of two small texts (unit files), for `labman update` to show what changed:
 * the kept `diff` package (jsdiff) does the work; this only fixes the header form and the
 * "no change" answer.
 *
 * @module
 */
import { createTwoFilesPatch } from "diff";

export interface UnifiedDiffOptions {
  /** @default "a" */
  fromName?: string;
  /** @default "b" */
  toName?: string;
  /** Unchanged lines shown around each change. @default 3 */
  context?: number;
}

/** `diff -u` style text (`--- a`, `+++ b`, hunks), or "" when the texts are equal. */
export function unifiedDiff(
  before: string,
  after: string,
  options: UnifiedDiffOptions = {},
): string {
  if (before === after) return "";
  const patch = createTwoFilesPatch(
    options.fromName ?? "a",
    options.toName ?? "b",
    before,
    after,
    undefined,
    undefined,
    { context: options.context ?? 3 },
  );
  // jsdiff opens with an `Index:`-style rule line that `diff -u` does not print.
  return patch.replace(/^=+\n/, "");
}
