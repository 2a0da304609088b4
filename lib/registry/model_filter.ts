/**
 * The data plane's side of model include/exclude filtering: it runs glob patterns the
 * supervisor compiled (`globs.ts`, with picomatch) and sent as plain data, so the Worker never
 * loads picomatch (a CommonJS npm package: the first npm module an isolate loads costs it
 * several MB). Matching here is exactly picomatch's: its regular expression, or the pattern
 * itself compared as text.
 *
 * @module
 */

/** One glob, compiled by the supervisor. Structured-clone and JSON safe. */
export interface CompiledGlob {
  /** The glob as picomatch saw it (after `asNamePattern`); an id equal to it matches. */
  literal: string;
  /** picomatch's regular expression for it. */
  source: string;
  flags: string;
}

/** An endpoint's compiled `models_include` / `models_exclude` (absent lists stay absent). */
export interface CompiledModelFilter {
  include?: CompiledGlob[];
  exclude?: CompiledGlob[];
}

/**
 * The supervisor's entry: compiles every endpoint's `models_include`/`models_exclude` (see
 * `globs.ts` for the dialect) into the table the Worker's registry takes as `modelFilters`.
 * picomatch is imported only here, when some endpoint has globs.
 */
export async function modelFiltersFor(
  endpoints: readonly { name: string; models_include?: string[]; models_exclude?: string[] }[],
): Promise<Record<string, CompiledModelFilter>> {
  if (!endpoints.some((e) => e.models_include || e.models_exclude)) return {};
  const { compileModelFilters } = await import("./globs.ts");
  return compileModelFilters(endpoints);
}

/** A compiled test for model ids. */
export type ModelMatcher = (modelId: string) => boolean;

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

/** A model id as the compiled globs expect it (see {@linkcode SLASH_STANDIN}, {@linkcode PREFIX}). */
export function asName(modelId: string): string {
  return PREFIX + modelId.replaceAll("/", SLASH_STANDIN);
}

/** Any glob of the list matches (an empty list matches nothing). */
export function globsMatcher(globs: readonly CompiledGlob[]): ModelMatcher {
  const tests = globs.map((g) => {
    const re = new RegExp(g.source, g.flags);
    return (name: string) => name === g.literal || re.test(name);
  });
  return (modelId) => {
    const name = asName(modelId);
    for (const t of tests) if (t(name)) return true;
    return false;
  };
}

/** `include` absent = everything included; `exclude` wins. */
export function modelFilterFrom(compiled: CompiledModelFilter | undefined): ModelMatcher {
  const included = compiled?.include === undefined ? () => true : globsMatcher(compiled.include);
  const excluded = compiled?.exclude === undefined ? () => false : globsMatcher(compiled.exclude);
  return (modelId) => included(modelId) && !excluded(modelId);
}
