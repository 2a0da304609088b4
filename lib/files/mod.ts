/**
 * Small file-system questions several areas ask (key files, state files, sockets).
 *
 * @module
 */

/**
 * True when something (file, directory, socket, dangling link) is at `path`; false only when
 * nothing is. Any other failure (permission, I/O) is thrown: "cannot tell" is not "absent".
 */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/**
 * False only when nothing is at `path`; any other failure (not allowed to look, I/O) counts as
 * present, for callers whose next step reads the file and reports why that failed.
 */
export function mayExistSync(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch (err) {
    return !(err instanceof Deno.errors.NotFound);
  }
}
