/**
 * `labman doctor` end to end, as a `labman/main.ts` process with the `labman` task's permission
 * flags: on a temporary root with a real endpoint and admin listener on loopback and a closed
 * port for a dead endpoint; with a PATH that lacks the tools; and on the real root, where
 * `/dev/net/tun` (under `/dev`, which Deno refuses to stat without --allow-all) is there or is
 * hidden by a tmpfs in a private mount namespace.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runLabman } from "./helpers/labman_cli.ts";
import { makeTestDir } from "./helpers/test_dirs.ts";

/** `labman doctor ARGS` as a process; stdout and stderr together, as an operator reads them. */
async function doctor(args: string[], options: Parameters<typeof runLabman>[1] = {}) {
  const r = await runLabman(["doctor", ...args], options);
  return { code: r.code, text: (r.stdout + r.stderr).trimEnd() };
}

/** A PATH directory with only `stat`, `cat` and `pgrep`: no wireguard-go, rosenpass, modprobe. */
async function barePath(dir: string): Promise<string> {
  const bin = join(dir, "bin");
  await Deno.mkdir(bin);
  for (const tool of ["stat", "cat", "pgrep"]) {
    for (const d of ["/usr/bin", "/bin"]) {
      try {
        await Deno.symlink(await Deno.realPath(`${d}/${tool}`), join(bin, tool));
        break;
      } catch { /* next */ }
    }
  }
  return bin;
}

const isRoot = Deno.uid() === 0;
const hasTun = (() => {
  try {
    return Deno.statSync("/dev/net/tun").isCharDevice === true;
  } catch {
    return false;
  }
})();

function serveModels() {
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const { pathname } = new URL(req.url);
    if (pathname === "/v1/models") {
      return Response.json({ object: "list", data: [{ id: "m1" }, { id: "m2" }] });
    }
    if (pathname === "/healthz") return new Response("ok\n");
    return new Response("not found", { status: 404 });
  });
}

function closedPort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

