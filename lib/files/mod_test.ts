import assert from "node:assert/strict";
import { mayExistSync, pathExists } from "./mod.ts";

Deno.test("pathExists: a file, a dangling link, nothing, and an unreadable directory", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/f`, "x");
    await Deno.symlink(`${dir}/missing`, `${dir}/link`);
    assert.equal(await pathExists(`${dir}/f`), true);
    assert.equal(await pathExists(`${dir}/link`), true, "the link itself is there");
    assert.equal(await pathExists(`${dir}/nothing`), false);
    // Not a directory: the answer is an error, never a silent "absent".
    await assert.rejects(() => pathExists(`${dir}/f/below`), Deno.errors.NotADirectory);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("mayExistSync: false only for nothing; a failure to look counts as present", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/f`, "x");
    assert.equal(mayExistSync(`${dir}/f`), true);
    assert.equal(mayExistSync(`${dir}/nothing`), false);
    // Not a directory: "cannot tell", so the caller reads it and reports why that fails.
    assert.equal(mayExistSync(`${dir}/f/below`), true);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
