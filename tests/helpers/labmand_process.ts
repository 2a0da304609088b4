/**
 * Starts labmand as a real process, with exactly the permission flags of the `labmand` task in
 * deno.json (the same set `deno task compile` bakes into the binary) plus the tests' directory
 * (tests/helpers/test_dirs.ts: keep the config and its files under `makeTestDir()`), and waits
 * until it serves.
 */
import { fileURLToPath } from "node:url";
import { encodeKey, generateKeyPair } from "../../lib/wireguard/mod.ts";
import { type PermissionTask, taskFlags as renderTaskFlags } from "../../lib/permissions/flags.ts";
import { TEST_ROOT } from "./test_dirs.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/**
 * Permission flags of a task as lib/permissions/flags.ts renders them (deno.json's tasks equal
 * that rendering: lib/permissions/flags_test.ts), with the source tree's paths absolute (tests
 * spawn from any directory) and {@link TEST_ROOT} added to `--allow-read`/`--allow-write` as the
 * stand-in for labman's own directories. `exact: true` leaves the test directory out.
 */
export function taskFlags(
  task: PermissionTask,
  options: { exact?: boolean; checkout?: string } = {},
): Promise<string[]> {
  return Promise.resolve(renderTaskFlags(task, {
    checkout: options.checkout ?? ROOT,
    extraDirs: options.exact ? [] : [TEST_ROOT],
  }));
}

export interface LabmandProcess extends AsyncDisposable {
  readonly child: Deno.ChildProcess;
  readonly proxyUrl: string;
  readonly adminUrl: string | null;
  /** Every log line so far (JSON lines, parsed). */
  readonly logs: Record<string, unknown>[];
  waitForLog(
    pred: (l: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
  signal(sig: Deno.Signal): void;
  /** Waits for exit (bounded) and returns the exit code. */
  exited(timeoutMs?: number): Promise<number>;
}

export async function startLabmand(
  configPath: string,
  options: {
    timeoutMs?: number;
    extraArgs?: string[];
    expectReady?: boolean;
    /** Run inside this network namespace (`ip netns exec`, which execs: same pid). */
    netns?: string;
    /** Extra environment (e.g. NOTIFY_SOCKET). */
    env?: Record<string, string>;
    /** A command that execs the rest, e.g. `["prlimit", "--nofile=300:300", "--"]`. */
    wrap?: string[];
  } = {},
): Promise<LabmandProcess> {
  const flags = await taskFlags("labmand");
  const netnsPrefix = options.netns ? ["ip", "netns", "exec", options.netns] : [];
  const prefix = [...(options.wrap ?? []), ...netnsPrefix];
  const child = new Deno.Command(prefix.length > 0 ? prefix[0] : Deno.execPath(), {
    args: [
      ...prefix.slice(1),
      ...(prefix.length > 0 ? [Deno.execPath()] : []),
      "run",
      ...flags,
      `${ROOT}labmand/main.ts`,
      "--config",
      configPath,
      ...(options.extraArgs ?? []),
    ],
    stdout: "null",
    stderr: "piped",
    stdin: "null",
    env: { NO_COLOR: "1", ...options.env },
  }).spawn();
  const logs: Record<string, unknown>[] = [];
  const raw: string[] = [];
  const waiters = new Set<() => void>();
  const reader = (async () => {
    const lines = child.stderr.pipeThrough(new TextDecoderStream());
    let buf = "";
    for await (const chunk of lines) {
      buf += chunk;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        raw.push(line);
        try {
          logs.push(JSON.parse(line));
        } catch {
          logs.push({ message: line, raw: true });
        }
        for (const w of waiters) w();
      }
    }
  })();
  const status = child.status;
  let exitCode: number | null = null;
  status.then((s) => {
    exitCode = s.code;
    for (const w of waiters) w();
  });

  const waitForLog = (pred: (l: Record<string, unknown>) => boolean, timeoutMs = 15_000) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const check = () => {
        const hit = logs.find(pred);
        if (hit) {
          done();
          resolve(hit);
        } else if (exitCode !== null) {
          done();
          reject(new Error(`labmand exited with ${exitCode}:\n${raw.join("\n")}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out waiting for a log line; got:\n${raw.join("\n")}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });

  const exited = async (timeoutMs = 20_000) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const code = await Promise.race([
      status.then((s) => s.code),
      new Promise<number>((_, rej) => {
        timer = setTimeout(() => rej(new Error("labmand did not exit in time")), timeoutMs);
      }),
    ]).finally(() => clearTimeout(timer));
    await reader;
    return code;
  };

  let proxyUrl = "";
  let adminUrl: string | null = null;
  if (options.expectReady ?? true) {
    try {
      const ready = await waitForLog(
        (l) => typeof l.message === "string" && l.message.startsWith("labmand ready"),
        options.timeoutMs ?? 20_000,
      );
      const props = ready.properties as { proxyUrl: string; adminUrl: string | null };
      proxyUrl = props.proxyUrl;
      adminUrl = props.adminUrl;
    } catch (err) {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
      await exited().catch(() => {});
      throw err;
    }
  }

  return {
    child,
    get proxyUrl() {
      return proxyUrl;
    },
    get adminUrl() {
      return adminUrl;
    },
    logs,
    waitForLog,
    signal: (sig) => child.kill(sig),
    exited,
    async [Symbol.asyncDispose]() {
      if (exitCode === null) {
        try {
          child.kill("SIGKILL");
        } catch { /* already gone */ }
      }
      await exited().catch(() => {});
    },
  };
}

/**
 * The control-plane peer a reference control plane hands out in tests that never build the
 * tunnel (local mode): a fresh key, a TEST-NET endpoint and the one allowed /32.
 */
export async function testControlPlanePeer() {
  return {
    publicKey: encodeKey((await generateKeyPair()).publicKey),
    endpoint: "192.0.2.2:51820",
    allowedIps: ["10.90.0.1/32"],
  };
}