Deno.test("doctor lists ✓/!/✗ with fixes and fails only on ✗", async () => {
  const server = serveModels();
  const dir = await makeTestDir({ prefix: "labman_doctor_" });
  try {
    const root = join(dir, "root");
    await Deno.mkdir(join(root, "proc/sys/net/ipv4"), { recursive: true });
    await Deno.writeTextFile(join(root, "proc/sys/net/ipv4/ip_forward"), "1\n");
    const port = server.addr.port;
    const cfg = join(dir, "labman.toml");
    const base = `[wireguard]
mode = "off"

[admin]
listen_port = ${port}

[[endpoints]]
name = "good"
base_url = "http://127.0.0.1:${port}/v1"
`;
    await Deno.writeTextFile(cfg, base);
    const first = await doctor(["--config", cfg, "--root", root, "--timeout-ms", "2000"]);
    let text = first.text;
    assert.equal(first.code, 0, text);
    assert.match(text, /^✓ labman runtime: deno \d+\.\d+\.\d+/m);
    assert.match(
      text,
      /^! labmand binary: .*root\/usr\/local\/bin\/labmand not installed\n {4}fix: run: labman install$/m,
    );
    assert.match(text, /^✓ config: .*labman\.toml is valid \(wireguard mode off\)$/m);
    // wireguard-tools is installed on test hosts (.ci/run).
    assert.match(text, /^✓ wg: \/\S+\/wg$/m);
    assert.match(
      text,
      /^! net\.ipv4\.ip_forward: 1: this host routes packets \(labman never changes it\)$/m,
    );
    assert.match(text, /^✓ admin listener: labmand answers at http:\/\/127\.0\.0\.1:\d+$/m);
    assert.match(text, /^✓ endpoint good: 2 models at http:\/\/127\.0\.0\.1:\d+\/v1$/m);
    assert.match(text, /\n\n\d+ ok, \d+ warnings, 0 failed$/);

    const dead = closedPort();
    await Deno.writeTextFile(
      cfg,
      base + `\n[[endpoints]]\nname = "dead"\nbase_url = "http://127.0.0.1:${dead}/v1"\n`,
    );
    const second = await doctor(["--config", cfg, "--root", root]);
    assert.equal(second.code, 1, second.text);
    text = second.text;
    assert.match(
      text,
      new RegExp(
        `✗ endpoint dead: cannot connect to endpoint \`dead\` at http://127\\.0\\.0\\.1:${dead}/v1: connection refused\\n` +
          " {4}fix: is the model server running\\? Otherwise fix endpoints\\[1\\]\\.base_url",
      ),
    );
    assert.match(text, /, 1 failed$/);
  } finally {
    await server.shutdown();
    await server.finished;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("doctor reports config errors and key file modes, and still checks the host", async () => {
  const dir = await makeTestDir({ prefix: "labman_doctor_" });
  try {
    const cfg = join(dir, "bad.toml");
    await Deno.writeTextFile(cfg, '[wireguard]\nmode = "sideways"\n');
    // Only stat/cat/pgrep on PATH and an empty HOME: no wireguard-go, rosenpass or modprobe.
    const denoDir = Deno.env.get("DENO_DIR") ??
      `${Deno.env.get("XDG_CACHE_HOME") ?? `${Deno.env.get("HOME")}/.cache`}/deno`;
    const bare = {
      clearEnv: true,
      env: { PATH: await barePath(dir), HOME: dir, DENO_DIR: denoDir },
    };
    const first = await doctor(["--config", cfg, "--root", join(dir, "root")], bare);
    assert.equal(first.code, 1, first.text);
    const text = first.text;
    assert.match(text, /✗ config: .*bad\.toml:2: wireguard\.mode: must be one of/);
    assert.match(text, /fix: check the whole file with: labman config check --config /);
    assert.match(text, /! config: the checks below use the defaults/);
    // Defaults: mode auto without a kernel module, so wireguard-go is required and missing.
    assert.match(text, /✗ wireguard-go: "wireguard-go" not found/);
    assert.match(text, /✗ rosenpass: "rosenpass" not found/);
    assert.doesNotMatch(text, /admin listener|endpoint /);

    const keys = join(dir, "keys");
    await Deno.mkdir(keys, { mode: 0o700 });
    await Deno.chmod(keys, 0o700);
    await Deno.writeTextFile(join(keys, "wg.key"), "k");
    await Deno.chmod(join(keys, "wg.key"), 0o640);
    const good = join(dir, "good.toml");
    await Deno.writeTextFile(
      good,
      `[wireguard]
mode = "userspace"
address = "10.90.0.5/32"
private_key_path = "${keys}/wg.key"
[wireguard.peer]
public_key = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="
endpoint = "192.0.2.1:51820"
[rosenpass]
enabled = false
[admin]
enabled = false
`,
    );
    const second = await doctor(["--config", good, "--root", join(dir, "root")], bare);
    assert.equal(second.code, 1, second.text);
    const t2 = second.text;
    assert.match(
      t2,
      new RegExp(
        `✗ WireGuard private key: ${keys}/wg\\.key has mode 0640: group or others can read the secret\\n {4}fix: run: chmod 600 ${keys}/wg\\.key`,
      ),
    );
    assert.match(t2, /✓ admin listener: disabled in config/);
    assert.match(t2, /! endpoints: none configured/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const USERSPACE = `[wireguard]
mode = "userspace"
address = "10.90.0.5/32"
[wireguard.peer]
public_key = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="
endpoint = "192.0.2.1:51820"
[rosenpass]
enabled = false
[admin]
enabled = false
`;

Deno.test({
  name: "doctor under the labman task's flags finds the real /dev/net/tun",
  ignore: !hasTun,
  async fn() {
    const dir = await makeTestDir({ prefix: "labman_doctor_" });
    try {
      const cfg = join(dir, "labman.toml");
      await Deno.writeTextFile(cfg, USERSPACE);
      const r = await doctor(["--config", cfg]);
      assert.match(r.text, /^✓ \/dev\/net\/tun: present$/m);
      assert.doesNotMatch(r.text, /NotCapable|--allow-all/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "doctor under the labman task's flags reports /dev/net/tun missing when it is not there (root)",
  ignore: !isRoot,
  async fn() {
    const dir = await makeTestDir({ prefix: "labman_doctor_" });
    try {
      const cfg = join(dir, "labman.toml");
      await Deno.writeTextFile(cfg, USERSPACE);
      // A private mount namespace where an empty tmpfs hides /dev/net: the device is gone for
      // this labman only.
      const r = await doctor(["--config", cfg], {
        prefix: [
          "unshare",
          "--mount",
          "--propagation",
          "private",
          "sh",
          "-c",
          'mkdir -p /dev/net && mount -t tmpfs none /dev/net && exec "$@"',
          "sh",
        ],
      });
      assert.equal(r.code, 1, r.text);
      assert.match(r.text, /^✗ \/dev\/net\/tun: missing \(wireguard-go needs it\)\n +fix: /m);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
