/**
 * `labman pre` and `labman post` as `labman/main.ts` processes with the `labman` task's
 * permission flags, against temporary roots and configs. What they do to the host is real: the
 * tools come from a PATH the test controls (a recording `modprobe`, no wireguard-go), links live
 * in a throwaway network namespace, and `post`'s runtime directories in a private tmpfs.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { removeStaleSocket } from "../labman/commands/post.ts";
import { runLabman } from "./helpers/labman_cli.ts";
import { randomSuffix, run, sh } from "./helpers/netns.ts";
import { makeTestDir } from "./helpers/test_dirs.ts";

const PEER = `[wireguard.peer]
public_key = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="
endpoint = "192.0.2.1:51820"
allowed_ips = ["10.90.0.1/32"]
`;
const isRoot = Deno.uid() === 0;
/** Absolute path of a tool: the prefix programs run before labman's own (bare) PATH applies. */
function abs(tool: string): string {
  for (const d of ["/usr/bin", "/bin", "/usr/sbin", "/sbin"]) {
    try {
      if (Deno.statSync(`${d}/${tool}`).isFile) return `${d}/${tool}`;
    } catch { /* next */ }
  }
  return tool;
}
const DENO_DIR = Deno.env.get("DENO_DIR") ??
  `${Deno.env.get("XDG_CACHE_HOME") ?? `${Deno.env.get("HOME")}/.cache`}/deno`;

async function setup() {
  const dir = await makeTestDir({ prefix: "labman_hooks_" });
  const root = join(dir, "root");
  const keys = join(dir, "keys");
  await Deno.mkdir(keys, { mode: 0o700 });
  await Deno.chmod(keys, 0o700);
  const key = join(keys, "private.key");
  await Deno.writeTextFile(key, "secret\n", { mode: 0o600 });
  await Deno.chmod(key, 0o600);
  const writeConfig = async (body: string) => {
    const path = join(dir, "labman.toml");
    await Deno.writeTextFile(path, body);
    return path;
  };
  /**
   * A PATH with stat, cat, pgrep and ip, a `modprobe` that records its arguments and fails (no
   * module), and `wireguard-go` only when asked for.
   */
  const barePath = async (opts: { wireguardGo?: boolean } = {}) => {
    const bin = join(dir, `bin-${randomSuffix()}`);
    await Deno.mkdir(bin);
    for (
      const tool of ["stat", "cat", "pgrep", "ip", ...(opts.wireguardGo ? ["wireguard-go"] : [])]
    ) {
      for (const d of ["/usr/bin", "/bin", "/usr/sbin", "/sbin"]) {
        try {
          await Deno.symlink(await Deno.realPath(`${d}/${tool}`), join(bin, tool));
          break;
        } catch { /* next */ }
      }
    }
    await Deno.writeTextFile(
      join(bin, "modprobe"),
      `#!/bin/sh\necho "modprobe $*" >> ${dir}/modprobe.log\nexit 1\n`,
      { mode: 0o755 },
    );
    await Deno.chmod(join(bin, "modprobe"), 0o755);
    return { clearEnv: true, env: { PATH: bin, HOME: dir, DENO_DIR } };
  };
  return { dir, root, keys, key, writeConfig, barePath };
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

async function pre(args: string[], options: Parameters<typeof runLabman>[1] = {}) {
  const r = await runLabman(["pre", ...args], options);
  return { code: r.code, out: r.stdout.trimEnd(), err: r.stderr.trimEnd() };
}

Deno.test("pre fails on a bad config, printing each error with file:line and the fix", async () => {
  const t = await setup();
  try {
    const cfg = await t.writeConfig('[wireguard]\nmode = "bogus"\n\n[proxy]\nlisten_port = 0\n');
    const r = await pre(["--config", cfg, "--root", t.root]);
    assert.equal(r.code, 1);
    assert.match(
      r.err,
      new RegExp(
        `✗ ${cfg}:2: wireguard\\.mode: must be one of "auto", "kernel", "userspace", "off"`,
      ),
    );
    assert.match(r.err, new RegExp(`✗ ${cfg}:5: proxy\\.listen_port: `));
    assert.match(r.err, /labman pre: 2 config error\(s\) in .*; labmand not started/);
    assert.doesNotMatch(r.err, /\n\s+at /, "no stack trace");

    const missing = await pre(["--config", join(t.dir, "missing.toml"), "--root", t.root]);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /missing\.toml/);
  } finally {
    await Deno.remove(t.dir, { recursive: true });
  }
});

