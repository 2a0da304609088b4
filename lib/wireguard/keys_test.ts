import assert from "node:assert/strict";
import { join } from "node:path";
import {
  checkSecretDirMode,
  checkSecretFileMode,
  clampPrivateKey,
  decodeKey,
  encodeKey,
  generateKeyPair,
  generatePresharedKey,
  hexToKey,
  keyPathsIn,
  keyToHex,
  publicKeyFromPrivate,
  readPrivateKey,
  writeKeyPair,
} from "./keys.ts";

async function wg(args: string[], stdin: string): Promise<string> {
  const child = new Deno.Command("wg", { args, stdin: "piped", stdout: "piped", stderr: "piped" })
    .spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(stdin));
  await w.close();
  const out = await child.output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout).trim();
}

const hasWg = (() => {
  try {
    return Deno.statSync("/usr/bin/wg").isFile;
  } catch {
    return false;
  }
})();

Deno.test("generated private keys are clamped and 32 bytes", async () => {
  for (let i = 0; i < 8; i++) {
    const { privateKey, publicKey } = await generateKeyPair();
    assert.equal(privateKey.length, 32);
    assert.equal(publicKey.length, 32);
    assert.equal(privateKey[0] & 7, 0);
    assert.equal(privateKey[31] & 0x80, 0);
    assert.equal(privateKey[31] & 0x40, 0x40);
    assert.deepEqual(await publicKeyFromPrivate(privateKey), publicKey);
  }
});

Deno.test("clampPrivateKey matches RFC 7748 and does not mutate its input", () => {
  const raw = new Uint8Array(32).fill(0xff);
  const c = clampPrivateKey(raw);
  assert.equal(c[0], 0xf8);
  assert.equal(c[31], 0x7f);
  assert.equal(raw[0], 0xff);
  assert.equal(clampPrivateKey(new Uint8Array(32))[31], 0x40);
  assert.throws(() => clampPrivateKey(new Uint8Array(31)), /32 bytes/);
});

Deno.test("an unclamped private key yields the same public key as its clamped form", async () => {
  const raw = crypto.getRandomValues(new Uint8Array(32));
  raw[0] |= 7;
  raw[31] |= 0x80;
  assert.deepEqual(
    await publicKeyFromPrivate(raw),
    await publicKeyFromPrivate(clampPrivateKey(raw)),
  );
});

Deno.test({
  name: "publicKeyFromPrivate agrees with `wg pubkey`, and we derive wg genkey's keys",
  ignore: !hasWg,
  async fn() {
    const { privateKey, publicKey } = await generateKeyPair();
    assert.equal(await wg(["pubkey"], encodeKey(privateKey) + "\n"), encodeKey(publicKey));
    const wgPriv = await wg(["genkey"], "");
    const wgPub = await wg(["pubkey"], wgPriv + "\n");
    assert.equal(encodeKey(await publicKeyFromPrivate(wgPriv)), wgPub);
  },
});

Deno.test("decodeKey is strict about length, alphabet, padding and trailing bits", () => {
  const k = encodeKey(generatePresharedKey());
  assert.equal(k.length, 44);
  assert.deepEqual(encodeKey(decodeKey(k)), k);
  for (
    const bad of [
      "",
      k.slice(0, 43),
      k + "=",
      k.replace(/.$/, "A"),
      "!" + k.slice(1),
      k.slice(0, 42) + "B=", // non-zero bits past the 256th
      btoa("x".repeat(31)),
      btoa("x".repeat(33)),
    ]
  ) {
    assert.throws(() => decodeKey(bad, "peer key"), /Cannot decode peer key/, bad);
  }
  assert.throws(() => encodeKey(new Uint8Array(16)), /32 bytes/);
});

Deno.test("hex round trip for the UAPI", () => {
  const k = encodeKey(Uint8Array.from({ length: 32 }, (_, i) => i * 7));
  const hex = keyToHex(k);
  assert.match(hex, /^[0-9a-f]{64}$/);
  assert.equal(hex.slice(0, 6), "00070e");
  assert.equal(hexToKey(hex), k);
  assert.equal(hexToKey(hex.toUpperCase()), k);
  assert.throws(() => hexToKey(hex.slice(2)), /64 hex/);
  assert.throws(() => hexToKey("zz" + hex.slice(2)), /64 hex/);
});

Deno.test("writeKeyPair writes 0600 in a 0700 dir despite umask, and refuses to overwrite", async () => {
  const base = await Deno.makeTempDir();
  const old = Deno.umask(0o000);
  try {
    const dir = join(base, "wg");
    const paths = keyPathsIn(dir);
    const pair = await generateKeyPair();
    await writeKeyPair(paths, pair);
    assert.equal((await Deno.stat(dir)).mode! & 0o777, 0o700);
    assert.equal((await Deno.stat(paths.privatePath)).mode! & 0o777, 0o600);
    assert.equal((await Deno.readTextFile(paths.publicPath)).trim(), encodeKey(pair.publicKey));
    assert.equal(await readPrivateKey(paths.privatePath), encodeKey(pair.privateKey));
    await assert.rejects(writeKeyPair(paths, await generateKeyPair()), /already exists.*--force/);
    assert.equal(await readPrivateKey(paths.privatePath), encodeKey(pair.privateKey));
    const next = await generateKeyPair();
    await writeKeyPair(paths, next, { force: true });
    assert.equal(await readPrivateKey(paths.privatePath), encodeKey(next.privateKey));
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), [
      "private.key",
      "public.key",
    ]);
  } finally {
    Deno.umask(old);
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("mode checks give the chmod command to run", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = join(dir, "private.key");
    await Deno.writeTextFile(file, encodeKey(generatePresharedKey()));
    await Deno.chmod(file, 0o644);
    await assert.rejects(
      checkSecretFileMode(file),
      { message: `Cannot use secret ${file}: it is mode 0644; run: chmod 600 ${file}` },
    );
    await assert.rejects(readPrivateKey(file), /chmod 600/);
    await Deno.chmod(file, 0o600);
    await checkSecretFileMode(file);
    await Deno.chmod(dir, 0o755);
    await assert.rejects(checkSecretDirMode(dir), new RegExp(`mode 0755; run: chmod 700 ${dir}`));
    await assert.rejects(readPrivateKey(file), /chmod 700/);
    await Deno.chmod(dir, 0o700);
    await checkSecretDirMode(dir);
    await assert.rejects(checkSecretFileMode(dir), /not a regular file/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
