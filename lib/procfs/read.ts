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
