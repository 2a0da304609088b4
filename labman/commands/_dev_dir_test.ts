import assert from "node:assert/strict";
import { makeTestDir } from "../../tests/helpers/test_dirs.ts";
import { makeDevDir } from "./_dev_dir.ts";

/** A base path inside a fresh test directory (never the real /tmp/labman-dev). */
async function withBase(fn: (base: string) => Promise<void>) {
  const dir = await makeTestDir({ prefix: "labman-devdir-" });
  try {
    await fn(`${dir}/labman-dev`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("makeDevDir creates a private base and one private directory per run", async () => {
  await withBase(async (base) => {
    const a = await makeDevDir(base), b = await makeDevDir(base);
    assert.notEqual(a, b);
    assert.equal((await Deno.lstat(base)).mode! & 0o777, 0o700);
    for (const d of [a, b]) {
      assert.ok(d.startsWith(`${base}/run-`));
      assert.equal((await Deno.stat(d)).mode! & 0o777, 0o700);
    }
  });
});

Deno.test("makeDevDir refuses a base another user could tamper with", async () => {
  await withBase(async (base) => {
    await Deno.symlink("/tmp", base);
    await assert.rejects(
      makeDevDir(base),
      new RegExp(`Cannot start labman dev: ${base} is not a directory — remove it`),
    );
  });
  await withBase(async (base) => {
    await Deno.mkdir(base);
    await Deno.chmod(base, 0o777);
    await assert.rejects(makeDevDir(base), /can be entered by other users — remove it/);
  });
  if (Deno.uid() === 0) {
    await withBase(async (base) => {
      await Deno.mkdir(base, { mode: 0o700 });
      await Deno.chown(base, 65534, 65534);
      await assert.rejects(makeDevDir(base), /belongs to another user — remove it/);
      assert.deepEqual(Array.from(Deno.readDirSync(base)), [], "the run dir is removed again");
    });
  }
});
