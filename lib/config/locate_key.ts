/**
 * Maps config field paths (`endpoints[2].base_url`) to line numbers in TOML source text, so
 * that validation errors can point at the line to fix. smol-toml (which loads the config) returns
 * plain values without positions, so the positions come from the kept `toml-eslint-parser`, which
 * builds a located syntax tree. It never throws: text it cannot parse yields no entries (the
 * caller then reports the error without a line).
 *
 * @module
 */
import { parseTOML } from "toml-eslint-parser";
import type { AST } from "toml-eslint-parser";

/** One step of a config path: an object key or an array index. */
export type PathSegment = string | number;

/** Formats segments as `a.b[2].c`. */
export function formatPath(segments: readonly PathSegment[]): string {
  let out = "";
  for (const s of segments) {
    if (typeof s === "number") out += `[${s}]`;
    else out += out === "" ? s : `.${s}`;
  }
  return out;
}

/** Parses `a.b[2].c` into segments (the inverse of {@link formatPath} for plain keys). */
export function parsePath(path: string): PathSegment[] {
  const out: PathSegment[] = [];
  for (const m of path.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) {
    out.push(m[2] !== undefined ? Number(m[2]) : m[1]);
  }
  return out;
}

function keyNames(key: AST.TOMLKey): string[] {
  return key.keys.map((k) => k.type === "TOMLBare" ? k.name : String(k.value));
}

/** Records the first line each path appears on, walking nested inline tables and arrays. */
class Indexer {
  readonly found = new Map<string, number>();

  record(path: readonly PathSegment[], line: number): void {
    const key = formatPath(path);
    if (!this.found.has(key)) this.found.set(key, line);
  }

  keyValue(prefix: readonly PathSegment[], kv: AST.TOMLKeyValue): void {
    const names = keyNames(kv.key);
    for (let n = 1; n <= names.length; n++) {
      this.record([...prefix, ...names.slice(0, n)], kv.loc.start.line);
    }
    this.value([...prefix, ...names], kv.value);
  }

  value(path: readonly PathSegment[], node: AST.TOMLContentNode): void {
    this.record(path, node.loc.start.line);
    if (node.type === "TOMLInlineTable") {
      for (const kv of node.body) this.keyValue(path, kv);
    } else if (node.type === "TOMLArray") {
      node.elements.forEach((e, i) => this.value([...path, i], e));
    }
  }

  table(table: AST.TOMLTable): void {
    const path = table.resolvedKey;
    for (let n = 1; n <= path.length; n++) this.record(path.slice(0, n), table.loc.start.line);
    for (const kv of table.body) this.keyValue(path, kv);
  }
}

/**
 * Every key, table and array element found in `source`, mapped to the line (1-based) where it
 * first appears. Paths use {@link formatPath} syntax.
 */
export function indexKeys(source: string): Map<string, number> {
  let ast: AST.TOMLProgram;
  try {
    ast = parseTOML(source);
  } catch {
    return new Map();
  }
  const indexer = new Indexer();
  for (const top of ast.body) {
    for (const node of top.body) {
      if (node.type === "TOMLTable") indexer.table(node);
      else indexer.keyValue([], node);
    }
  }
  return indexer.found;
}

/**
 * Line (1-based) of the field `path` (`"endpoints[1].base_url"` or segments) in TOML `source`.
 * A field that is absent from the text falls back to its nearest present parent (a missing
 * `control_plane.node_token` points at `[control_plane]`); `undefined` when nothing matches.
 */
export function locateKey(
  source: string,
  path: string | readonly PathSegment[],
): number | undefined {
  return lineIn(indexKeys(source), path);
}

/** {@link locateKey} over an index built once with {@link indexKeys}. */
export function lineIn(
  index: ReadonlyMap<string, number>,
  path: string | readonly PathSegment[],
): number | undefined {
  const segments = typeof path === "string" ? parsePath(path) : [...path];
  for (let n = segments.length; n > 0; n--) {
    const line = index.get(formatPath(segments.slice(0, n)));
    if (line !== undefined) return line;
  }
  return undefined;
}
