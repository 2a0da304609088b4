/**
 * Include/exclude filtering of discovered model ids with picomatch globs.
 *
 * A model id is ONE opaque name, not a path: `meta-llama/Llama-3.1-8B-Instruct` (vLLM, Hugging
 * Face style) and `llama3.1:8b` (Ollama style) are both single names. So:
 *
 * - `*` and `**` match any run of characters, including `/` and `:`
 *   (`*` matches every id; `meta-llama/*` matches every model of that organisation;
 *   `*:8b` matches every 8b Ollama tag; `*instruct*` matches `org/x-instruct-v2`).
 * - `?` matches exactly one character (also `/` or `:`).
 * - `[abc]`, `[a-z]`, `[^a]` (negated class; picomatch reads `[!a]` differently), `{a,b}`,
 *   extglobs like `@(a|b)` and `\` escapes work as in picomatch.
 * - A leading `.` in an id needs no special pattern: `*` matches `.x`, `.` and `..` too.
 * - Matching is case-sensitive, because upstream servers match model ids exactly.
 * - A pattern starting with `!` is negated (picomatch semantics): `!*embed*` in `include`
 *   includes everything that is not an embedding model.
 *
 * @module
 */
import picomatch from "picomatch";

/**
 * Stand-in for `/` while matching: picomatch treats `/` as a path separator that `*` cannot
 * cross, and model ids are not paths. A private-use code point never appears in a model id.
 */
const SLASH_STANDIN = "\uE000";

/**
 * Prefix for ids and patterns: picomatch never lets `*` match the whole names `.` and `..`
 * (path semantics again); behind a prefix they are ordinary text.
 */
const PREFIX = "\uE001";

function asName(modelId: string): string {
  return PREFIX + modelId.replaceAll("/", SLASH_STANDIN);
}

/** Leading `!`s negate in picomatch (unless they open an extglob `!(…)`): keep them in front. */
function asNamePattern(pattern: string): string {
  let bangs = /^!*/.exec(pattern)![0];
  let rest = pattern.slice(bangs.length);
  if (bangs && rest.startsWith("(")) {
    bangs = bangs.slice(0, -1);
    rest = `!${rest}`;
  }
  return bangs + asName(rest);
}

/** A compiled test for one list of patterns. */
export type ModelMatcher = (modelId: string) => boolean;

/** Compiles glob patterns (see module doc for the semantics) into one matcher: any match wins. */
export function compileModelGlobs(patterns: readonly string[]): ModelMatcher {
  for (const [i, p] of patterns.entries()) {
    if (typeof p !== "string" || p.length === 0) {
      throw new TypeError(`Cannot compile model glob [${i}]: pattern must be a non-empty string`);
    }
  }
  if (patterns.length === 0) return () => false;
  const isMatch = picomatch(patterns.map(asNamePattern), { dot: true, windows: false });
  return (modelId) => isMatch(asName(modelId));
}

/** A compiled include/exclude pair: `include` absent = everything included; exclude wins. */
export function compileModelFilter(
  include?: readonly string[],
  exclude?: readonly string[],
): ModelMatcher {
  const included = include === undefined ? () => true : compileModelGlobs(include);
  const excluded = exclude === undefined ? () => false : compileModelGlobs(exclude);
  return (modelId) => included(modelId) && !excluded(modelId);
}
