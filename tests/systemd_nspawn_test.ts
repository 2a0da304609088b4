/**
 * labmand under a real systemd, as an operator runs it: a Debian bookworm userland boots with
 * systemd as PID 1 (systemd-nspawn) inside the node's network namespace of the end-to-end
 * topology; `labman install` (deno run entry points with the tasks' permission flags, as
 * `denort` is not available here), `labman keygen`, a config pointing at the reference control
 * plane and a mock model server, then `systemctl start/reload/stop`, a crash with
 * `Restart=on-failure`, and `systemd-analyze security` of the installed unit. Everything the
 * container printed (console, journal) lands in the test log.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { denoRunArgs } from "../lib/ops/mod.ts";
import { type CpSide, startCpSide, startLanMock } from "./helpers/e2e_sides.ts";
import { createTopology, randomSuffix, run, until } from "./helpers/netns.ts";
import { bootContainer, type Container, nspawnUnavailable } from "./helpers/nspawn.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const skip = nspawnUnavailable();
if (skip) console.log(`systemd_nspawn_test: skipped — ${skip}`);

/** The test-only places rosenpass may be (CI builds it into its cache). */
function findRosenpass(): string | null {
  const dirs = [
    ...(Deno.env.get("PATH") ?? "").split(":"),
    `${Deno.env.get("LABMAN_CI_CACHE") ?? "/var/cache/labman-ci"}/cargo/bin`,
    `${Deno.env.get("HOME") ?? "/root"}/.cargo/bin`,
  ];
  for (const d of dirs.filter(Boolean)) {
    try {
      if (Deno.statSync(`${d}/rosenpass`).isFile) return `${d}/rosenpass`;
    } catch { /* next */ }
  }
  return null;
}

/** A `deno run` entry point with exactly the permission flags of a deno.json task (lib/ops). */
function wrapper(
  task: "labmand" | "labman",
  entry: string,
  broken: false | "exits" | "hangs" = false,
  build = 1,
) {
  // The rendering an install from a checkout uses: absolute source-tree paths, no test dirs.
  const args = denoRunArgs(task, "/lmrepo").slice(1, -1).join(" ");
  return `#!/bin/sh
# ${task} from the checkout (/lmrepo) with the flags of the "${task}" task in deno.json.
# build ${build}
${
    broken === "exits"
      ? "echo 'this build is broken' >&2; exit 3\n"
      : broken === "hangs"
      ? "echo 'this build never gets ready' >&2; exec sleep 600\n"
      : ""
  }export DENO_DIR=/var/cache/lmtest-deno NO_COLOR=1
exec /usr/local/bin/deno run --cached-only ${args} /lmrepo/${entry} "$@"
`;
}

/** `cmd` run from `dir`, as an operator does `cd dir && cmd`. */
function inDir(dir: string, cmd: string[]): string[] {
  return ["sh", "-c", 'cd "$1" && shift && exec "$@"', "sh", dir, ...cmd];
}

function nodeConfig(o: { cpIp: string; nodeIp: string; lanHostIp: string; pq: boolean }) {
  return `[control_plane]
base_url = "http://${o.cpIp}:8443"
node_token_file = "/etc/labman/node_token"
retry_initial_ms = 200
retry_max_ms = 1000

[wireguard]
mode = "userspace"

[rosenpass]
enabled = ${o.pq}
listen = "${o.nodeIp}:9999"

[proxy]
listen_port = 8080

[health]
interval_s = 1
timeout_ms = 500

[[endpoints]]
name = "lan-gpu"
base_url = "http://${o.lanHostIp}:8000/v1"
`;
}

interface UnitState {
  ActiveState: string;
  SubState: string;
  Result: string;
  MainPID: string;
  NRestarts: string;
  StatusText: string;
}

async function unitState(c: Container): Promise<UnitState> {
  const text = await c.sh([
    "systemctl",
    "show",
    "labmand",
    "-p",
    "ActiveState,SubState,Result,MainPID,NRestarts,StatusText",
  ]);
  return Object.fromEntries(
    text.trim().split("\n").map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  ) as unknown as UnitState;
}

