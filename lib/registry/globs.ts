/**
 * Include/exclude filtering of discovered model ids with picomatch globs: the supervisor's side.
 * Patterns are compiled here (picomatch) into plain data the data-plane Worker runs with
 * `model_filter.ts`, which loads no glob library.
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
import type { EndpointConfig } from "../config/mod.ts";
import {
  asName,
  type CompiledGlob,
  type CompiledModelFilter,
  globsMatcher,
  modelFilterFrom,
  type ModelMatcher,
} from "./model_filter.ts";

export type { CompiledGlob, CompiledModelFilter, ModelMatcher };

const PICOMATCH_OPTIONS = { dot: true, windows: false } as const;

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

/** Compiles glob patterns (see module doc for the semantics) into data the Worker can run. */
export function compileGlobs(patterns: readonly string[]): CompiledGlob[] {
  return patterns.map((p, i) => {
    if (typeof p !== "string" || p.length === 0) {
      throw new TypeError(`Cannot compile model glob [${i}]: pattern must be a non-empty string`);
    }
    const glob = asNamePattern(p);
    // What picomatch(glob) tests: the input equal to the glob, or its regex (`makeRe` is the
    // one it builds; with `windows: false` the input is not reformatted first).
    const re = picomatch.makeRe(glob, PICOMATCH_OPTIONS);
    return { literal: glob, source: re.source, flags: re.flags };
  });
}

/** Compiles glob patterns into one matcher: any match wins. */
export function compileModelGlobs(patterns: readonly string[]): ModelMatcher {
  return globsMatcher(compileGlobs(patterns));
}

/** Compiles one endpoint's include/exclude lists (absent lists stay absent). */
export function compileModelFilterData(
  include?: readonly string[],
  exclude?: readonly string[],
): CompiledModelFilter {
  return {
    ...(include !== undefined ? { include: compileGlobs(include) } : {}),
    ...(exclude !== undefined ? { exclude: compileGlobs(exclude) } : {}),
  };
}

/** A compiled include/exclude pair: `include` absent = everything included; exclude wins. */
export function compileModelFilter(
  include?: readonly string[],
  exclude?: readonly string[],
): ModelMatcher {
  return modelFilterFrom(compileModelFilterData(include, exclude));
}

/** Endpoint name → compiled filter, for every endpoint that has include or exclude globs. */
export function compileModelFilters(
  endpoints: readonly Pick<EndpointConfig, "name" | "models_include" | "models_exclude">[],
): Record<string, CompiledModelFilter> {
  const out: Record<string, CompiledModelFilter> = {};
  for (const e of endpoints) {
    if (e.models_include === undefined && e.models_exclude === undefined) continue;
    out[e.name] = compileModelFilterData(e.models_include, e.models_exclude);
  }
  return out;
}
