/**
 * The Portman shared secret: a file of mode 0600 that labmand creates when missing and Portman
 * reads. A file readable by group or others is refused, since any local user could then
 * impersonate Portman (a forged `usage_report` is a billing claim).
 *
 * @module
 */
import { dirname } from "node:path";

/** Reads the secret, creating the file (32 random bytes, hex, mode 0600) when it is missing. */
export async function ensurePortmanSecret(
  path: string,
): Promise<{ secret: string; created: boolean }> {
  let stat: Deno.FileInfo | null = null;
  try {
    stat = await Deno.stat(path);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) {
      throw new Error(`Cannot read portman.secret_file ${path}: ${(err as Error).message}`);
    }
  }
  if (stat === null) {
    const bytes = crypto.getRandomValues(new Uint8Array(32));
    const secret = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    // Like the state directory systemd makes (StateDirectoryMode=0700).
    await Deno.mkdir(dirname(path), { recursive: true, mode: 0o700 });
    try {
      await Deno.writeTextFile(path, secret + "\n", { mode: 0o600, createNew: true });
    } catch (err) {
      // Another labmand won the race: use its secret.
      if (err instanceof Deno.errors.AlreadyExists) return ensurePortmanSecret(path);
      throw new Error(`Cannot create portman.secret_file ${path}: ${(err as Error).message}`);
    }
    await Deno.chmod(path, 0o600);
    return { secret, created: true };
  }
  if (stat.mode !== null && (stat.mode & 0o077) !== 0) {
    throw new Error(
      `Cannot use portman.secret_file ${path}: mode ${
        (stat.mode & 0o777).toString(8)
      } lets other users read it — run: chmod 600 ${path}`,
    );
  }
  const secret = (await Deno.readTextFile(path)).trim();
  if (secret.length < 16) {
    throw new Error(
      `Cannot use portman.secret_file ${path}: the secret is shorter than 16 characters — delete the file and labmand creates a new one`,
    );
  }
  return { secret, created: false };
}
