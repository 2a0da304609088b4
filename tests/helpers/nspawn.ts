/**
 * Boots a Debian userland with systemd as PID 1 (`systemd-nspawn --boot`) so tests can run
 * labmand the way operators do: installed by `labman install`, started by `systemctl`, under the
 * unit's whole sandbox. The rootfs is built once by tests/systemd/build_rootfs.sh and cached;
 * every boot gets a pristine tmpfs overlay (`--volatile=overlay`). See
 * /work/shared/notes/systemd-test.md for what was measured and the pitfalls handled here.
 */
import { randomSuffix } from "./netns.ts";

/** Where .ci/run (tests/systemd/build_rootfs.sh) caches the rootfs. */
export function rootfsDir(): string {
  return `${Deno.env.get("LABMAN_CI_CACHE") ?? "/var/cache/labman-ci"}/nspawn-bookworm`;
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

function onPath(program: string): boolean {
  return (Deno.env.get("PATH") ?? "").split(":").some((d) => d && exists(`${d}/${program}`));
}

/** Why the container tests cannot run here, or null when they can (one clear skip line). */
export function nspawnUnavailable(): string | null {
  if (Deno.build.os !== "linux" || Deno.build.arch !== "x86_64") return "needs x86_64 Linux";
  if (Deno.uid() !== 0) return "needs root";
  if (!onPath("systemd-nspawn")) {
    return "systemd-nspawn not installed (apt-get install systemd-container)";
  }
  if (!exists(`${rootfsDir()}/.lmtest-rootfs-version`)) {
    return `no cached rootfs in ${rootfsDir()} (run tests/systemd/build_rootfs.sh)`;
  }
  return null;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Container extends AsyncDisposable {
  readonly machine: string;
  /** Runs a command inside the container (all its namespaces), as root, with a clean env. */
  exec(cmd: string[], options?: { timeoutMs?: number; env?: Record<string, string> }): Promise<
    ExecResult
  >;
  /** `exec` that throws (with the output) unless the command exits 0. */
  sh(cmd: string[], options?: { timeoutMs?: number }): Promise<string>;
  /** Everything the container wrote to its console so far (boot messages, units' console). */
  console(): string;
  /** Powers off (bounded), then kills what is left and removes the run's cgroups. */
  shutdown(): Promise<number | null>;
}

export interface BootOptions {
  /** `/run/netns/<name>` the container runs in (it then has that namespace's links only). */
  netns: string;
  /** host path → container path, read-only. */
  bindRo?: Record<string, string>;
  /** host path → container path, read-write. */
  bind?: Record<string, string>;
  /** @default 30_000 */
  bootTimeoutMs?: number;
}

const CONTAINER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

async function output(cmd: string[], timeoutMs: number): Promise<ExecResult> {
  const out = await new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(timeoutMs),
  }).output();
  const dec = new TextDecoder();
  return {
    code: out.signal ? 128 + (out.signal === "SIGKILL" ? 9 : 15) : out.code,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
  };
}

