/**
 * systemd/labmand.service: the directives the design relies on are present, and
 * `systemd-analyze verify` accepts the unit (when systemd-analyze is installed).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { rewriteUnitPaths } from "../lib/ops/unit_file.ts";

const UNIT = await Deno.readTextFile(new URL("../systemd/labmand.service", import.meta.url));

function directives(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of text.split("\n")) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (m) out.set(m[1], [...(out.get(m[1]) ?? []), m[2]]);
  }
  return out;
}

function hasProgram(name: string): boolean {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    try {
      if (Deno.statSync(join(dir, name)).isFile) return true;
    } catch {
      // not here
    }
  }
  return false;
}

Deno.test("labmand.service has the lifecycle hooks and the sandbox of design §3", () => {
  const d = directives(UNIT);
  const one = (k: string) => {
    const v = d.get(k);
    assert.ok(v && v.length === 1, `${k} must appear exactly once`);
    return v[0];
  };
  assert.equal(one("Type"), "notify");
  assert.deepEqual(d.get("ExecStartPre"), [
    "+/usr/bin/install -d -o labman -g labman -m 0755 /run/wireguard",
    "/usr/local/bin/labman pre",
  ]);
  assert.equal(one("ExecStart"), "/usr/local/bin/labmand --config /etc/labman/labman.toml");
  assert.equal(one("ExecReload"), "/bin/kill -HUP $MAINPID");
  assert.equal(one("ExecStopPost"), "/usr/local/bin/labman post");
  assert.equal(one("Restart"), "on-failure");
  assert.equal(one("RestartSec"), "5");
  assert.equal(one("CapabilityBoundingSet"), "CAP_NET_ADMIN");
  assert.equal(one("AmbientCapabilities"), "CAP_NET_ADMIN");
  assert.equal(one("RestrictAddressFamilies"), "AF_INET AF_INET6 AF_NETLINK AF_UNIX");
  assert.equal(one("ProtectSystem"), "strict");
  assert.equal(one("ReadWritePaths"), "/var/lib/labman /run/labman -/run/wireguard");
  assert.equal(one("DeviceAllow"), "/dev/net/tun rw");
  assert.equal(one("MemoryDenyWriteExecute"), "no");
  assert.equal(one("KillSignal"), "SIGTERM");
  assert.equal(one("TimeoutStopSec"), "60");
  assert.equal(one("RestartPreventExitStatus"), "4");
  for (
    const k of [
      "NoNewPrivileges",
      "ProtectHome",
      "PrivateTmp",
      "ProtectKernelModules",
      "ProtectKernelTunables",
      "ProtectControlGroups",
      "RestrictNamespaces",
      "LockPersonality",
    ]
  ) {
    assert.equal(one(k), "yes", k);
  }
  // A dedicated user with CAP_NET_ADMIN only (tests/systemd_nspawn_test.ts runs it so).
  assert.equal(one("User"), "labman");
  assert.equal(one("CapabilityBoundingSet"), "CAP_NET_ADMIN");
  assert.equal(one("AmbientCapabilities"), "CAP_NET_ADMIN");
  // A private /dev hides /dev/net/tun unless it is bound back in.
  assert.equal(one("PrivateDevices"), "yes");
  assert.equal(one("BindPaths"), "-/dev/net/tun");
  assert.equal(one("DeviceAllow"), "/dev/net/tun rw");
  assert.equal(one("ProtectProc"), "invisible");
  assert.equal(one("ProcSubset"), "pid");
  assert.match(d.get("SystemCallFilter")?.[0] ?? "", /^@system-service @pkey$/);
});

Deno.test({
  name: "systemd-analyze verify accepts labmand.service",
  ignore: !hasProgram("systemd-analyze"),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "labman_unit_" });
    try {
      // verify checks that Exec programs exist, so point them at stand-ins.
      for (const name of ["labman", "labmand"]) {
        await Deno.writeTextFile(join(dir, name), "#!/bin/sh\nexit 0\n");
        await Deno.chmod(join(dir, name), 0o755);
      }
      const unit = join(dir, "labmand.service");
      await Deno.writeTextFile(unit, rewriteUnitPaths(UNIT, dir));
      const out = await new Deno.Command("systemd-analyze", {
        args: ["verify", unit],
        stdout: "piped",
        stderr: "piped",
        env: { SYSTEMD_LOG_LEVEL: "notice" },
      }).output();
      const stderr = new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 0, stderr);
      // Unknown or misspelt keys only produce a warning, so the output must be empty.
      assert.equal(stderr.trim(), "", stderr);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
