/**
 * House rules that `deno lint` enforces (wired in `deno.json` → `lint.plugins`), so they hold
 * without review:
 *
 * - `labman/no-deep-import`: code in one area (`lib/<area>/`, `labman/`, `labmand/`) imports
 *   another `lib/<area>/` only through its `mod.ts`. Tests (`*_test.ts`, `tests/`, `bench/`)
 *   may reach internals: that is what they test.
 * - `labman/error-message`: an error constructed with literal text — a built-in (`Error`,
 *   `TypeError`, `RangeError`, `SyntaxError`) or one of the project's classes in
 *   `ERROR_CLASSES` — reads "Cannot <verb> …: <why> — <fix>" (classes that add "Cannot "
 *   themselves take the "<verb> …"); the rule checks "Cannot <verb> …: <why>", review the fix.
 * - `labman/no-error-name-match`: errors are matched by class (`instanceof`), never by comparing
 *   `.name` with a string; `DOMException` is the one exception (its `name` is its type).
 *
 * @module
 */

/** `lib/<area>` for a path inside lib, the top folder otherwise; undefined outside the repo. */
export function areaOf(path: string): string | undefined {
  const parts = path.split("/");
  const lib = parts.lastIndexOf("lib");
  const root = ["labman", "labmand", "tests", "bench", ".ci"];
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

/**
 * Where each error class takes the text a reader sees, and what that argument is: the whole
 * message ("Cannot <verb> …: <why> — <fix>"), or the "<verb> …" action the class itself puts
 * after "Cannot ". A class that words its message itself (e.g. `BodyTooLargeError`) is listed
 * with `arg: -1`; tests/lint_plugin_test.ts fails when an error class in the code is missing here.
 */
export const ERROR_CLASSES: Record<string, { arg: number; form: "message" | "action" }> = {
  Error: { arg: 0, form: "message" },
  TypeError: { arg: 0, form: "message" },
  RangeError: { arg: 0, form: "message" },
  SyntaxError: { arg: 0, form: "message" },
  ControlPlaneError: { arg: 0, form: "message" },
  // Takes only the reason: the class writes "Cannot parse the upstream's HTTP/1.1 response: ".
  HttpProtocolError: { arg: -1, form: "message" },
  // Its message is the `error` frame's text for the peer, next to a machine-readable code
  // ("kind: unknown kind …"); a hostile peer gets no fix, so the house form does not apply.
  ProtocolError: { arg: -1, form: "message" },
  UpstreamError: { arg: 1, form: "message" },
  WsHandshakeError: { arg: 1, form: "message" },
  UapiError: { arg: 1, form: "action" },
  NetlinkError: { arg: 1, form: "action" },
  BodyTooLargeError: { arg: -1, form: "message" },
  // The mock LLM's stream-abort reason: a fixture's marker, read by no one.
  MockAbort: { arg: -1, form: "message" },
};

/**
 * Why the literal text given to `new <className>(…)` breaks the house form, or undefined when
 * it follows it (or the class is not listed). `text` is the literal with each `${…}` written
 * as "…". The rule checks the "Cannot <verb>" opening and the ": <why>" after it; review the
 * fix.
 */
export function errorMessageProblem(className: string, text: string): string | undefined {
  const spec = ERROR_CLASSES[className];
  if (!spec || spec.arg < 0) return undefined;
  if (spec.form === "action") {
    // A computed start ("${what} (…)") is the caller's action, checked where it is written.
    if (/^([a-z]+\b|…)/.test(text) && !/^cannot\b/i.test(text)) return undefined;
    return `Cannot accept this ${className} action: it is put after "Cannot " — pass a lowercase "<verb> …" such as "set peer"`;
  }
  if (!text.startsWith("Cannot ")) {
    return `Cannot accept this ${className} message: it does not start with "Cannot " — write "Cannot <verb> …: <why> — <fix>"`;
  }
  if (!text.includes(": ")) {
    return `Cannot accept this ${className} message: it has no ": <why>" after "Cannot <verb> …" — write "Cannot <verb> …: <why> — <fix>"`;
  }
  return undefined;
}

type AnyNode = Deno.lint.Node & Record<string, unknown>;

/** The literal text of a message argument, each `${…}` as "…"; undefined when computed. */
function literalText(arg: AnyNode | undefined): string | undefined {
  if (!arg) return undefined;
  if (arg.type === "Literal" && typeof arg.value === "string") return arg.value;
  if (arg.type === "TemplateLiteral") {
    // Deno's lint AST puts `cooked` on the element itself (ESTree nests it in `value`).
    const quasis = arg.quasis as unknown as { cooked?: string; value?: { cooked?: string } }[];
    return quasis.map((q) => q.cooked ?? q.value?.cooked ?? "").join("…");
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
          // Every construction, not only `throw`: errors are also returned, rejected and
          // passed to `controller.error`.
          NewExpression(node) {
            const callee = node.callee as AnyNode;
            if (callee.type !== "Identifier") return;
            const spec = ERROR_CLASSES[callee.name as string];
            if (!spec || spec.arg < 0) return;
            const text = literalText((node.arguments as AnyNode[])[spec.arg]);
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
