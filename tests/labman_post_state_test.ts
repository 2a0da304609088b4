import assert from "node:assert/strict";
import { join } from "node:path";
import { removeGeneratedFiles } from "../labman/commands/post.ts";

Deno.test("post: outside /run/labman only labmand's generated key material goes, the node's keys stay", async () => {
  const dir = await Deno.makeTempDir({ prefix: "labman-rp-state-" });
  try {
    for (const f of ["peer.osk", "rosenpass.toml", "peer.pqpk", "pqsk", "pqpk"]) {
      await Deno.writeTextFile(join(dir, f), f);
    }
    const c = await removeGeneratedFiles(dir);
    assert.equal(c.status, "ok");
    assert.match(c.detail!, /removed peer\.osk, rosenpass\.toml, peer\.pqpk/);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), ["pqpk", "pqsk"]);
    const again = await removeGeneratedFiles(dir);
    assert.match(again.detail!, /none left/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
