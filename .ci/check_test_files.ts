/**
 * Fails (exit 1) when a `*_test.ts` file exists that `deno task test` does not run: every test
 * file must lie under one of the directories the `test` task passes to `deno test`.
 * Run by `deno task check`: deno run --allow-read .ci/check_test_files.ts
 */
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const SKIP = new Set([".git", "node_modules", "dist", ".cache", "vectors", "results"]);

function* testFiles(dir: string): Generator<string> {
  for (const e of Deno.readDirSync(dir)) {
    if (SKIP.has(e.name)) continue;
    const path = join(dir, e.name);
    if (e.isDirectory) yield* testFiles(path);
    else if (e.isFile && /[._]test\.(ts|tsx|js|mjs)$/.test(e.name)) yield relative(ROOT, path);
  }
}

const task: string = JSON.parse(Deno.readTextFileSync(join(ROOT, "deno.json"))).tasks.test;
// The operands of `deno test` that are paths (not flags, not the env assignment before it).
const words = task.slice(task.indexOf("deno test") + "deno test".length).trim().split(/\s+/);
const dirs = words.filter((w) => !w.startsWith("-")).map((w) => w.replace(/\/$/, ""));
if (dirs.length === 0) Deno.exit(0); // `deno test` without paths runs every test file
const missed = [...testFiles(ROOT)].filter((f) =>
  !dirs.some((d) => d === "." || f === d || f.startsWith(`${d}/`))
);
if (missed.length > 0) {
  console.error(
    `Cannot pass the check: ${missed.length} test file(s) that \`deno task test\` never runs:\n` +
      missed.map((f) => `  ${f}`).join("\n") +
      `\n— add their directory to the "test" task in deno.json (now: ${dirs.join(" ")})`,
  );
  Deno.exit(1);
}
console.log(`test files: all ${[...testFiles(ROOT)].length} run by \`deno task test\``);
