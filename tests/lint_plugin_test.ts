// The house lint rules (.ci/lint_plugin.ts): the pure decisions, then the rule run by
// `deno lint` itself on a scratch tree shaped like the repository.
import assert from "node:assert/strict";
import {
  areaOf,
  deepImportProblem,
  ERROR_CLASSES,
  errorMessageProblem,
} from "../.ci/lint_plugin.ts";

const ROOT = "/repo";

Deno.test("areaOf: lib/<area>, the entry folders, nothing outside", () => {
  assert.equal(areaOf(`${ROOT}/lib/proxy/handler.ts`), "lib/proxy");
  assert.equal(areaOf(`${ROOT}/lib/proxy/mod.ts`), "lib/proxy");
  assert.equal(areaOf(`${ROOT}/labman/commands/status.ts`), "labman");
  assert.equal(areaOf(`${ROOT}/labmand/daemon.ts`), "labmand");
  assert.equal(areaOf(`${ROOT}/elsewhere/x.ts`), undefined);
});

Deno.test("deepImportProblem: only mod.ts across areas; inside an area and in tests anything", () => {
  const f = `${ROOT}/lib/proxy/handler.ts`;
  assert.equal(deepImportProblem(f, "./body_reader.ts"), undefined);
  assert.equal(deepImportProblem(f, "../registry/mod.ts"), undefined);
  assert.equal(deepImportProblem(f, "npm:zod"), undefined);
  assert.match(
    deepImportProblem(f, "../registry/types.ts")!,
    /^Cannot import \.\.\/registry\/types\.ts from lib\/proxy: it reaches inside lib\/registry — import from lib\/registry\/mod\.ts/,
  );
  assert.match(
    deepImportProblem(`${ROOT}/labman/commands/pre.ts`, "../../lib/ops/host.ts")!,
    /inside lib\/ops/,
  );
  assert.equal(
    deepImportProblem(`${ROOT}/labman/commands/pre.ts`, "../../lib/ops/mod.ts"),
    undefined,
  );
  assert.equal(
    deepImportProblem(`${ROOT}/lib/proxy/handler_test.ts`, "../registry/types.ts"),
    undefined,
  );
  assert.equal(deepImportProblem(`${ROOT}/tests/x_test.ts`, "../lib/registry/types.ts"), undefined);
  // A nested mod.ts is not the area's door.
  assert.ok(deepImportProblem(f, "../registry/sub/mod.ts"));
});

