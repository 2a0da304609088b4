/**
 * A labmand that died without cleaning up (SIGKILL, OOM) leaves its rosenpass child running,
 * still bound to the listen port, so the next start would fail. The supervisor records the
 * child's pid beside its config and, on start, stops a process that is still running *that*
 * config — never anything else.
 *
 * @module
 */
import { readProcFile, signalProcess } from "../procfs/mod.ts";

/** True when `cmdline` (NUL-separated, from /proc) runs rosenpass with `configPath`. */
export function isOurRosenpass(cmdline: string, configPath: string): boolean {
  const argv = cmdline.split("\0").filter((a) => a.length > 0);
  const i = argv.indexOf("exchange-config");
  return i >= 0 && argv[i + 1] === configPath && argv.some((a) => /rosenpass$/.test(a));
}

/**
 * Stops a leftover rosenpass recorded in `pidFile` if it still runs `configPath`.
 * Returns the pid it stopped, or null.
 */
export async function reapStaleRosenpass(
  pidFile: string,
  configPath: string,
): Promise<number | null> {
  let pid: number;
  try {
    pid = Number((await Deno.readTextFile(pidFile)).trim());
  } catch {
    return null;
  }
  if (!Number.isInteger(pid) || pid <= 1) return null;
  const cmdline = await readProcFile(`/proc/${pid}/cmdline`);
  if (cmdline === null || !isOurRosenpass(cmdline, configPath)) return null;
  for (const [signal, waitMs] of [["SIGTERM", 2_000], ["SIGKILL", 2_000]] as const) {
    try {
      await signalProcess(pid, signal);
    } catch {
      return pid;
    }
    const deadline = Date.now() + waitMs;
    while (Date.now() < deadline) {
      if ((await readProcFile(`/proc/${pid}/cmdline`)) === null) return pid;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(
    `Cannot stop a leftover rosenpass (pid ${pid}): it still runs ${configPath} after SIGTERM and SIGKILL — it is stuck in the kernel (see /proc/${pid}/stack); reboot the node if it stays`,
  );
}
