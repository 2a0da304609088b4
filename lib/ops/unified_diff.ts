/**
 * A short unified diff of two small texts (unit files), for `labman update` to show what
 * changed. Line-based LCS; texts beyond a few thousand lines fall back to "replace all".
 *
 * @module
 */

export interface UnifiedDiffOptions {
  /** @default "a" */
  fromName?: string;
  /** @default "b" */
  toName?: string;
  /** Unchanged lines shown around each change. @default 3 */
  context?: number;
}

type Op = { kind: " " | "-" | "+"; line: string; a: number; b: number };

const MAX_CELLS = 4_000_000;

function splitLines(text: string): string[] {
  if (text === "") return [];
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}

function editScript(a: string[], b: string[]): Op[] {
  const n = a.length;
  const m = b.length;
  if ((n + 1) * (m + 1) > MAX_CELLS) {
    return [
      ...a.map((line, i): Op => ({ kind: "-", line, a: i, b: 0 })),
      ...b.map((line, j): Op => ({ kind: "+", line, a: n, b: j })),
    ];
  }
  // lcs[i][j] = LCS length of a[i..] and b[j..]
  const lcs = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  const ops: Op[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) {
      ops.push({ kind: " ", line: a[i], a: i++, b: j++ });
    } else if (i < n && (j === m || lcs[i + 1][j] >= lcs[i][j + 1])) {
      ops.push({ kind: "-", line: a[i], a: i++, b: j });
    } else {
      ops.push({ kind: "+", line: b[j], a: i, b: j++ });
    }
  }
  return ops;
}

/** Returns `""` when the texts are equal, else `--- a`/`+++ b` headers and `@@` hunks. */
export function unifiedDiff(
  before: string,
  after: string,
  options: UnifiedDiffOptions = {},
): string {
  if (before === after) return "";
  const context = options.context ?? 3;
  const ops = editScript(splitLines(before), splitLines(after));
  const out = [`--- ${options.fromName ?? "a"}`, `+++ ${options.toName ?? "b"}`];
  let k = 0;
  while (k < ops.length) {
    // Find the next change, then extend the hunk while changes are within 2*context lines.
    while (k < ops.length && ops[k].kind === " ") k++;
    if (k >= ops.length) break;
    const start = Math.max(0, k - context);
    let end = k;
    let lastChange = k;
    while (end < ops.length) {
      if (ops[end].kind !== " ") lastChange = end;
      else if (end - lastChange > 2 * context) break;
      end++;
    }
    end = Math.min(ops.length, lastChange + context + 1);
    const hunk = ops.slice(start, end);
    const aCount = hunk.filter((o) => o.kind !== "+").length;
    const bCount = hunk.filter((o) => o.kind !== "-").length;
    const aStart = aCount === 0 ? hunk[0].a : hunk[0].a + 1;
    const bStart = bCount === 0 ? hunk[0].b : hunk[0].b + 1;
    out.push(`@@ -${aStart},${aCount} +${bStart},${bCount} @@`);
    for (const o of hunk) out.push(o.kind + o.line);
    k = end;
  }
  return out.join("\n") + "\n";
}
