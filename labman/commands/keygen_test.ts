import assert from "node:assert/strict";
import { join } from "node:path";
import { publicKeyFromPrivate, readPrivateKey } from "../../lib/wireguard/keys.ts";
import { decodeKey, encodeKey } from "../../lib/wireguard/mod.ts";
import { runLabman } from "../../tests/helpers/labman_cli.ts";
import { makeTestDir } from "../../tests/helpers/test_dirs.ts";

/** `labman keygen ARGS` as a process with the `labman` task's flags; lines go to `output`. */
async function keygen(
  args: string[],
  output: { out: (t: string) => void; err: (t: string) => void },
): Promise<number> {
  const r = await runLabman(["keygen", ...args]);
  const lines = (t: string) => t === "" ? [] : t.replace(/\n$/, "").split("\n");
  lines(r.stdout).forEach(output.out);
  lines(r.stderr).forEach(output.err);
  return r.code;
}

function capture() {
  const out: string[] = [], err: string[] = [];
  return { out, err, output: { out: (t: string) => out.push(t), err: (t: string) => err.push(t) } };
}

Deno.test("labman keygen writes a 0600 key in a 0700 dir, prints the public key, refuses to overwrite", async () => {
  const base = await makeTestDir();
  try {
    const dir = join(base, "wireguard");
    const c = capture();
    assert.equal(await keygen(["--dir", base, "--no-rosenpass"], c.output), 0);
    assert.equal(c.out.length, 1);
    const pub = c.out[0];
    const priv = await readPrivateKey(join(dir, "private.key"));
    assert.equal(encodeKey(await publicKeyFromPrivate(priv)), pub);
    assert.equal((await Deno.readTextFile(join(dir, "public.key"))).trim(), pub);
    assert.equal((await Deno.stat(join(dir, "private.key"))).mode! & 0o777, 0o600);
    assert.equal((await Deno.stat(dir)).mode! & 0o777, 0o700);

    const again = capture();
    assert.equal(await keygen(["--dir", base, "--no-rosenpass"], again.output), 1);
    assert.match(again.err.join("\n"), /already exists — pass --force/);
    assert.equal(await readPrivateKey(join(dir, "private.key")), priv);

    const forced = capture();
    assert.equal(await keygen(["--dir", base, "--no-rosenpass", "--force"], forced.output), 0);
    assert.notEqual(forced.out[0], pub);
    decodeKey(forced.out[0]);
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("labman keygen: usage errors exit 2, --help exits 0", async () => {
  const c = capture();
  assert.equal(await keygen(["--bogus"], c.output), 2);
  assert.match(c.err.join("\n"), /Usage: labman keygen/);
  const h = capture();
  assert.equal(await keygen(["-h"], h.output), 0);
  assert.match(h.out[0], /--force/);
});

Deno.test("labman keygen also creates the Rosenpass pair with the real rosenpass binary", async () => {
  const { resolveRosenpassBinary } = await import("../../lib/rosenpass/mod.ts");
  let binary: string;
  try {
    binary = resolveRosenpassBinary("rosenpass");
  } catch {
    console.log("skipped: rosenpass binary not installed");
    return;
  }
  const base = await makeTestDir();
  try {
    const c = capture();
    assert.equal(
      await keygen(["--dir", base, "--rosenpass-binary", binary], c.output),
      0,
      c.err.join("\n"),
    );
    assert.equal(c.out.length, 2);
    assert.match(c.out[1], /rosenpass public key .*pqpk \(sha256 [0-9a-f]{32}…\)/);
    assert.equal((await Deno.stat(join(base, "rosenpass", "pqpk"))).size, 524_160);
    assert.equal((await Deno.stat(join(base, "rosenpass", "pqsk"))).mode! & 0o777, 0o600);
    assert.equal((await Deno.stat(join(base, "rosenpass"))).mode! & 0o777, 0o700);
    const again = capture();
    assert.equal(await keygen(["--dir", base, "--rosenpass-binary", binary], again.output), 1);
    assert.match(again.err.join("\n"), /already exists — pass --force/);
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});
