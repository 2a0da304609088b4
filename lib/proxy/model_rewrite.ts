/**
 * Rewrites only the top-level `model` value of a JSON request body, leaving every other byte as
 * the client sent it: key order, whitespace, number spelling and integers beyond 2^53 survive,
 * which a JSON.parse → JSON.stringify round trip would not guarantee.
 *
 * @module
 */

/** Start (inclusive) and end (exclusive) of one value in the text. */
export type Span = readonly [start: number, end: number];

const QUOTE = 34;
const BACKSLASH = 92;

/**
 * Spans of the values of every top-level `"model"` key (duplicates included: parsers disagree on
 * which one wins, so all are rewritten). `text` must already be valid JSON with an object at the
 * top; the scanner relies on that and does not re-validate.
 */
export function findModelSpans(text: string): Span[] {
  const spans: Span[] = [];
  const n = text.length;
  let i = skipWs(text, 0);
  if (text.charCodeAt(i) !== 123) return spans; // '{'
  i++;
  for (;;) {
    i = skipWs(text, i);
    if (i >= n || text.charCodeAt(i) === 125) return spans; // '}'
    const keyStart = i;
    const keyEnd = skipString(text, i);
    let isModel = keyEnd - keyStart === 7 && text.startsWith('"model"', keyStart);
    if (!isModel && text.indexOf("\\", keyStart) < keyEnd) {
      // An escaped key such as "mod\u0065l" still names `model`.
      isModel = JSON.parse(text.slice(keyStart, keyEnd)) === "model";
    }
    i = skipWs(text, keyEnd) + 1; // past ':'
    i = skipWs(text, i);
    const valueStart = i;
    i = skipValue(text, i);
    if (isModel) spans.push([valueStart, i]);
    i = skipWs(text, i);
    if (text.charCodeAt(i) === 44) i++; // ','
  }
}

/** Replaces each span (ascending, non-overlapping) with the JSON string for `model`. */
export function replaceSpans(text: string, spans: readonly Span[], model: string): string {
  if (spans.length === 0) return text;
  const literal = JSON.stringify(model);
  let out = "";
  let from = 0;
  for (const [start, end] of spans) {
    out += text.slice(from, start) + literal;
    from = end;
  }
  return out + text.slice(from);
}

function skipWs(text: string, i: number): number {
  for (;;) {
    const c = text.charCodeAt(i);
    if (c === 32 || c === 10 || c === 13 || c === 9) i++;
    else return i;
  }
}

/** `i` is at an opening quote; returns the index after the closing quote. */
function skipString(text: string, i: number): number {
  let from = i + 1;
  for (;;) {
    const q = text.indexOf('"', from);
    if (q === -1) return text.length;
    let backslashes = 0;
    for (let j = q - 1; text.charCodeAt(j) === BACKSLASH; j--) backslashes++;
    if (backslashes % 2 === 0) return q + 1;
    from = q + 1;
  }
}

function skipValue(text: string, i: number): number {
  const c = text.charCodeAt(i);
  if (c === QUOTE) return skipString(text, i);
  if (c === 123 || c === 91) {
    // Object or array: track depth, jumping over strings (which may hold brackets).
    let depth = 0;
    const n = text.length;
    while (i < n) {
      const d = text.charCodeAt(i);
      if (d === QUOTE) {
        i = skipString(text, i);
        continue;
      }
      if (d === 123 || d === 91) depth++;
      else if (d === 125 || d === 93) {
        depth--;
        if (depth === 0) return i + 1;
      }
      i++;
    }
    return n;
  }
  // Number, true, false, null: runs to the next delimiter.
  const n = text.length;
  while (i < n) {
    const d = text.charCodeAt(i);
    if (d === 44 || d === 125 || d === 93 || d === 32 || d === 10 || d === 13 || d === 9) break;
    i++;
  }
  return i;
}
