/**
 * Rewrites the `Exec*=` lines of the labmand unit so that they run the binaries from the
 * directory `labman install --bin-dir` put them in.
 *
 * @module
 */

const EXEC_KEYS = new Set([
  "ExecStart",
  "ExecStartPre",
  "ExecStartPost",
  "ExecReload",
  "ExecStop",
  "ExecStopPost",
  "ExecCondition",
]);

/** The binaries labman ships; other programs in `Exec*=` lines (e.g. `/bin/kill`) are kept. */
export const LABMAN_BINARIES: readonly string[] = ["labmand", "labman"];

/**
 * Replaces the directory of `labmand`/`labman` in every `Exec*=` command with `binDir`.
 * systemd's command prefixes (`-`, `@`, `+`, `!`, `:`) are preserved; `binDir` must be absolute.
 */
export function rewriteUnitPaths(unitText: string, binDir: string): string {
  if (!binDir.startsWith("/")) {
    throw new RangeError(`Cannot rewrite unit paths: bin dir "${binDir}" must be absolute`);
  }
  const dir = binDir.replace(/\/+$/, "") || "/";
  return unitText.split("\n").map((line) => {
    const m = /^(\s*)([A-Za-z]+)(\s*=\s*)([-@+!:]*)(\S+)(.*)$/.exec(line);
    if (!m || !EXEC_KEYS.has(m[2])) return line;
    const [, indent, key, eq, prefixes, program, rest] = m;
    const base = program.slice(program.lastIndexOf("/") + 1);
    if (!program.startsWith("/") || !LABMAN_BINARIES.includes(base)) return line;
    const joined = dir === "/" ? `/${base}` : `${dir}/${base}`;
    return `${indent}${key}${eq}${prefixes}${joined}${rest}`;
  }).join("\n");
}