/** PID (on the host) of the container's PID 1: nspawn's child running `systemd`. */
async function leaderOf(nspawnPid: number, deadline: number): Promise<number> {
  while (Date.now() < deadline) {
    const r = await output(["pgrep", "-P", String(nspawnPid), "-x", "systemd"], 5_000);
    const pid = Number(r.stdout.trim().split("\n")[0]);
    if (pid > 0) return pid;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("Cannot boot the container: no systemd PID 1 appeared in time");
}

/** Every pid in the cgroup trees under `roots`. */
async function cgroupPids(roots: string[]): Promise<number[]> {
  const pids: number[] = [];
  const walk = async (dir: string) => {
    const procs = await Deno.readTextFile(`${dir}/cgroup.procs`).catch(() => "");
    pids.push(...procs.split("\n").filter(Boolean).map(Number));
    try {
      for await (const e of Deno.readDir(dir)) if (e.isDirectory) await walk(`${dir}/${e.name}`);
    } catch { /* removed meanwhile */ }
  };
  for (const r of roots) await walk(r);
  return pids;
}

export async function bootContainer(options: BootOptions): Promise<Container> {
  const machine = `lmtest-${randomSuffix()}`;
  // Pitfall 4 of the notes: without a host systemd, nspawn puts payload/ and supervisor/ under
  // its own cgroup; each run gets its own so parallel runs do not share (and kill) them.
  const cgroups = ["unified", "systemd"].map((h) => `/sys/fs/cgroup/${h}/${machine}`)
    .filter((p) => exists(p.slice(0, p.lastIndexOf("/"))));
  const binds = [
    ...Object.entries(options.bindRo ?? {}).map(([h, c]) => `--bind-ro=${h}:${c}`),
    ...Object.entries(options.bind ?? {}).map(([h, c]) => `--bind=${h}:${c}`),
  ];
  const script = [
    ...cgroups.map((c) => `mkdir -p ${c} && echo $$ > ${c}/cgroup.procs`),
    'exec systemd-nspawn "$@"',
  ].join("\n");
  const child = new Deno.Command("bash", {
    args: [
      "-c",
      script,
      "nspawn",
      "-q",
      "-D",
      rootfsDir(),
      "--boot",
      "-M",
      machine,
      // No host systemd/machined here: without these nspawn exits at once (notes §A).
      "--register=no",
      "--keep-unit",
      "--console=read-only",
      "--volatile=overlay",
      `--network-namespace-path=/run/netns/${options.netns}`,
      // nspawn keeps CAP_NET_ADMIN only with --private-network; a joined namespace needs it
      // granted, or TUNSETIFF (wireguard-go) and netlink link changes fail with EPERM.
      "--capability=CAP_NET_ADMIN",
      // Both are needed for DeviceAllow= to be enforced (pitfall 1).
      "--system-call-filter=bpf",
      ...binds,
    ],
    env: { SYSTEMD_NSPAWN_UNIFIED_HIERARCHY: "1", SYSTEMD_COLORS: "0" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let consoleText = "";
  const pump = async (s: ReadableStream<Uint8Array>) => {
    for await (const chunk of s.pipeThrough(new TextDecoderStream())) consoleText += chunk;
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  let exitCode: number | null = null;
  const status = child.status.then((s) => (exitCode = s.code));

  const removeCgroups = async () => {
    for (const c of cgroups) {
      await output(["find", c, "-depth", "-type", "d", "-exec", "rmdir", "{}", "+"], 10_000)
        .catch(() => {});
    }
  };
  let shutdownDone: Promise<number | null> | null = null;
  let leader = 0;
  const exec: Container["exec"] = (cmd, o = {}) => {
    const env = Object.entries({
      PATH: CONTAINER_PATH,
      HOME: "/root",
      LANG: "C.UTF-8",
      SYSTEMD_COLORS: "0",
      ...o.env,
    })
      .map(([k, v]) => `${k}=${v}`);
    return output(
      ["nsenter", "-t", String(leader), "-a", "--", "env", "-i", ...env, ...cmd],
      o.timeoutMs ?? 60_000,
    );
  };
  const shutdown = () =>
    shutdownDone ??= (async () => {
      if (exitCode === null) {
        if (leader > 0) {
          await exec(["systemctl", "exit", "0"], { timeoutMs: 10_000 }).catch(() => {});
        } else {
          // No PID 1 known yet: nspawn turns SIGTERM into a power-off of the container.
          try {
            child.kill("SIGTERM");
          } catch { /* exited */ }
        }
      }
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* exited */ }
      }, 20_000);
      await status;
      clearTimeout(timer);
      await pumps.catch(() => {});
      // A killed nspawn leaves its container's PID 1 running (reparented to init): kill
      // everything in the run's cgroup trees (payload/…, supervisor/…), then wait for them to
      // empty so they can be removed.
      for (let round = 0; round < 50; round++) {
        const pids = await cgroupPids(cgroups);
        if (pids.length === 0) break;
        for (const pid of pids) {
          try {
            Deno.kill(pid, "SIGKILL");
          } catch { /* gone */ }
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      await removeCgroups();
      return exitCode;
    })();

  try {
    const deadline = Date.now() + (options.bootTimeoutMs ?? 30_000);
    leader = await leaderOf(child.pid, deadline);
    // "degraded" is fine (units irrelevant in a container may fail); "starting" is not.
    // Until PID 1 has its private bus up, systemctl fails at once: retry (bounded).
    let state = "";
    for (let i = 0; i < 200 && Date.now() < deadline; i++) {
      const r = await exec(["systemctl", "is-system-running", "--wait"], {
        timeoutMs: Math.max(1_000, deadline - Date.now()),
      });
      state = (r.stdout.trim() || r.stderr.trim()).split("\n")[0];
      if (/^(running|degraded)$/.test(state)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    if (!/^(running|degraded)$/.test(state)) {
      throw new Error(`Cannot boot the container: system is "${state}"`);
    }
  } catch (err) {
    await shutdown();
    throw new Error(`${(err as Error).message}\n--- console ---\n${consoleText}`);
  }

  return {
    machine,
    exec,
    async sh(cmd, o = {}) {
      const r = await exec(cmd, o);
      if (r.code !== 0) {
        throw new Error(`in container: ${cmd.join(" ")} exited ${r.code}\n${r.stdout}${r.stderr}`);
      }
      return r.stdout;
    },
    console: () => consoleText,
    shutdown,
    async [Symbol.asyncDispose]() {
      await shutdown();
    },
  };
}
