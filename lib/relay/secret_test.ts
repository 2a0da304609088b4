import assert from "node:assert/strict";
import { ensurePortmanSecret } from "./secret.ts";

Deno.test("Portman secret: created 0600 in a 0700 directory, reused, refused when others can read it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "labman-secret-" });
  try {
    const path = `${dir}/state/portman.secret`;
    const [a, b] = await Promise.all([ensurePortmanSecret(path), ensurePortmanSecret(path)]);
    assert.equal(a.secret, b.secret, "two starts racing share one secret");
    assert.equal([a.created, b.created].filter(Boolean).length, 1);
    assert.match(a.secret, /^[0-9a-f]{64}$/);
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    assert.equal((await Deno.stat(`${dir}/state`)).mode! & 0o777, 0o700);
    assert.deepEqual(await ensurePortmanSecret(path), { secret: a.secret, created: false });
    await Deno.chmod(path, 0o640);
    await assert.rejects(ensurePortmanSecret(path), /mode 640 .* run: chmod 600/);
    await Deno.writeTextFile(path, "short\n");
    await Deno.chmod(path, 0o600);
    await assert.rejects(ensurePortmanSecret(path), /shorter than 16/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
