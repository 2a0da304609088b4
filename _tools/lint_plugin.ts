/**
 * House rules that `deno lint` enforces (wired in `deno.json` → `lint.plugins`), so they hold
 * without review:
 *
 * - `labman/no-deep-import`: code in one area (`lib/<area>/`, `labman/`, `labmand/`) imports
 *   another `lib/<area>/` only through its `mod.ts`. Tests (`*_test.ts`, `tests/`, `bench/`)
 *   may reach internals: that is what they test.
 *
 * @module
 */

/** `lib/<area>` for a path inside lib, the top folder otherwise; undefined outside the repo. */
export function areaOf(path: string): string | undefined {
  const parts = path.split("/");
  const lib = parts.lastIndexOf("lib");
  const root = ["labman", "labmand", "tests", "bench", "_tools"];
  if (lib >= 0 && parts.length > lib + 2) return `lib/${parts[lib + 1]}`;
  for (let i = parts.length - 2; i >= 0; i--) {
    if (root.includes(parts[i]) && !parts.slice(i + 1, -1).includes("lib")) {
      return parts[i];
    }
  }
  return undefined;
}

/** Normalises `dir + "/" + relative` (POSIX, no symlinks). */
export function joinPath(dir: string, relative: string): string {
  const out: string[] = [];
  for (const seg of `${dir}/${relative}`.split("/")) {
    if (seg === "..") out.pop();
    else if (seg !== "." && seg !== "") out.push(seg);
  }
  return "/" + out.join("/");
}

function isTestFile(path: string): boolean {
  return /_test\.ts$/.test(path) || /\/(tests|bench)\//.test(path) ||
    /\/_test_helpers\.ts$|\/_testing\.ts$|\/_fixtures\.ts$/.test(path);
}

/**
 * Why importing `specifier` from `file` breaks the area rule, or undefined when it is fine.
 * Pure, for the rule and its test.
 */
export function deepImportProblem(file: string, specifier: string): string | undefined {
  if (!specifier.startsWith(".")) return undefined;
  if (isTestFile(file)) return undefined;
  const from = areaOf(file);
  const dir = file.slice(0, file.lastIndexOf("/"));
  const target = joinPath(dir, specifier);
  const to = areaOf(target);
  if (from === undefined || to === undefined || from === to || !to.startsWith("lib/")) {
    return undefined;
  }
  if (target.endsWith(`/${to}/mod.ts`)) return undefined;
  return `Cannot import ${specifier} from ${from}: it reaches inside ${to} — import from ${to}/mod.ts (export the name there if another area needs it)`;
}

const plugin: Deno.lint.Plugin = {
  name: "labman",
  rules: {
    "no-deep-import": {
      create(context) {
        const check = (node: Deno.lint.Node, source: { value: string } | null | undefined) => {
          if (!source) return;
          const problem = deepImportProblem(context.filename, source.value);
          if (problem) context.report({ node, message: problem });
        };
        return {
          ImportDeclaration(node) {
            check(node, node.source);
          },
          ExportNamedDeclaration(node) {
            check(node, node.source);
          },
          ExportAllDeclaration(node) {
            check(node, node.source);
          },
        };
      },
    },
  },
};

export default plugin;
