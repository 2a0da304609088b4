/**
 * House rules that `deno lint` enforces (wired in `deno.json` → `lint.plugins`), so they hold
 * without review:
 *
 * - `labman/no-deep-import`: code in one area (`lib/<area>/`, `labman/`, `labmand/`) imports
 *   another `lib/<area>/` only through its `mod.ts`. Tests (`*_test.ts`, `tests/`, `bench/`)
 *   may reach internals: that is what they test.
 * - `labman/error-message`: a thrown built-in error (`Error`, `TypeError`, `RangeError`,
 *   `SyntaxError`) with a literal message reads "Cannot <verb> …: <why> — <fix>"; the rule checks
 *   the "Cannot " opening, review the rest.
 * - `labman/no-error-name-match`: errors are matched by class (`instanceof`), never by comparing
 *   `.name` with a string; `DOMException` is the one exception (its `name` is its type).
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

const BUILTIN_ERRORS = new Set(["Error", "TypeError", "RangeError", "SyntaxError"]);

/** Why a thrown message breaks the house form, or undefined when it follows it. */
export function errorMessageProblem(className: string, message: string): string | undefined {
  if (!BUILTIN_ERRORS.has(className)) return undefined;
  if (message.startsWith("Cannot ")) return undefined;
  return `Cannot accept this ${className} message: it does not start with "Cannot " — write "Cannot <verb> …: <why> — <fix>"`;
}

type AnyNode = Deno.lint.Node & Record<string, unknown>;

/** The literal text at the start of a message argument, or undefined when it is computed. */
function leadingText(arg: AnyNode | undefined): string | undefined {
  if (!arg) return undefined;
  if (arg.type === "Literal" && typeof arg.value === "string") return arg.value;
  if (arg.type === "TemplateLiteral") {
    // Deno's lint AST puts `cooked` on the element itself (ESTree nests it in `value`).
    const first = (arg.quasis as unknown as { cooked?: string; value?: { cooked?: string } }[])[0];
    return first?.cooked ?? first?.value?.cooked;
  }
  return undefined;
}

/** True when `node` sits in `x instanceof DOMException && …`. */
function guardedByDomException(node: AnyNode): boolean {
  for (let p = node.parent as AnyNode | undefined; p; p = p.parent as AnyNode | undefined) {
    if (p.type !== "LogicalExpression") continue;
    const left = p.left as AnyNode;
    if (
      left.type === "BinaryExpression" && left.operator === "instanceof" &&
      (left.right as AnyNode).type === "Identifier" &&
      (left.right as AnyNode).name === "DOMException"
    ) return true;
  }
  return false;
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
    "error-message": {
      create(context) {
        if (isTestFile(context.filename)) return {};
        return {
          ThrowStatement(node) {
            const arg = node.argument as AnyNode | null;
            if (!arg || arg.type !== "NewExpression") return;
            const callee = arg.callee as AnyNode;
            if (callee.type !== "Identifier") return;
            const text = leadingText((arg.arguments as AnyNode[])[0]);
            if (text === undefined) return;
            const problem = errorMessageProblem(callee.name as string, text);
            if (problem) context.report({ node, message: problem });
          },
        };
      },
    },
    "no-error-name-match": {
      create(context) {
        if (isTestFile(context.filename)) return {};
        return {
          BinaryExpression(node) {
            if (!["===", "!==", "==", "!="].includes(node.operator)) return;
            const sides = ([node.left, node.right] as AnyNode[]).map((s) =>
              s.type === "ChainExpression" ? s.expression as AnyNode : s
            );
            const member = sides.find((s) =>
              s.type === "MemberExpression" && (s.property as AnyNode).type === "Identifier" &&
              (s.property as AnyNode).name === "name"
            );
            const literal = sides.find((s) =>
              s.type === "Literal" && typeof s.value === "string" &&
              /(Error|NotCapable|NotFound|PermissionDenied|AlreadyExists)$/.test(s.value)
            );
            if (!member || !literal || guardedByDomException(node as AnyNode)) return;
            context.report({
              node,
              message:
                `Cannot match errors by name ("${literal.value}"): a rename or a wrapper breaks it — use instanceof with the error class`,
            });
          },
        };
      },
    },
  },
};

export default plugin;
