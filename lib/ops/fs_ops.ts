/**
 * File operations the installer needs: observe a path (kind, mode, sha256), write a file
 * atomically (temp file in the same directory + rename, so a running labmand or a crash never
 * sees half a binary), and apply a planned action.
 *
 * @module
 */
import { basename, dirname, join } from "node:path";
import type { Observed, PlannedAction } from "./install_plan.ts";

export async function sha256Hex(data: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** What is at `path` now; hashes regular files when `hash` is set. Symlinks are followed. */
export async function observePath(path: string, hash = true): Promise<Observed> {
  let st: Deno.FileInfo;
  try {
    st = await Deno.stat(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return { exists: false };
    throw err;
  }
  const kind = st.isDirectory ? "dir" : st.isFile ? "file" : "other";
  const mode = st.mode ?? 0;
  if (kind === "file" && hash) {
    return { exists: true, kind, mode, sha256: await sha256Hex(await Deno.readFile(path)) };
  }
  return { exists: true, kind, mode };
}

/** Writes `data` to `path` with `mode` via a temp file and rename; never leaves the temp file. */
export async function atomicWriteFile(path: string, data: Uint8Array, mode: number): Promise<void> {
  const tmp = join(
    dirname(path),
    `.${basename(path)}.labman-${crypto.randomUUID().slice(0, 8)}.tmp`,
  );
  try {
    const file = await Deno.open(tmp, { write: true, createNew: true, mode });
    try {
      let written = 0;
      while (written < data.length) written += await file.write(data.subarray(written));
      await file.syncData();
    } finally {
      file.close();
    }
    await Deno.chmod(tmp, mode); // the umask narrowed the mode given to open
    await Deno.rename(tmp, path);
  } catch (err) {
    await Deno.remove(tmp).catch(() => {});
    throw err;
  }
}

/** Creates `path` with exactly `mode`; missing parents get the default (umask) mode. */
export async function makeDir(path: string, mode: number): Promise<void> {
  // Parents only when missing: labman may write its own directories, not /run or /var/lib.
  try {
    await Deno.mkdir(path, { mode });
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      await Deno.mkdir(dirname(path), { recursive: true });
      await Deno.mkdir(path, { recursive: true, mode });
    } else if (!(err instanceof Deno.errors.AlreadyExists)) throw err;
  }
  await Deno.chmod(path, mode); // the umask narrowed the mode given to mkdir
}

/**
 * Carries out one planned action. `content` is required for file create/update.
 * Returns an error message instead of throwing, so the caller can report every failure.
 */
export async function applyAction(
  a: PlannedAction,
  content?: Uint8Array,
): Promise<string | undefined> {
  const d = a.desired;
  try {
    if (a.action === "create" && d.kind === "dir") {
      await makeDir(d.path, d.mode);
      return undefined;
    }
    switch (a.action) {
      case "create":
      case "update":
        if (d.kind !== "file" || content === undefined) {
          return `Cannot write ${d.path}: no content given`;
        }
        await Deno.mkdir(dirname(d.path), { recursive: true });
        await atomicWriteFile(d.path, content, d.mode);
        return undefined;
      case "chmod":
        await Deno.chmod(d.path, d.mode);
        return undefined;
      case "conflict":
        return `Cannot install ${d.path}: a ${
          d.kind === "dir" ? "non-directory" : "non-file"
        } is in the way — move it away and re-run`;
      default:
        return undefined;
    }
  } catch (err) {
    return `Cannot ${a.action} ${d.path}: ${(err as Error).message}`;
  }
}
