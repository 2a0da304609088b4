/**
 * Maps config field paths (`endpoints[2].base_url`) to line numbers in TOML source text, so
 * that validation errors can point at the line to fix. smol-toml returns plain values without
 * positions, hence this small scanner. It never throws: text it cannot follow just yields
 * fewer entries (the caller then reports the error without a line).
 *
 * @module
 */

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

class Scanner {
  pos = 0;
  line = 1;
  readonly found = new Map<string, number>();
  /** Next index for each array of tables, keyed by its resolved path. */
  readonly arrayTables = new Map<string, number>();

  constructor(readonly src: string) {}

  peek(offset = 0): string {
    return this.src[this.pos + offset] ?? "";
  }

  advance(n = 1): void {
    for (let i = 0; i < n && this.pos < this.src.length; i++) {
      if (this.src[this.pos] === "\n") this.line++;
      this.pos++;
    }
  }

  record(segments: readonly PathSegment[], line: number): void {
    const key = formatPath(segments);
    if (!this.found.has(key)) this.found.set(key, line);
  }

  skipSpaces(): void {
    while (this.peek() === " " || this.peek() === "\t") this.advance();
  }

  skipComment(): void {
    if (this.peek() !== "#") return;
    while (this.pos < this.src.length && this.peek() !== "\n") this.advance();
  }

  /** Skips spaces, comments and newlines (inside arrays and TOML 1.1 inline tables). */
  skipBlank(): void {
    for (let guard = 0; guard < this.src.length + 1; guard++) {
      const c = this.peek();
      if (c === " " || c === "\t" || c === "\r" || c === "\n") this.advance();
      else if (c === "#") this.skipComment();
      else return;
    }
  }

  skipToLineEnd(): void {
    while (this.pos < this.src.length && this.peek() !== "\n") this.advance();
  }

  readString(): string {
    const q = this.peek();
    const triple = this.src.startsWith(q.repeat(3), this.pos);
    let out = "";
    if (triple) {
      this.advance(3);
      while (this.pos < this.src.length) {
        if (this.src.startsWith(q.repeat(3), this.pos)) {
          this.advance(3);
          // Up to two extra quotes may close a multi-line string (`""""` ends with a quote).
          while (this.peek() === q) this.advance();
          return out;
        }
        if (q === '"' && this.peek() === "\\") {
          out += this.peek(1);
          this.advance(2);
          continue;
        }
        out += this.peek();
        this.advance();
      }
      return out;
    }
    this.advance();
    while (this.pos < this.src.length && this.peek() !== "\n") {
      const c = this.peek();
      if (c === q) {
        this.advance();
        return out;
      }
      if (q === '"' && c === "\\") {
        out += this.peek(1);
        this.advance(2);
        continue;
      }
      out += c;
      this.advance();
    }
    return out;
  }

  /** Reads a dotted key; returns [] when no key is present. */
  readKey(): string[] {
    const parts: string[] = [];
    for (let guard = 0; guard < 1000; guard++) {
      this.skipSpaces();
      const c = this.peek();
      if (c === '"' || c === "'") {
        parts.push(this.readString());
      } else {
        const m = /^[A-Za-z0-9_-]+/.exec(this.src.slice(this.pos, this.pos + 256));
        if (!m) return parts;
        parts.push(m[0]);
        this.advance(m[0].length);
      }
      this.skipSpaces();
      if (this.peek() !== ".") return parts;
      this.advance();
    }
    return parts;
  }

  readValue(path: PathSegment[]): void {
    this.skipSpaces();
    const c = this.peek();
    if (c === '"' || c === "'") {
      this.readString();
    } else if (c === "[") {
      this.advance();
      for (let i = 0; i < this.src.length; i++) {
        this.skipBlank();
        if (this.peek() === "]" || this.pos >= this.src.length) break;
        this.record([...path, i], this.line);
        const before = this.pos;
        this.readValue([...path, i]);
        this.skipBlank();
        if (this.peek() === ",") this.advance();
        else if (this.pos === before) break;
      }
      if (this.peek() === "]") this.advance();
    } else if (c === "{") {
      this.advance();
      for (let guard = 0; guard < this.src.length; guard++) {
        this.skipBlank();
        if (this.peek() === "}" || this.pos >= this.src.length) break;
        const line = this.line;
        const key = this.readKey();
        if (key.length === 0) break;
        this.recordAll(path, key, line);
        this.skipSpaces();
        if (this.peek() !== "=") break;
        this.advance();
        this.readValue([...path, ...key]);
        this.skipBlank();
        if (this.peek() === ",") this.advance();
      }
      if (this.peek() === "}") this.advance();
    } else {
      // Scalars (numbers, booleans, dates) end at a delimiter.
      while (this.pos < this.src.length && !/[,\]}\n#]/.test(this.peek())) this.advance();
    }
  }

  recordAll(base: readonly PathSegment[], key: readonly string[], line: number): void {
    for (let i = 1; i <= key.length; i++) this.record([...base, ...key.slice(0, i)], line);
  }

  /** Resolves a header's key, inserting the current index of every array of tables on the way. */
  resolve(key: readonly string[]): PathSegment[] {
    const out: PathSegment[] = [];
    for (const k of key) {
      out.push(k);
      const next = this.arrayTables.get(formatPath(out));
      if (next !== undefined) out.push(next - 1);
    }
    return out;
  }

  run(): Map<string, number> {
    let table: PathSegment[] = [];
    for (let guard = 0; guard < this.src.length + 1 && this.pos < this.src.length; guard++) {
      this.skipBlank();
      if (this.pos >= this.src.length) break;
      const line = this.line;
      if (this.src.startsWith("[[", this.pos)) {
        this.advance(2);
        const key = this.readKey();
        const parent = this.resolve(key.slice(0, -1));
        const arrayPath = [...parent, ...key.slice(-1)];
        const id = formatPath(arrayPath);
        const index = this.arrayTables.get(id) ?? 0;
        this.arrayTables.set(id, index + 1);
        table = [...arrayPath, index];
        this.recordAll(parent, key.slice(-1), line);
        this.record(table, line);
        this.skipToLineEnd();
      } else if (this.peek() === "[") {
        this.advance();
        const key = this.readKey();
        const parent = this.resolve(key.slice(0, -1));
        table = [...parent, ...key.slice(-1)];
        this.recordAll(parent, key.slice(-1), line);
        this.skipToLineEnd();
      } else {
        const key = this.readKey();
        this.skipSpaces();
        if (key.length === 0 || this.peek() !== "=") {
          this.skipToLineEnd();
          continue;
        }
        this.advance();
        this.recordAll(table, key, line);
        this.readValue([...table, ...key]);
        this.skipSpaces();
        this.skipComment();
        this.skipToLineEnd();
      }
    }
    return this.found;
  }
}

/**
 * Every key, table and array element found in `source`, mapped to the line (1-based) where it
 * first appears. Paths use {@link formatPath} syntax.
 */
export function indexKeys(source: string): Map<string, number> {
  try {
    return new Scanner(source).run();
  } catch {
    return new Map();
  }
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
