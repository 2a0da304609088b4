/**
 * The previous labmand, labman and unit that `labman update` keeps, so a new build that does
 * not become ready can be rolled back. They live in `${PATHS.stateDir}/previous` (0700, next to
 * the keys: root-only), one copy per file, replaced by each update that changes something.
 *
 * @module
 */
import { basename, join } from "node:path";
import { PATHS, rootPath } from "./artifacts.ts";
import { atomicWriteFile, makeDir } from "./fs_ops.ts";

/** Where the previous copies go (under `root`). */
export function previousDir(root: string): string {
  return rootPath(root, `${PATHS.stateDir}/previous`);
}

export interface KeptFile {
  /** The installed path (under root). */
  path: string;
  /** Its saved copy. */
  copy: string;
  mode: number;
}

/**
 * Copies each installed file that exists into {@link previousDir}; returns what was kept.
 * Throws (with the path) when a copy cannot be made: updating without a way back is refused.
 */
export async function keepPrevious(root: string, installed: string[]): Promise<KeptFile[]> {
  const dir = previousDir(root);
  await makeDir(dir, 0o700);
  const kept: KeptFile[] = [];
  for (const path of installed) {
    let st: Deno.FileInfo;
    try {
      st = await Deno.stat(path);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) continue;
      throw err;
    }
    if (!st.isFile) continue;
    const copy = join(dir, basename(path));
    try {
      await atomicWriteFile(copy, await Deno.readFile(path), (st.mode ?? 0o755) & 0o777);
    } catch (err) {
      throw new Error(`Cannot keep ${path} as ${copy}: ${(err as Error).message}`);
    }
    kept.push({ path, copy, mode: (st.mode ?? 0o755) & 0o777 });
  }
  return kept;
}

/** Puts the kept copies back (atomically); returns one error message per file that failed. */
export async function restorePrevious(kept: KeptFile[]): Promise<string[]> {
  const errors: string[] = [];
  for (const k of kept) {
    try {
      await atomicWriteFile(k.path, await Deno.readFile(k.copy), k.mode);
    } catch (err) {
      errors.push(`Cannot restore ${k.path} from ${k.copy}: ${(err as Error).message}`);
    }
  }
  return errors;
}
