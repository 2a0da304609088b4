/**
 * Reading `/proc` from a permission-restricted process. Deno refuses every `/proc` path (even
 * `/proc/sys/…`) unless the process runs with `--allow-all`, which labmand and labman never do.
 * Processes that already hold `--allow-run` read such files through `cat` instead.
 *
 * @module
 */

/** Contents of a `/proc` file, or null when it cannot be read (missing, exited process, …). */
export async function readProcFile(path: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(path);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotCapable)) return null;
  }
  try {
    const out = await new Deno.Command("cat", { args: [path], stdout: "piped", stderr: "null" })
      .output();
    return out.success ? new TextDecoder().decode(out.stdout) : null;
  } catch {
    return null;
  }
}

/** Pids of processes whose name (`comm`) is exactly `name`, via `pgrep -x`. */
export async function findProcessesByName(name: string): Promise<number[]> {
  try {
    const out = await new Deno.Command("pgrep", {
      args: ["-x", name],
      stdout: "piped",
      stderr: "null",
    })
      .output();
    // pgrep exits 1 when nothing matches.
    return new TextDecoder().decode(out.stdout).split("\n").filter((l) => /^\d+$/.test(l))
      .map(Number).filter((pid) => pid !== Deno.pid).sort((a, b) => a - b);
  } catch {
    return [];
  }
}

/**
 * Sends `signal` to `pid`. `Deno.kill` needs unrestricted `--allow-run`, which labmand does not
 * have (its list names the programs it starts), so it falls back to `kill(1)`, on that list.
 * Throws when the signal could not be sent (no such process, not permitted).
 */
export async function signalProcess(pid: number, signal: Deno.Signal): Promise<void> {
  try {
    Deno.kill(pid, signal);
    return;
  } catch (err) {
    if (!(err instanceof Deno.errors.NotCapable)) throw err;
  }
  const out = await new Deno.Command("kill", {
    args: ["-s", signal.replace(/^SIG/, ""), String(pid)],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(
      `Cannot signal process ${pid} with ${signal}: ${new TextDecoder().decode(out.stderr).trim()}`,
    );
  }
}
