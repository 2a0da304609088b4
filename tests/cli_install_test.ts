/**
 * `labman install` and `labman update` (`labman/main.ts` processes with the `labman` task's
 * permission flags) against a temporary `--root`: files, modes, idempotence, change detection
 * with a unit diff, the kept previous build, and that systemctl is never run outside the real
 * root. Restarts and rollbacks under a real systemd: tests/systemd_nspawn_test.ts.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { passwdIds, systemctlAllowed } from "../labman/commands/install.ts";
import { runLabman } from "./helpers/labman_cli.ts";
import { makeTestDir } from "./helpers/test_dirs.ts";

interface Io {
  out: (l: string) => void;
  err: (l: string) => void;
}

/** Runs `labman <command> ARGS` as a process; its output lines go to `io`. */
async function cli(command: string, args: string[], io: Io): Promise<number> {
  const r = await runLabman([command, ...args]);
  const lines = (t: string) => t === "" ? [] : t.replace(/\n$/, "").split("\n");
  lines(r.stdout).forEach(io.out);
  lines(r.stderr).forEach(io.err);
  return r.code;
}
const install = (args: string[], io: Io) => cli("install", args, io);
const update = (args: string[], io: Io) => cli("update", args, io);

const UNIT_TEMPLATE = new URL("../systemd/labmand.service", import.meta.url);

async function setup() {
  const dir = await makeTestDir({ prefix: "labman_install_" });
  const dist = join(dir, "dist");
  await Deno.mkdir(dist);
  await Deno.writeFile(join(dist, "labmand"), crypto.getRandomValues(new Uint8Array(4096)));
  await Deno.writeFile(join(dist, "labman"), crypto.getRandomValues(new Uint8Array(2048)));
  const unit = join(dir, "labmand.service");
  await Deno.copyFile(UNIT_TEMPLATE, unit);
  const example = join(dir, "labman.example.toml");
  await Deno.writeTextFile(example, '[wireguard]\nmode = "userspace"\n');
  const root = join(dir, "root");
  const lines: string[] = [];
  const errors: string[] = [];
  const deps = { out: (l: string) => lines.push(l), err: (l: string) => errors.push(l) };
  const args = [
    "--root",
    root,
    "--from",
    join(dist, "labmand"),
    "--unit-file",
    unit,
    "--example-config",
    example,
    "--bin-dir",
    "/opt/labman/bin",
  ];
  return { dir, dist, unit, root, lines, errors, deps, args };
}

const mode = async (p: string) => (await Deno.stat(p)).mode! & 0o7777;

