/**
 * `labman pre` and `labman post` against temporary roots and configs, with a fake host so no
 * link, module or process of the real system is touched.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { post, removeStaleSocket } from "../labman/commands/post.ts";
import { pre } from "../labman/commands/pre.ts";
import { fakeHost, type FakeHostOptions } from "../lib/ops/fake_host.ts";

const PEER = `[wireguard.peer]
public_key = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="
endpoint = "192.0.2.1:51820"
allowed_ips = ["10.90.0.1/32"]
`;

async function setup(hostOptions: FakeHostOptions = {}) {
  const dir = await Deno.makeTempDir({ prefix: "labman_hooks_" });
  const root = join(dir, "root");
  const keys = join(dir, "keys");
  await Deno.mkdir(keys, { mode: 0o700 });
  await Deno.chmod(keys, 0o700);
  const key = join(keys, "private.key");
  await Deno.writeTextFile(key, "secret\n", { mode: 0o600 });
  await Deno.chmod(key, 0o600);
  const lines: string[] = [];
  const errors: string[] = [];
  const host = fakeHost(hostOptions);
  const deps = { host, out: (l: string) => lines.push(l), err: (l: string) => errors.push(l) };
  const writeConfig = async (body: string) => {
    const path = join(dir, "labman.toml");
    await Deno.writeTextFile(path, body);
    return path;
  };
  return { dir, root, keys, key, lines, errors, host, deps, writeConfig };
}

function userspaceConfig(t: { key: string; root: string }, extra = "") {
  return `[wireguard]
mode = "userspace"
address = "10.90.0.5/32"
private_key_path = "${t.key}"
public_key_path = "${t.key}.pub"
${PEER}
[rosenpass]
enabled = false
state_dir = "${t.root}/run/labman/rosenpass"
${extra}`;
}

Deno.test("pre fails on a bad config, printing each error with file:line and the fix", async () => {
  const t = await setup();
  try {
    const cfg = await t.writeConfig('[wireguard]\nmode = "bogus"\n\n[proxy]\nlisten_port = 0\n');
    assert.equal(await pre(["--config", cfg, "--root", t.root], t.deps), 1);
    const text = t.errors.join("\n");
    assert.match(
      text,
      new RegExp(
        `✗ ${cfg}:2: wireguard\\.mode: must be one of "auto", "kernel", "userspace", "off"`,
      ),
    );
    assert.match(text, new RegExp(`✗ ${cfg}:5: proxy\\.listen_port: `));
    assert.match(text, /labman pre: 2 config error\(s\) in .*; labmand not started/);

    t.errors.length = 0;
    assert.equal(await pre(["--config", join(t.dir, "missing.toml"), "--root", t.root], t.deps), 1);
    assert.match(t.errors.join("\n"), /missing\.toml/);
  } finally {
    await Deno.remove(t.dir, { recursive: true });
  }
});

Deno.test("pre refuses a 0644 key file and a world-readable key directory with the chmod to run", async () => {
  const t = await setup({ executables: { "wireguard-go": "/usr/bin/wireguard-go" } });
  try {
    const cfg = await t.writeConfig(userspaceConfig(t));
    await Deno.chmod(t.key, 0o644);
    assert.equal(await pre(["--config", cfg, "--root", t.root], t.deps), 1);
    assert.match(t.errors.join("\n"), new RegExp(`has mode 0644.* — run: chmod 600 ${t.key}`));

    await Deno.chmod(t.key, 0o600);
    await Deno.chmod(t.keys, 0o755);
    t.errors.length = 0;
    assert.equal(await pre(["--config", cfg, "--root", t.root], t.deps), 1);
    const text = t.errors.join("\n");
    assert.match(text, new RegExp(`✗ WireGuard key directory: ${t.keys} has mode 0755`));
    assert.match(text, new RegExp(`fix: run: chmod 700 ${t.keys}`));
    // The temp root has no /dev/net/tun, which userspace mode needs.
    assert.match(
      text,
      /✗ \/dev\/net\/tun: missing \(wireguard-go needs it\)\n +fix: run: modprobe tun/,
    );
    assert.match(text, /labman pre: 2 problem\(s\); labmand not started/);
  } finally {
    await Deno.remove(t.dir, { recursive: true });
  }
});

Deno.test("pre passes a good userspace config and creates the runtime dirs with 0700", async () => {
  const t = await setup({ executables: { "wireguard-go": "/usr/bin/wireguard-go" } });
  try {
    const cfg = await t.writeConfig(userspaceConfig(t));
    // A stand-in for the tun device: pre follows the link to the real character device.
    await Deno.mkdir(join(t.root, "dev/net"), { recursive: true });
    await Deno.symlink("/dev/null", join(t.root, "dev/net/tun"));
    assert.equal(await pre(["--config", cfg, "--root", t.root], t.deps), 0, t.errors.join("\n"));
    assert.equal((await Deno.stat(join(t.root, "run/labman"))).mode! & 0o777, 0o700);
    assert.equal((await Deno.stat(join(t.root, "var/lib/labman"))).mode! & 0o777, 0o700);
    assert.match(t.lines.join("\n"), /✓ wireguard-go: \/usr\/bin\/wireguard-go/);
    assert.match(t.lines.at(-1)!, /^labman pre: ok \(config .*, wireguard mode userspace\)$/);

    // Without wireguard-go on the host, the same config must not start.
    const bare = { ...t.deps, host: fakeHost() };
    t.errors.length = 0;
    assert.equal(await pre(["--config", cfg, "--root", t.root], bare), 1);
    assert.match(
      t.errors.join("\n"),
      /✗ wireguard-go: "wireguard-go" not found .*\n +fix: apt-get install wireguard-go/,
    );
  } finally {
    await Deno.remove(t.dir, { recursive: true });
  }
});

Deno.test("pre requires rosenpass when enabled and the kernel module in kernel mode", async () => {
  const t = await setup({ results: { "modprobe -n wireguard": { code: 1 } } });
  try {
    for (const name of ["pqsk", "pqpk", "peer.pqpk"]) {
      await Deno.writeTextFile(join(t.keys, name), "x", { mode: 0o600 });
      await Deno.chmod(join(t.keys, name), 0o600);
    }
    const withKeys = await t.writeConfig(
      userspaceConfig(t)
        .replace('mode = "userspace"', 'mode = "kernel"')
        .replace(
          "enabled = false",
          `enabled = true\nsecret_key_path = "${t.keys}/pqsk"\npublic_key_path = "${t.keys}/pqpk"\n` +
            `peer_public_key_path = "${t.keys}/peer.pqpk"\npeer_endpoint = "192.0.2.1:9999"`,
        ),
    );
    assert.equal(await pre(["--config", withKeys, "--root", t.root], t.deps), 1);
    const text = t.errors.join("\n");
    assert.match(text, /✗ kernel WireGuard module: not available/);
    assert.match(text, /✗ rosenpass: "rosenpass" not found/);
    assert.ok(t.host.ran.includes("modprobe -n wireguard"));
    assert.equal((await Deno.stat(join(t.root, "run/labman/rosenpass"))).mode! & 0o777, 0o700);
  } finally {
    await Deno.remove(t.dir, { recursive: true });
  }
});

Deno.test("post removes stale runtime files, a dead UAPI socket and the leftover link, and nothing else", async () => {
  const t = await setup({ results: { "ip link show dev labman0": { code: 0 } } });
  try {
    const cfg = await t.writeConfig(userspaceConfig(t));
    const rp = join(t.root, "run/labman/rosenpass");
    await Deno.mkdir(join(rp, "keep-dir"), { recursive: true });
    await Deno.writeTextFile(join(rp, "cp.osk"), "psk");
    await Deno.writeTextFile(join(rp, "rosenpass.toml"), "cfg");
    await Deno.writeTextFile(join(t.root, "run/labman/other"), "not rosenpass state");
    const uapi = join(t.root, "var/run/wireguard");
    await Deno.mkdir(uapi, { recursive: true });
    await Deno.writeTextFile(join(uapi, "labman0.sock"), ""); // connect() is refused: stale
    await Deno.writeTextFile(join(uapi, "wg0.sock"), ""); // another interface's: untouched

    assert.equal(await post(["--config", cfg, "--root", t.root], t.deps), 0, t.errors.join("\n"));
    assert.deepEqual([...Deno.readDirSync(rp)].map((e) => e.name), ["keep-dir"]);
    assert.equal(await Deno.readTextFile(join(t.root, "run/labman/other")), "not rosenpass state");
    await assert.rejects(Deno.lstat(join(uapi, "labman0.sock")), Deno.errors.NotFound);
    await Deno.lstat(join(uapi, "wg0.sock"));
    assert.deepEqual(t.host.ran, ["ip link show dev labman0", "ip link del dev labman0"]);
    const text = t.lines.join("\n");
    assert.match(text, /✓ Rosenpass runtime files: removed cp\.osk, rosenpass\.toml from /);
    assert.match(text, /✓ interface labman0: removed leftover link/);
    assert.match(text, /✓ wireguard-go UAPI socket: removed stale /);
    assert.equal(t.lines.at(-1), "labman post: cleanup complete");

    // Second run: nothing left to do, still success.
    const again = fakeHost({ results: { "ip link show dev labman0": { code: 1 } } });
    t.lines.length = 0;
    assert.equal(await post(["--config", cfg, "--root", t.root], { ...t.deps, host: again }), 0);
    assert.deepEqual(again.ran, ["ip link show dev labman0"]);
    assert.match(t.lines.join("\n"), /interface labman0: not present/);
  } finally {
    await Deno.remove(t.dir, { recursive: true });
  }
});

Deno.test("post refuses while labmand runs, and reports a link it could not delete", async () => {
  const t = await setup({ processes: { labmand: [4242] } });
  try {
    const cfg = await t.writeConfig(userspaceConfig(t));
    const rp = join(t.root, "run/labman/rosenpass");
    await Deno.mkdir(rp, { recursive: true });
    await Deno.writeTextFile(join(rp, "cp.osk"), "psk");
    assert.equal(await post(["--config", cfg, "--root", t.root], t.deps), 1);
    assert.match(t.errors.join("\n"), /labmand is still running \(pid 4242\) — stop it first/);
    await Deno.lstat(join(rp, "cp.osk"));
    assert.deepEqual(t.host.ran, []);

    const failing = fakeHost({
      results: {
        "ip link show dev labman0": { code: 0 },
        "ip link del dev labman0": {
          code: 2,
          stderr: "RTNETLINK answers: Operation not permitted\n",
        },
      },
    });
    t.errors.length = 0;
    assert.equal(await post(["--config", cfg, "--root", t.root], { ...t.deps, host: failing }), 1);
    const text = t.errors.join("\n");
    assert.match(
      text,
      /✗ interface labman0: leftover link could not be removed: RTNETLINK answers: Operation not permitted/,
    );
    assert.match(text, /fix: run: ip link del dev labman0/);
    assert.equal(t.errors.at(-1), "labman post: cleanup incomplete");
  } finally {
    await Deno.remove(t.dir, { recursive: true });
  }
});

Deno.test("removeStaleSocket leaves a socket that wireguard-go still serves", async () => {
  const dir = await Deno.makeTempDir({ prefix: "labman_sock_" });
  const path = join(dir, "labman0.sock");
  const listener = Deno.listen({ transport: "unix", path });
  const accepting = (async () => {
    for await (const conn of listener) conn.close();
  })();
  try {
    const c = await removeStaleSocket(path, 150);
    assert.equal(c.status, "warn");
    assert.match(c.detail!, /still served by a running wireguard-go; left alone/);
    await Deno.lstat(path);
  } finally {
    listener.close();
    await accepting.catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});
