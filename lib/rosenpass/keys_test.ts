import assert from "node:assert/strict";
import { join } from "node:path";
import {
  checkRosenpassKeyFiles,
  generateRosenpassKeys,
  ROSENPASS_PUBLIC_KEY_BYTES,
  ROSENPASS_SECRET_KEY_BYTES,
} from "./keys.ts";
import { resolveRosenpassBinary } from "./resolve_binary.ts";

Deno.test("generateRosenpassKeys writes a valid pair, secret 0600 in a 0700 dir", async () => {
  const root = await Deno.makeTempDir();
  try {
    const secretKeyPath = join(root, "rp", "pqsk");
    const publicKeyPath = join(root, "rp", "pqpk");
    // A permissive umask in this process must not leak into the secret's mode.
    const r = await generateRosenpassKeys({ secretKeyPath, publicKeyPath });
    assert.equal(r.created, true);
    const sk = await Deno.stat(secretKeyPath);
    const pk = await Deno.stat(publicKeyPath);
    assert.equal(sk.mode! & 0o777, 0o600);
    assert.equal((await Deno.stat(join(root, "rp"))).mode! & 0o777, 0o700);
    assert.equal(pk.size, ROSENPASS_PUBLIC_KEY_BYTES);
    assert.ok(ROSENPASS_SECRET_KEY_BYTES.includes(sk.size));
    await checkRosenpassKeyFiles({ secretKeyPath, publicKeyPath });

    const before = await Deno.readFile(publicKeyPath);
    const again = await generateRosenpassKeys({ secretKeyPath, publicKeyPath });
    assert.equal(again.created, false);
    assert.deepEqual(await Deno.readFile(publicKeyPath), before);
    const forced = await generateRosenpassKeys({ secretKeyPath, publicKeyPath, force: true });
    assert.equal(forced.created, true);
    assert.notDeepEqual(await Deno.readFile(publicKeyPath), before);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("checkRosenpassKeyFiles gives the command that fixes each problem", async () => {
  const root = await Deno.makeTempDir();
  try {
    const dir = join(root, "keys");
    await Deno.mkdir(dir, { mode: 0o755 });
    await Deno.chmod(dir, 0o755);
    const secretKeyPath = join(dir, "pqsk");
    const publicKeyPath = join(dir, "pqpk");
    await Deno.writeFile(secretKeyPath, new Uint8Array(ROSENPASS_SECRET_KEY_BYTES[0]!));
    await Deno.chmod(secretKeyPath, 0o644);
    await Deno.writeFile(publicKeyPath, new Uint8Array(100));
    const err = await checkRosenpassKeyFiles({ secretKeyPath, publicKeyPath }).then(
      () => null,
      (e: Error) => e,
    );
    assert.ok(err);
    assert.match(
      err.message,
      new RegExp(`${secretKeyPath} is mode 0644; run: chmod 600 ${secretKeyPath}`),
    );
    assert.match(err.message, new RegExp(`directory ${dir} is mode 0755; run: chmod 700 ${dir}`));
    assert.match(err.message, /pqpk is 100 bytes, expected 524160/);

    await Deno.chmod(secretKeyPath, 0o600);
    await Deno.chmod(dir, 0o700);
    await Deno.writeFile(publicKeyPath, new Uint8Array(ROSENPASS_PUBLIC_KEY_BYTES));
    await checkRosenpassKeyFiles({ secretKeyPath, publicKeyPath });

    await Deno.remove(secretKeyPath);
    await assert.rejects(
      checkRosenpassKeyFiles({ secretKeyPath, publicKeyPath }),
      /pqsk does not exist; run: labman keygen/,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("generateRosenpassKeys refuses a half pair without force", async () => {
  const root = await Deno.makeTempDir();
  try {
    const secretKeyPath = join(root, "pqsk");
    await Deno.writeTextFile(secretKeyPath, "x");
    await assert.rejects(
      generateRosenpassKeys({ secretKeyPath, publicKeyPath: join(root, "pqpk") }),
      /pqsk exists but its pair does not — remove it or pass --force/,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("resolveRosenpassBinary searches PATH, then the extra dirs", async () => {
  const root = await Deno.makeTempDir();
  try {
    const a = join(root, "a");
    const b = join(root, "b");
    await Deno.mkdir(a);
    await Deno.mkdir(b);
    await Deno.writeTextFile(join(b, "rp"), "#!/bin/sh\n", { mode: 0o755 });
    await Deno.writeTextFile(join(a, "rp"), "not executable", { mode: 0o644 });
    assert.equal(resolveRosenpassBinary("rp", { path: a, extraDirs: [b] }), join(b, "rp"));
    assert.equal(resolveRosenpassBinary(join(b, "rp")), join(b, "rp"));
    assert.throws(
      () => resolveRosenpassBinary("rp", { path: a, extraDirs: [] }),
      /"rp" is not on PATH .* set rosenpass.binary/,
    );
    assert.throws(() => resolveRosenpassBinary(join(a, "rp")), /not an executable file/);
    // The default resolves the real binary (PATH, which `deno task test` extends with CI's cache).
    assert.match(resolveRosenpassBinary("rosenpass"), /\/rosenpass$/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
