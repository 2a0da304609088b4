/**
 * The operating-system seam of the lifecycle commands: running programs, finding executables
 * and processes. `realHost()` does it for real; tests pass a fake that records what would run
 * (the way tailscale tests its router as text), so no test touches links or systemd.
 *
 * @module
 */
import { join } from "node:path";
import { resolveRosenpassBinary } from "../rosenpass/mod.ts";
import { findProcessesByName } from "../procfs/mod.ts";

export interface RunResult {
  /** Exit code; 127 when the program does not exist, 124 on timeout. */
  code: number;
  stdout: string;
  stderr: string;
}

export interface Host {
  /** Runs `program args…` to completion without a shell. Never throws. */
  run(program: string, args: string[], options?: { timeoutMs?: number }): Promise<RunResult>;
  /**
   * The executable for a name (searched on `PATH`) or a path (checked as is), or `null` when
   * there is none.
   */
  which(nameOrPath: string): string | null;
  /** The rosenpass executable, found the way labmand finds it (PATH, then cargo's bin dirs). */
  whichRosenpass(nameOrPath: string): string | null;
  /** PIDs of processes named `name` (their `comm`), excluding this process. */
  findProcesses(name: string): Promise<number[]>;
  /** True when systemd is the init system (`/run/systemd/system` exists, as sd_booted(3) checks). */
  systemdRunning(): boolean;
}

function isExecutableFile(path: string): boolean {
  try {
    const st = Deno.statSync(path);
    return st.isFile && (st.mode === null || (st.mode & 0o111) !== 0);
  } catch (err) {
    // labman may not read program directories, but Deno resolved each `--allow-run` name on
    // PATH at start: a path it granted is the program found there.
    if (!(err instanceof Deno.errors.NotCapable)) return false;
    try {
      return Deno.permissions.querySync({ name: "run", command: path }).state === "granted";
    } catch {
      return false;
    }
  }
}

/** Default PATH of systemd services, used when `PATH` is unset. */
const FALLBACK_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export function whichOnPath(nameOrPath: string, pathVar: string): string | null {
  if (nameOrPath.includes("/")) return isExecutableFile(nameOrPath) ? nameOrPath : null;
  for (const dir of pathVar.split(":")) {
    if (dir === "") continue;
    const candidate = join(dir, nameOrPath);
    if (isExecutableFile(candidate)) return candidate;
  }
  return null;
}

export function realHost(): Host {
  return {
    async run(program, args, options = {}) {
      try {
        const out = await new Deno.Command(program, {
          args,
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
          signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
        }).output();
        const dec = new TextDecoder();
        return {
          code: out.signal === "SIGTERM" || out.signal === "SIGKILL" ? 124 : out.code,
          stdout: dec.decode(out.stdout),
          stderr: dec.decode(out.stderr),
        };
      } catch (err) {
        if (err instanceof Deno.errors.NotFound) {
          return { code: 127, stdout: "", stderr: `${program}: not found` };
        }
        return { code: 126, stdout: "", stderr: `${program}: ${(err as Error).message}` };
      }
    },
    which(nameOrPath) {
      let pathVar = FALLBACK_PATH;
      try {
        pathVar = Deno.env.get("PATH") ?? FALLBACK_PATH;
      } catch {
        // No env permission: the systemd default is the right guess for a service.
      }
      return whichOnPath(nameOrPath, pathVar);
    },
    whichRosenpass(nameOrPath) {
      try {
        return resolveRosenpassBinary(nameOrPath);
      } catch {
        return null;
      }
    },
    findProcesses(name) {
      // Not a /proc scan: Deno refuses /proc without --allow-all (see lib/procfs).
      return findProcessesByName(name);
    },
    systemdRunning() {
      try {
        return Deno.statSync("/run/systemd/system").isDirectory;
      } catch {
        return false;
      }
    },
  };
}

/** What a lifecycle command talks to; every field defaults to the real thing. */
export interface CommandDeps {
  host?: Host;
  /** A line for stdout. */
  out?: (line: string) => void;
  /** A line for stderr. */
  err?: (line: string) => void;
  /** Overrides `Deno.execPath()` (to find the binaries next to labman). */
  execPath?: string;
}

export function resolveDeps(deps: CommandDeps = {}): Required<Omit<CommandDeps, "execPath">> & {
  execPath?: string;
} {
  return {
    host: deps.host ?? realHost(),
    out: deps.out ?? ((l) => console.log(l)),
    err: deps.err ?? ((l) => console.error(l)),
    ...(deps.execPath !== undefined ? { execPath: deps.execPath } : {}),
  };
}