Deno.test("pre refuses a 0644 key file and a world-readable key directory with the chmod to run", async () => {
  const t = await setup();
  try {
    const env = await t.barePath({ wireguardGo: true });
    const cfg = await t.writeConfig(userspaceConfig(t));
    await Deno.chmod(t.key, 0o644);
    const first = await pre(["--config", cfg, "--root", t.root], env);
    assert.equal(first.code, 1);
    assert.match(first.err, new RegExp(`has mode 0644.* — run: chmod 600 ${t.key}`));

    await Deno.chmod(t.key, 0o600);
    await Deno.chmod(t.keys, 0o755);
    const second = await pre(["--config", cfg, "--root", t.root], env);
    assert.equal(second.code, 1);
    assert.match(second.err, new RegExp(`✗ WireGuard key directory: ${t.keys} has mode 0755`));
    assert.match(second.err, new RegExp(`fix: run: chmod 700 ${t.keys}`));
    // The temp root has no /dev/net/tun, which userspace mode needs.
    assert.match(
      second.err,
      /✗ \/dev\/net\/tun: missing \(wireguard-go needs it\)\n +fix: run: modprobe tun/,
    );
    assert.match(second.err, /labman pre: 2 problem\(s\); labmand not started/);
  } finally {
    await Deno.remove(t.dir, { recursive: true });
  }
});

Deno.test("pre passes a good userspace config and creates the runtime dirs with 0700", async () => {
  const t = await setup();
  try {
    const cfg = await t.writeConfig(userspaceConfig(t));
    // A stand-in for the tun device: pre follows the link to the real character device.
    await Deno.mkdir(join(t.root, "dev/net"), { recursive: true });
    await Deno.symlink("/dev/null", join(t.root, "dev/net/tun"));
    const ok = await pre(
      ["--config", cfg, "--root", t.root],
      await t.barePath({ wireguardGo: true }),
    );
    assert.equal(ok.code, 0, ok.err);
    assert.equal((await Deno.stat(join(t.root, "run/labman"))).mode! & 0o777, 0o700);
    assert.equal((await Deno.stat(join(t.root, "var/lib/labman"))).mode! & 0o777, 0o700);
    assert.match(ok.out, /✓ wireguard-go: \/\S+\/wireguard-go/);
    assert.match(
      ok.out.split("\n").at(-1)!,
      /^labman pre: ok \(config .*, wireguard mode userspace\)$/,
    );

    // Without wireguard-go on the host, the same config must not start.
    const bare = await pre(["--config", cfg, "--root", t.root], await t.barePath());
    assert.equal(bare.code, 1);
    assert.match(
      bare.err,
      /✗ wireguard-go: "wireguard-go" not found .*\n +fix: apt-get install wireguard-go/,
    );
  } finally {
    await Deno.remove(t.dir, { recursive: true });
  }
});

Deno.test("pre refuses a wireguard-go that labmand's --allow-run would not let it start", async () => {
  const t = await setup();
  try {
    // Found and executable, but not the "wireguard-go" on PATH that the flags name.
    const elsewhere = join(t.dir, "opt-wireguard-go");
    await Deno.copyFile(await Deno.realPath("/bin/true"), elsewhere);
    await Deno.chmod(elsewhere, 0o755);
    const cfg = await t.writeConfig(
      userspaceConfig(t).replace(
        'mode = "userspace"',
        `mode = "userspace"\nwireguard_go = "${elsewhere}"`,
      ),
    );
    await Deno.mkdir(join(t.root, "dev/net"), { recursive: true });
    await Deno.symlink("/dev/null", join(t.root, "dev/net/tun"));
    const r = await pre(
      ["--config", cfg, "--root", t.root],
      await t.barePath({ wireguardGo: true }),
    );
    assert.equal(r.code, 1, r.out);
    assert.match(
      r.err,
      new RegExp(
        `✗ wireguard-go: ${elsewhere} is not a program labmand may run: its --allow-run names ` +
          `"wireguard-go" as found on PATH\\n +fix: put it on PATH: ln -s ${elsewhere} /usr/local/bin/wireguard-go`,
      ),
    );
  } finally {
    await Deno.remove(t.dir, { recursive: true });
  }
});

