// The house lint rules (_tools/lint_plugin.ts): the pure decisions, then the rule run by
// `deno lint` itself on a scratch tree shaped like the repository.
import assert from "node:assert/strict";
import { areaOf, deepImportProblem } from "../_tools/lint_plugin.ts";

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
    const plugin = new URL("../_tools/lint_plugin.ts", import.meta.url).href;
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