Deno.test("deno lint with the plugin fails on a deep import and passes through mod.ts", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const plugin = new URL("../.ci/lint_plugin.ts", import.meta.url).href;
    await Deno.mkdir(`${dir}/lib/a`, { recursive: true });
    await Deno.mkdir(`${dir}/lib/b`, { recursive: true });
    await Deno.writeTextFile(`${dir}/deno.json`, JSON.stringify({ lint: { plugins: [plugin] } }));
    await Deno.writeTextFile(`${dir}/lib/b/inner.ts`, "export const x = 1;\n");
    await Deno.writeTextFile(`${dir}/lib/b/mod.ts`, 'export { x } from "./inner.ts";\n');
    await Deno.writeTextFile(
      `${dir}/lib/a/ok.ts`,
      'import { x } from "../b/mod.ts";\nexport const y = x;\n',
    );
    const lint = async (file: string) => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["lint", "--rules-exclude=no-unused-vars", file],
        cwd: dir,
        stdout: "piped",
        stderr: "piped",
      }).output();
      return {
        code: out.code,
        text: new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout),
      };
    };
    assert.equal((await lint("lib/a/ok.ts")).code, 0);
    await Deno.writeTextFile(
      `${dir}/lib/a/bad.ts`,
      'import { x } from "../b/inner.ts";\nexport const y = x;\n',
    );
    const bad = await lint("lib/a/bad.ts");
    assert.notEqual(bad.code, 0);
    assert.match(bad.text, /labman\/no-deep-import/);
    assert.match(bad.text, /reaches inside lib\/b/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("errorMessageProblem: Cannot <verb> …: <why> for messages, a bare verb for actions", () => {
  assert.equal(errorMessageProblem("Error", "Cannot read x: gone — restore it"), undefined);
  assert.match(errorMessageProblem("Error", "read failed")!, /does not start with "Cannot "/);
  assert.match(errorMessageProblem("TypeError", "Cannot read x")!, /no ": <why>"/);
  // Project classes: the message argument is where the class takes it.
  assert.equal(
    errorMessageProblem("ControlPlaneError", "Cannot register with … : HTTP … — retry"),
    undefined,
  );
  assert.match(errorMessageProblem("ControlPlaneError", "control plane said no")!, /Cannot "/);
  assert.match(errorMessageProblem("WsHandshakeError", "handshake failed")!, /Cannot "/);
  // Classes that put "Cannot " in front take the verb phrase.
  assert.equal(errorMessageProblem("UapiError", "set device …"), undefined);
  assert.equal(errorMessageProblem("NetlinkError", "… (dump interrupted)"), undefined);
  assert.match(errorMessageProblem("NetlinkError", "Cannot set link")!, /lowercase "<verb> …"/);
  // Classes that word their own message, and unknown names, are left alone.
  assert.equal(errorMessageProblem("BodyTooLargeError", "anything"), undefined);
  assert.equal(errorMessageProblem("Response", "anything"), undefined);
});

/** The `.ts` files under `dir`, recursively. */
async function* tsFiles(dir: string): AsyncGenerator<string> {
  for await (const e of Deno.readDir(dir)) {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory) yield* tsFiles(path);
    else if (e.isFile && e.name.endsWith(".ts")) yield path;
  }
}

Deno.test("every error class in the code is in ERROR_CLASSES, so its messages are checked", async () => {
  const root = new URL("../", import.meta.url).pathname;
  const missing: string[] = [];
  for (const dir of ["lib", "labmand", "labman"]) {
    for await (const path of tsFiles(`${root}${dir}`)) {
      if (path.endsWith("_test.ts")) continue;
      const text = await Deno.readTextFile(path);
      for (const m of text.matchAll(/\bclass (\w+) extends (\w*Error|Deno\.errors\.\w+)\b/g)) {
        if (!(m[1] in ERROR_CLASSES)) missing.push(`${path.slice(root.length)}: ${m[1]}`);
      }
    }
  }
  assert.deepEqual(missing, [], "add each to ERROR_CLASSES in .ci/lint_plugin.ts");
  assert.ok(Object.keys(ERROR_CLASSES).length > 4, "the scan found the project's classes");
});

Deno.test("deno lint with the plugin checks project error classes wherever they are built", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const plugin = new URL("../.ci/lint_plugin.ts", import.meta.url).href;
    await Deno.mkdir(`${dir}/lib/a`, { recursive: true });
    await Deno.writeTextFile(`${dir}/deno.json`, JSON.stringify({ lint: { plugins: [plugin] } }));
    const lint = async (file: string, text: string) => {
      await Deno.writeTextFile(`${dir}/${file}`, text);
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["lint", "--rules-exclude=no-unused-vars", file],
        cwd: dir,
        stdout: "piped",
        stderr: "piped",
      }).output();
      return {
        code: out.code,
        text: new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout),
      };
    };
    const cls = "class UpstreamError extends Error {\n" +
      "  constructor(readonly kind: string, message: string) {\n    super(message);\n  }\n}\n";
    const good = await lint(
      "lib/a/good.ts",
      `${cls}export const e = new UpstreamError("timeout", \`Cannot reach \${"x"}: no answer — check it\`);\n`,
    );
    assert.equal(good.code, 0, good.text);
    const bad = await lint(
      "lib/a/bad.ts",
      `${cls}export function f() {\n  return new UpstreamError("timeout", "upstream timed out");\n}\n`,
    );
    assert.notEqual(bad.code, 0);
    assert.match(bad.text, /labman\/error-message/);
    assert.match(bad.text, /UpstreamError message: it does not start with "Cannot "/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