Deno.test("install into an empty root creates everything with the right modes, then is idempotent", async () => {
  const t = await setup();
  try {
    assert.equal(await install(t.args, t.deps), 0, t.errors.join("\n"));
    const bin = join(t.root, "opt/labman/bin");
    assert.deepEqual(
      await Deno.readFile(join(bin, "labmand")),
      await Deno.readFile(join(t.dist, "labmand")),
    );
    assert.deepEqual(
      await Deno.readFile(join(bin, "labman")),
      await Deno.readFile(join(t.dist, "labman")),
    );
    assert.equal(await mode(join(bin, "labmand")), 0o755);
    const unitPath = join(t.root, "etc/systemd/system/labmand.service");
    const unit = await Deno.readTextFile(unitPath);
    assert.equal(await mode(unitPath), 0o644);
    assert.match(
      unit,
      /^ExecStart=\/opt\/labman\/bin\/labmand --config \/etc\/labman\/labman.toml$/m,
    );
    assert.match(unit, /^ExecStartPre=\/opt\/labman\/bin\/labman pre$/m);
    assert.match(unit, /^ExecStopPost=\/opt\/labman\/bin\/labman post$/m);
    assert.doesNotMatch(unit, /\/usr\/local\/bin\/labman/);
    assert.equal(await mode(join(t.root, "etc/labman")), 0o755);
    for (const d of ["var/lib/labman", "var/lib/labman/wireguard", "var/lib/labman/rosenpass"]) {
      assert.equal(await mode(join(t.root, d)), 0o700, d);
    }
    const cfg = join(t.root, "etc/labman/labman.toml");
    assert.equal(await Deno.readTextFile(cfg), '[wireguard]\nmode = "userspace"\n');
    assert.equal(await mode(cfg), 0o600);
    assert.ok(t.lines.some((l) => /skipped systemctl daemon-reload \(--root/.test(l)));
    assert.ok(!t.lines.some((l) => /ran systemctl/.test(l)), "no command may run under --root");
    // No temp files left behind by the atomic writes.
    const leftovers = [...Deno.readDirSync(bin)].map((e) => e.name).filter((n) =>
      n.includes(".tmp")
    );
    assert.deepEqual(leftovers, []);

    // The operator edits the config; a second run must keep it and change nothing.
    await Deno.writeTextFile(cfg, "# mine\n");
    t.lines.length = 0;
    assert.equal(await install(t.args, t.deps), 0, t.errors.join("\n"));
    // Under --root no system user is created (an image's job) and no systemctl runs.
    const items = t.lines.filter((l) => l.startsWith("  ") && !/^ {2}skipped /.test(l));
    assert.ok(items.length >= 10, t.lines.join("\n"));
    for (const l of items) assert.match(l, /^ {2}(unchanged|kept) /, l);
    assert.ok(t.lines.includes(`  skipped creating system user labman (--root ${t.root})`));
    assert.ok(t.lines.includes("labman install: everything is unchanged"), t.lines.join("\n"));
    assert.equal(await Deno.readTextFile(cfg), "# mine\n");
  } finally {
    await Deno.remove(t.dir, { recursive: true });
  }
});

Deno.test("install --dry-run prints the plan and writes nothing; a looser state dir is tightened", async () => {
  const t = await setup();
  try {
    assert.equal(await install([...t.args, "--dry-run"], t.deps), 0);
    assert.ok(
      t.lines.some((l) => /would create +.*\/opt\/labman\/bin\/labmand \(0755\)/.test(l)),
      t.lines.join("\n"),
    );
    await assert.rejects(Deno.stat(join(t.root, "opt")), Deno.errors.NotFound);

    await Deno.mkdir(join(t.root, "var/lib/labman"), { recursive: true });
    await Deno.chmod(join(t.root, "var/lib/labman"), 0o755);
    t.lines.length = 0;
    assert.equal(await install(t.args, t.deps), 0);
    assert.ok(
      t.lines.some((l) => /chmod +.*var\/lib\/labman\/ \(0755 → 0700\)/.test(l)),
      t.lines.join("\n"),
    );
    assert.equal(await mode(join(t.root, "var/lib/labman")), 0o700);
  } finally {
    await Deno.remove(t.dir, { recursive: true });
  }
});

Deno.test("install fails clearly when the labmand binary is missing", async () => {
  const t = await setup();
  try {
    const args = [...t.args];
    args[args.indexOf("--from") + 1] = join(t.dir, "nope", "labmand");
    assert.equal(await install(args, t.deps), 1);
    assert.match(
      t.errors.join("\n"),
      /Cannot find the labmand binary \(tried .*nope\/labmand\) — pass --from PATH/,
    );
    assert.equal(await install(["--bin-dir", "relative"], t.deps), 2);
    assert.match(t.errors.join("\n"), /labman install: --bin-dir must be an absolute path/);
  } finally {
    await Deno.remove(t.dir, { recursive: true });
  }
});

Deno.test("update detects a changed binary and unit, prints a unit diff, and is then up to date", async () => {
  const t = await setup();
  try {
    assert.equal(await update(t.args, t.deps), 1, "update before install must fail");
    assert.match(t.errors.join("\n"), /is not installed — run "labman install" first/);
    assert.equal(await install(t.args, t.deps), 0);

    t.lines.length = 0;
    assert.equal(await update([...t.args, "--restart"], t.deps), 0);
    assert.ok(t.lines.some((l) => /labmand is up to date/.test(l)), t.lines.join("\n"));

    await Deno.writeFile(join(t.dist, "labmand"), new TextEncoder().encode("new labmand build"));
    const unit = await Deno.readTextFile(t.unit);
    await Deno.writeTextFile(t.unit, unit.replace("RestartSec=5", "RestartSec=10"));
    t.lines.length = 0;
    assert.equal(await update([...t.args, "--restart"], t.deps), 0, t.errors.join("\n"));
    const text = t.lines.join("\n");
    assert.match(
      text,
      /updated +.*\/opt\/labman\/bin\/labmand \(sha256 [0-9a-f]{12}… → [0-9a-f]{12}…\)/,
    );
    assert.match(text, /unchanged +.*\/opt\/labman\/bin\/labman\n/);
    assert.match(text, /--- \/etc\/systemd\/system\/labmand.service \(installed\)/);
    assert.match(text, /\n-RestartSec=5\n\+RestartSec=10\n/);
    assert.match(text, /@@ -\d+,\d+ \+\d+,\d+ @@/);
    assert.match(text, /skipped restart \(--root/);
    assert.doesNotMatch(text, /ran systemctl|drained/);
    // The replaced build and unit are kept for a rollback.
    assert.match(text, /kept the previous 2 file\(s\) in .*\/var\/lib\/labman\/previous/);
    const previous = join(t.root, "var/lib/labman/previous");
    assert.match(await Deno.readTextFile(join(previous, "labmand.service")), /RestartSec=5/);
    assert.notEqual(await Deno.readTextFile(join(previous, "labmand")), "new labmand build");
    assert.equal(await mode(previous), 0o700);
    assert.equal(
      await Deno.readTextFile(join(t.root, "opt/labman/bin/labmand")),
      "new labmand build",
    );
    assert.match(
      await Deno.readTextFile(join(t.root, "etc/systemd/system/labmand.service")),
      /RestartSec=10/,
    );
  } finally {
    await Deno.remove(t.dir, { recursive: true });
  }
});

Deno.test("systemctlAllowed: only on the real root, with systemd, without --no-systemctl", () => {
  const base = {
    binDir: "/usr/local/bin",
    unitDir: "/etc/systemd/system",
    root: "/",
    noSystemctl: false,
    dryRun: false,
    restart: false,
    readyTimeoutMs: 90_000,
    help: false,
  };
  assert.deepEqual(systemctlAllowed(base, true), { ok: true });
  assert.deepEqual(systemctlAllowed(base, false), { ok: false, why: "systemd is not running" });
  assert.deepEqual(systemctlAllowed({ ...base, noSystemctl: true }, true), {
    ok: false,
    why: "--no-systemctl",
  });
  assert.deepEqual(systemctlAllowed({ ...base, root: "/tmp/x" }, true), {
    ok: false,
    why: "--root /tmp/x",
  });
});

Deno.test("passwdIds finds the service user's uid and gid in a passwd file", () => {
  const passwd =
    "root:x:0:0:root:/root:/bin/bash\nlabman:x:997:996::/var/lib/labman:/usr/sbin/nologin\n";
  assert.deepEqual(passwdIds(passwd, "labman"), { uid: 997, gid: 996 });
  assert.equal(passwdIds(passwd, "labmand"), null);
  assert.equal(passwdIds("", "labman"), null);
});