Deno.test({
  name: "pre under the labman task's flags accepts the real /dev/net/tun (root)",
  ignore: !isRoot,
  async fn() {
    const t = await setup();
    try {
      const cfg = await t.writeConfig(userspaceConfig(t));
      // The real root ("/"), in a private mount namespace whose /run and /var/lib are empty
      // tmpfs: pre may create /run/labman and /var/lib/labman there, never on this machine.
      const r = await pre(["--config", cfg], {
        ...await t.barePath({ wireguardGo: true }),
        prefix: [
          abs("unshare"),
          "--mount",
          "--propagation",
          "private",
          "/bin/sh",
          "-c",
          // The tools of this wrapper come from the system PATH; labman gets the bare one.
          "P=$PATH; PATH=/usr/sbin:/usr/bin:/sbin:/bin; mount -t tmpfs none /run && " +
          'mount -t tmpfs none /var/lib && PATH=$P exec "$@"',
          "sh",
        ],
      });
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, /^✓ \/dev\/net\/tun: present$/m);
    } finally {
      await Deno.remove(t.dir, { recursive: true });
    }
  },
});

Deno.test("pre requires rosenpass when enabled and the kernel module in kernel mode", async () => {
  const t = await setup();
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
    const r = await pre(["--config", withKeys, "--root", t.root], await t.barePath());
    assert.equal(r.code, 1);
    assert.match(r.err, /✗ kernel WireGuard module: not available/);
    assert.match(r.err, /✗ rosenpass: "rosenpass" not found/);
    // The temp root has no /sys/module/wireguard, so pre asked modprobe (ours records it).
    assert.match(await Deno.readTextFile(join(t.dir, "modprobe.log")), /^modprobe -n wireguard$/m);
    assert.equal((await Deno.stat(join(t.root, "run/labman/rosenpass"))).mode! & 0o777, 0o700);
  } finally {
    await Deno.remove(t.dir, { recursive: true });
  }
});

/**
 * Runs `labman post` on the real root inside network namespace `ns`, in a private mount
 * namespace whose /run is an empty tmpfs prepared by `setupScript`; prints what is left under
 * /run/labman and /run/wireguard after it ran.
 */
async function postInSandbox(
  ns: string,
  cfg: string,
  setupScript: string,
  env: { clearEnv: boolean; env: Record<string, string> },
  extraPrefix: string[] = [],
) {
  const script = `P=$PATH; PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t tmpfs none /run && ${setupScript}
PATH=$P "$@"; rc=$?
echo "--- left:"; find /run/labman /run/wireguard 2>/dev/null | sort
exit $rc`;
  const r = await runLabman(["post", "--config", cfg], {
    ...env,
    prefix: [
      abs("ip"),
      "netns",
      "exec",
      ns,
      ...extraPrefix,
      abs("unshare"),
      "--mount",
      "--propagation",
      "private",
      "/bin/sh",
      "-c",
      script,
      "sh",
    ],
  });
  const [out, left = ""] = r.stdout.split("--- left:\n");
  return {
    code: r.code,
    out: out.trimEnd(),
    err: r.stderr.trimEnd(),
    left: left.trim().split("\n"),
  };
}

