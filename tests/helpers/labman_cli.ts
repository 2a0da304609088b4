/**
 * Runs the `labman` CLI as operators do: `labman/main.ts` in its own process with exactly the
 * permission flags of the `labman` task in deno.json (the flags `deno task compile` bakes into
 * the binary) plus the tests' directory (tests/helpers/test_dirs.ts: keep configs, keys and
 * `--root`s under `makeTestDir()`), so a command that needs more than those flags fails here as
 * it would on a node.
 */
import { fileURLToPath } from "node:url";
import { taskFlags } from "./labmand_process.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** Extra or replacement environment variables (NO_COLOR=1 is always set). */
  env?: Record<string, string>;
  /** Only these variables (plus NO_COLOR) instead of the test's environment. */
  clearEnv?: boolean;
  /**
   * Programs that run labman (e.g. `["ip", "netns", "exec", ns]`, `["unshare", "-m", …]`); the
   * last element execs deno.
   */
  prefix?: string[];
  /** @default 60_000 */
  timeoutMs?: number;
  cwd?: string;
}

/** The argv that runs `labman <args…>` under the `labman` task's flags. */
export async function labmanArgv(args: string[]): Promise<string[]> {
  return [Deno.execPath(), "run", ...await taskFlags("labman"), `${ROOT}labman/main.ts`, ...args];
}

export async function runLabman(args: string[], options: CliOptions = {}): Promise<CliResult> {
  const argv = [...(options.prefix ?? []), ...await labmanArgv(args)];
  const out = await new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...options.env },
    clearEnv: options.clearEnv ?? false,
    signal: AbortSignal.timeout(options.timeoutMs ?? 60_000),
    ...(options.cwd ? { cwd: options.cwd } : {}),
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}
