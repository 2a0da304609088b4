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