Deno.test({
  name:
    "post removes stale runtime files, a dead UAPI socket and the leftover link, and nothing else (root)",
  ignore: !isRoot,
  async fn() {
    const t = await setup();
    const ns = `lmtest-post-${randomSuffix()}`;
    try {
      await sh(["ip", "netns", "add", ns]);
      // What a crashed wireguard-go leaves behind: a persistent tun link.
      await sh(["ip", "-n", ns, "tuntap", "add", "dev", "labman0", "mode", "tun"]);
      const cfg = await t.writeConfig(
        userspaceConfig(t).replace(`state_dir = "${t.root}/run/labman/rosenpass"`, ""),
      );
      const env = await t.barePath();
      const prepare = [
        "mkdir -p /run/labman/rosenpass/keep-dir /run/wireguard",
        "echo psk > /run/labman/rosenpass/cp.osk",
        "echo cfg > /run/labman/rosenpass/rosenpass.toml",
        "echo mine > /run/labman/other",
        ": > /run/wireguard/labman0.sock", // a plain file: connect() is refused, so stale
        ": > /run/wireguard/wg0.sock", // another interface's: untouched
      ].join(" && ");
      const r = await postInSandbox(ns, cfg, prepare, env);
      assert.equal(r.code, 0, r.err + r.out);
      assert.deepEqual(r.left, [
        "/run/labman",
        "/run/labman/other",
        "/run/labman/rosenpass",
        "/run/labman/rosenpass/keep-dir",
        "/run/wireguard",
        "/run/wireguard/wg0.sock",
      ]);
      assert.match(r.out, /✓ Rosenpass runtime files: removed cp\.osk, rosenpass\.toml from /);
      assert.match(r.out, /✓ interface labman0: removed leftover link/);
      assert.match(r.out, /✓ wireguard-go UAPI socket: removed stale /);
      assert.equal(r.out.split("\n").at(-1), "labman post: cleanup complete");
      assert.notEqual((await run(["ip", "-n", ns, "link", "show", "labman0"])).code, 0);

      // Second run: nothing left to do, still success.
      const again = await postInSandbox(ns, cfg, "true", env);
      assert.equal(again.code, 0, again.err);
      assert.match(again.out, /interface labman0: not present/);
    } finally {
      await run(["ip", "netns", "del", ns]);
      await Deno.remove(t.dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "post refuses while labmand runs, and reports a link it could not delete (root)",
  ignore: !isRoot,
  sanitizeResources: false, // the stand-in labmand's process handle is awaited in finally
  async fn() {
    const t = await setup();
    const ns = `lmtest-post-${randomSuffix()}`;
    // A process whose name (comm) is "labmand": a copy of sleep under that name.
    const fake = join(t.dir, "labmand");
    await Deno.copyFile(await Deno.realPath("/bin/sleep"), fake);
    await Deno.chmod(fake, 0o755);
    const running = new Deno.Command(fake, { args: ["60"], stdout: "null", stderr: "null" })
      .spawn();
    try {
      await sh(["ip", "netns", "add", ns]);
      // What a crashed wireguard-go leaves behind: a persistent tun link.
      await sh(["ip", "-n", ns, "tuntap", "add", "dev", "labman0", "mode", "tun"]);
      const cfg = await t.writeConfig(
        userspaceConfig(t).replace(`state_dir = "${t.root}/run/labman/rosenpass"`, ""),
      );
      const env = await t.barePath();
      const prepare = "mkdir -p /run/labman/rosenpass && echo psk > /run/labman/rosenpass/cp.osk";
      const refused = await postInSandbox(ns, cfg, prepare, env);
      assert.equal(refused.code, 1);
      assert.match(
        refused.err,
        new RegExp(
          `labmand is still running \\(pid [0-9, ]*\\b${running.pid}\\b.*\\) — stop it first`,
        ),
      );
      assert.ok(refused.left.includes("/run/labman/rosenpass/cp.osk"), "nothing removed");
      assert.equal((await run(["ip", "-n", ns, "link", "show", "labman0"])).code, 0);
      running.kill("SIGKILL");
      await running.status;

      // Without CAP_NET_ADMIN the leftover link cannot be deleted: reported with the fix.
      const failing = await postInSandbox(ns, cfg, "true", env, [
        abs("setpriv"),
        "--bounding-set=-net_admin",
        "--inh-caps=-net_admin",
      ]);
      assert.equal(failing.code, 1, failing.out);
      assert.match(
        failing.err,
        /✗ interface labman0: leftover link could not be removed: RTNETLINK answers: Operation not permitted/,
      );
      assert.match(failing.err, /fix: run: ip link del dev labman0/);
      assert.equal(failing.err.split("\n").at(-1), "labman post: cleanup incomplete");
    } finally {
      try {
        running.kill("SIGKILL");
      } catch { /* exited */ }
      await running.status;
      await run(["ip", "netns", "del", ns]);
      await Deno.remove(t.dir, { recursive: true });
    }
  },
});

Deno.test("removeStaleSocket leaves a socket that wireguard-go still serves", async () => {
  const dir = await makeTestDir({ prefix: "labman_sock_" });
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