async function journal(c: Container): Promise<string> {
  return (await c.exec(["journalctl", "-u", "labmand", "-o", "cat", "--no-pager"])).stdout;
}

Deno.test({
  name:
    "systemd: install, keygen, start (ExecStartPre, READY=1), reload, crash + Restart=, stop (ExecStopPost) under the unit's sandbox",
  ignore: skip !== null,
  sanitizeResources: false, // children's pipes are closed in finally
  async fn() {
    const rosenpass = findRosenpass();
    const id = randomSuffix();
    const topo = await createTopology();
    const tmp = await Deno.makeTempDir({ prefix: "labman-systemd-" });
    let cp: CpSide | undefined;
    let mock: Awaited<ReturnType<typeof startLanMock>> | undefined;
    let container: Container | undefined;
    const log: string[] = [];
    const step = (s: string) => {
      log.push(`== ${s}`);
      console.log(`  systemd test: ${s}`);
    };
    try {
      mock = await startLanMock(topo);
      cp = await startCpSide(topo, id, `${tmp}/cp`, { rosenpass: rosenpass !== null });
      await Deno.mkdir(`${tmp}/lmtest/bin`, { recursive: true });
      await Deno.writeTextFile(
        `${tmp}/lmtest/bin/labmand`,
        wrapper("labmand", "labmand/main.ts"),
      );
      await Deno.writeTextFile(
        `${tmp}/lmtest/bin/labman`,
        wrapper("labman", "labman/main.ts"),
      );
      await Deno.mkdir(`${tmp}/lmtest/broken`);
      await Deno.writeTextFile(
        `${tmp}/lmtest/broken/labmand`,
        wrapper("labmand", "labmand/main.ts", "exits", 3),
      );
      await Deno.mkdir(`${tmp}/lmtest/hangs`);
      await Deno.writeTextFile(
        `${tmp}/lmtest/hangs/labmand`,
        wrapper("labmand", "labmand/main.ts", "hangs", 4),
      );
      await Deno.mkdir(`${tmp}/lmtest/v2`);
      await Deno.writeTextFile(
        `${tmp}/lmtest/v2/labmand`,
        wrapper("labmand", "labmand/main.ts", false, 2),
      );
      for (
        const f of ["bin/labmand", "bin/labman", "broken/labmand", "hangs/labmand", "v2/labmand"]
      ) {
        await Deno.chmod(`${tmp}/lmtest/${f}`, 0o755);
      }
      const cfg = nodeConfig({ ...topo, pq: rosenpass !== null });
      await Deno.writeTextFile(`${tmp}/lmtest/labman.toml`, cfg);
      await Deno.writeTextFile(
        `${tmp}/lmtest/broken.toml`,
        cfg.replace('mode = "userspace"', 'mode = "bogus"'),
      );
      await Deno.writeTextFile(`${tmp}/lmtest/node_token`, "e2e-token\n");

      const denoDir = (await new Deno.Command(Deno.execPath(), {
        args: ["info", "--json"],
        stdout: "piped",
        stderr: "null",
      }).output()).stdout;
      const bindRo: Record<string, string> = {
        [ROOT]: "/lmrepo",
        [Deno.execPath()]: "/usr/local/bin/deno",
        [JSON.parse(new TextDecoder().decode(denoDir)).denoDir]: "/var/cache/lmtest-deno",
        [`${tmp}/lmtest`]: "/lmtest",
      };
      if (rosenpass) bindRo[rosenpass] = "/usr/local/sbin/rosenpass";
      step("boot");
      container = await bootContainer({ netns: topo.node, bindRo });
      const c = container;

      step("labman install (from the checkout)");
      // As from an unpacked release: labman reads a release's files from its working directory.
      const installed = await c.sh(
        inDir("/lmtest/bin", [
          "./labman",
          "install",
          "--from",
          "./labmand",
          "--labman-from",
          "./labman",
        ]),
      );
      log.push(installed);
      assert.match(installed, /ran systemctl daemon-reload/);
      assert.match(installed, /created system user labman \(uid \d+\)/);
      assert.match(installed, /chown labman:labman \/etc\/labman\/labman\.toml/);
      step("labman keygen");
      log.push(await c.sh(["labman", "keygen", ...(rosenpass ? [] : ["--no-rosenpass"])]));
      // As docs/operations.md says: secrets labmand reads belong to its user.
      const own = ["-o", "labman", "-g", "labman", "-m", "0600"];
      await c.sh(["install", ...own, "/lmtest/node_token", "/etc/labman/node_token"]);

      step("a broken config: labman pre fails, with its message in the journal");
      await c.sh(["install", ...own, "/lmtest/broken.toml", "/etc/labman/labman.toml"]);
      const failed = await c.exec(["systemctl", "start", "labmand"]);
      assert.notEqual(failed.code, 0, "start must fail with a broken config");
      let st = await unitState(c);
      // Restart=on-failure also retries a failed ExecStartPre (every RestartSec).
      assert.ok(
        st.ActiveState === "failed" || st.SubState === "auto-restart",
        JSON.stringify(st),
      );
      assert.equal(st.Result, "exit-code");
      const j1 = await journal(c);
      assert.match(j1, /wireguard\.mode: must be one of/);
      assert.match(j1, /labman pre: 1 config error\(s\) in \/etc\/labman\/labman\.toml/);
      await c.sh(["systemctl", "stop", "labmand"]);

      step("systemctl start: active only after READY=1");
      await c.sh(["install", ...own, "/lmtest/labman.toml", "/etc/labman/labman.toml"]);
      log.push(await c.sh(["labman", "doctor"]).catch((e) => String(e)));
      const started = await c.exec(["systemctl", "start", "labmand"], { timeoutMs: 90_000 });
      assert.equal(started.code, 0, `start failed:\n${started.stderr}\n${await journal(c)}`);
      st = await unitState(c);
      assert.equal(st.ActiveState, "active");
      assert.equal(st.SubState, "running");
      assert.match(st.StatusText, /ready|serving/i);
      const j2 = await journal(c);
      assert.match(
        j2,
        /labman pre: ok \(config \/etc\/labman\/labman\.toml, wireguard mode userspace\)/,
      );
      const procStatus = await c.sh(["cat", `/proc/${st.MainPID}/status`]);
      log.push(
        procStatus.split("\n").filter((l) => /^(Cap|NoNewPrivs|Seccomp)/.test(l)).join("\n"),
      );
      assert.match(procStatus, /^NoNewPrivs:\s+1$/m);
      const uid = /^Uid:\s+(\d+)/m.exec(procStatus)?.[1];
      assert.ok(uid && uid !== "0", `labmand runs as the labman user, not root (uid ${uid})`);
      assert.equal(uid, (await c.sh(["id", "-u", "labman"])).trim());
      assert.match(procStatus, /^CapEff:\s+0000000000001000$/m, "CAP_NET_ADMIN only");
      assert.match(procStatus, /^Seccomp:\s+2$/m, "SystemCallFilter= applies");
      // Reading an unrelated file: Deno's --allow-read is unrestricted (config-chosen paths), the
      // unit's sandbox is what refuses it. In labmand's mount namespace /root is empty
      // (ProtectHome=) and /tmp is private (PrivateTmp=).
      await c.sh(["sh", "-c", "echo secret > /root/operator-secret && echo t > /tmp/host-tmp"]);
      const seen = await c.exec([
        "nsenter",
        "-t",
        st.MainPID,
        "-m",
        "sh",
        "-c",
        "cat /root/operator-secret; cat /tmp/host-tmp; touch /usr/x; touch /var/lib/labman/ok",
      ]);
      assert.doesNotMatch(
        seen.stdout,
        /secret|^t$/m,
        "labmand must not see /root or the host /tmp",
      );
      assert.match(seen.stderr, /\/root\/operator-secret: (No such file|Permission denied)/);
      assert.match(seen.stderr, /'\/usr\/x': Read-only file system/);
      assert.doesNotMatch(seen.stderr, /\/var\/lib\/labman\/ok/, "its state dir stays writable");
      // labmand's /proc is mounted hidepid=invisible,subset=pid (ProtectProc=, ProcSubset=).
      const mounts = await c.sh(["cat", `/proc/${st.MainPID}/mountinfo`]);
      assert.match(mounts, / \/proc .*proc proc \S*hidepid=invisible/);
      assert.match(mounts, / \/proc .*proc proc \S*subset=pid/);
      // The sandbox is enforced, not just declared: a denied call fails and /dev holds tun but
      // no disk.
      const probe = await c.exec([
        "systemd-run",
        "--wait",
        "--pipe",
        "-q",
        "-p",
        "PrivateDevices=yes",
        "-p",
        "BindPaths=-/dev/net/tun",
        "-p",
        "SystemCallFilter=~@clock",
        "-p",
        "SystemCallErrorNumber=EPERM",
        "sh",
        "-c",
        "ls /dev/net/tun; ls /dev/sda /dev/vda 2>&1; date -s @0 2>&1; true",
      ]);
      assert.match(probe.stdout, /^\/dev\/net\/tun$/m);
      assert.doesNotMatch(probe.stdout, /^\/dev\/[sv]da$/m);
      assert.match(probe.stdout, /Operation not permitted/);

      step("served over the tunnel, from the control plane");
      const nodes = await cp.call<{ nodeId: string; address: string }[]>({ cmd: "nodes" });
      assert.equal(nodes.length, 1);
      const nodeIp = nodes[0].address.split("/")[0];
      await cp.call({
        cmd: "slugs",
        entries: [{ slug: "t-1/fast", tenant: "t-1", endpoint: "lan-gpu", model: "llama-3.1-8b" }],
      });
      const chat = async () => {
        let last: unknown;
        await until(
          async () => {
            const r = await cp!.call<{ ok: boolean; text?: string }>({
              cmd: "chat",
              baseUrl: `http://${nodeIp}:8080/v1`,
              model: "t-1/fast",
              timeoutMs: 3_000,
            });
            last = r;
            return r.ok;
          },
          "a chat completion over the tunnel",
          30_000,
        );
        return last as { ok: boolean; text?: string };
      };
      assert.ok((await chat()).ok);
      // Tunnelling and Rosenpass key exchange, under the full sandbox (admin metrics).
      const metrics = (await run(["curl", "-sf", "http://127.0.0.1:9464/metrics"], {
        ns: topo.node,
      })).stdout;
      assert.match(metrics, /^labman_wireguard_received_bytes_total\{peer="[^"]+"\} [1-9]/m);
      if (rosenpass) {
        const psk = (await cp.call<string>({ cmd: "psk" })).split("\t")[1];
        assert.ok(psk && psk !== "(none)", "a Rosenpass PSK is installed");
        assert.match(metrics, /^labman_rosenpass_state\{state="active"\} 1$/m);
        assert.match(metrics, /^labman_rosenpass_exchanges_total [1-9]/m);
      }

      step("systemctl reload: SIGHUP re-reads the config");
      await c.sh(["systemctl", "reload", "labmand"]);
      await until(
        async () => /reloaded \\?"?\/etc\/labman\/labman\.toml/.test(await journal(c)),
        "the reload log line",
        15_000,
      );
      assert.equal((await unitState(c)).ActiveState, "active");

      step("kill -9: Restart=on-failure, labman post cleans up, served again");
      const oldPid = (await unitState(c)).MainPID;
      await c.sh(["kill", "-9", oldPid]);
      await until(
        async () => {
          const s = await unitState(c);
          return s.NRestarts === "1" && s.ActiveState === "active" && s.SubState === "running";
        },
        "labmand restarted by systemd",
        60_000,
      );
      assert.notEqual((await unitState(c)).MainPID, oldPid);
      assert.match(await journal(c), /labman post: cleanup complete/);
      assert.ok((await chat()).ok);

      step("systemd-analyze security");
      const security = await c.exec([
        "systemd-analyze",
        "security",
        "--no-pager",
        "labmand.service",
      ]);
      const score = /Overall exposure level for labmand\.service: ([0-9.]+)/.exec(security.stdout);
      log.push(security.stdout.split("\n").slice(-2).join("\n"));
      assert.ok(score, security.stdout + security.stderr);
      assert.ok(Number(score[1]) <= 2.0, `exposure ${score[1]} > 2.0:\n${security.stdout}`);

      step("labman update --restart: drain, restart, READY; the previous build is kept");
      const updateArgs = (dir: string, readyTimeoutS = 30) =>
        inDir(dir, [
          "labman",
          "update",
          "--from",
          "./labmand",
          "--labman-from",
          "/usr/local/bin/labman",
          "--restart",
          "--ready-timeout",
          String(readyTimeoutS),
        ]);
      const good = await c.exec(updateArgs("/lmtest/v2"), { timeoutMs: 120_000 });
      log.push(good.stdout, good.stderr);
      assert.equal(good.code, 0, good.stdout + good.stderr);
      assert.match(good.stdout, /kept the previous 1 file\(s\) in \/var\/lib\/labman\/previous/);
      assert.match(good.stdout, /labmand drained and stopped/);
      assert.match(good.stdout, /labmand is ready \(new build\)/);
      assert.match(await c.sh(["cat", "/usr/local/bin/labmand"]), /# build 2/);
      assert.match(await c.sh(["cat", "/var/lib/labman/previous/labmand"]), /# build 1/);
      assert.equal((await unitState(c)).SubState, "running");
      assert.ok((await chat()).ok);

      step("labman update --restart with a broken build: rolled back and running again");
      const bad = await c.exec(updateArgs("/lmtest/broken"), { timeoutMs: 180_000 });
      log.push(bad.stdout, bad.stderr);
      assert.equal(bad.code, 1, bad.stdout + bad.stderr);
      assert.match(bad.stderr, /the new labmand did not become ready: systemctl start exited/);
      assert.match(bad.stdout, /rolled back 1 file\(s\): \/usr\/local\/bin\/labmand/);
      assert.match(bad.stdout, /labmand is ready \(previous build\)/);
      assert.match(bad.stderr, /rolled back; the previous labmand is running again/);
      assert.match(await c.sh(["cat", "/usr/local/bin/labmand"]), /# build 2/);
      assert.match(await journal(c), /this build is broken/);
      st = await unitState(c);
      assert.equal(st.ActiveState, "active");
      assert.equal(st.SubState, "running");
      assert.ok((await chat()).ok);

      step(
        "labman update --restart with a build that never gets ready: rolled back after the bound",
      );
      const hung = await c.exec(updateArgs("/lmtest/hangs", 5), { timeoutMs: 180_000 });
      log.push(hung.stdout, hung.stderr);
      assert.equal(hung.code, 1, hung.stdout + hung.stderr);
      assert.match(hung.stderr, /the new labmand did not become ready: not ready within 5 s/);
      assert.match(hung.stdout, /labmand is ready \(previous build\)/);
      assert.match(await c.sh(["cat", "/usr/local/bin/labmand"]), /# build 2/);
      assert.equal((await unitState(c)).SubState, "running");
      assert.ok((await chat()).ok);

      step("systemctl stop: labman post runs, the interface is gone");
      await c.sh(["systemctl", "stop", "labmand"], { timeoutMs: 60_000 });
      st = await unitState(c);
      assert.equal(st.ActiveState, "inactive");
      assert.equal(st.Result, "success");
      assert.deepEqual(await cp.call({ cmd: "nodes" }), []);
      assert.notEqual((await run(["ip", "link", "show", "labman0"], { ns: topo.node })).code, 0);
      log.push(`systemd-analyze security: ${score[1]}`);
    } finally {
      if (container) {
        log.push("--- journalctl -u labmand ---", await journal(container).catch((e) => String(e)));
        await container.shutdown();
        log.push("--- console ---", container.console());
      }
      console.log(log.join("\n"));
      await cp?.close().catch(() => {});
      await mock?.close().catch(() => {});
      await topo.cleanup();
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
    }
  },
});
