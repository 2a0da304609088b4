/**
 * `labman dev`'s private scratch directory. labman's flags name one fixed place for it
 * (`DEV_TEMP_DIR`, as they cannot name `$TMPDIR`), which sits in a world-writable /tmp: so the
 * base must be a real directory (not a link) that only its owner can enter and that belongs to
 * whoever runs `labman dev`; each run gets its own random directory inside.
 *
 * @module
 */
import { DEV_TEMP_DIR } from "../../lib/ops/mod.ts";

/** Creates a fresh private directory for one `labman dev` run; throws an actionable Error. */
export async function makeDevDir(base: string = DEV_TEMP_DIR): Promise<string> {
  const refuse = (why: string) =>
    new Error(`Cannot start labman dev: ${base} ${why} — remove it (rm -r ${base}) and run again`);
  try {
    await Deno.mkdir(base, { mode: 0o700 });
  } catch (err) {
    if (!(err instanceof Deno.errors.AlreadyExists)) throw err;
  }
  const st = await Deno.lstat(base);
  if (st.isSymlink || !st.isDirectory) throw refuse("is not a directory");
  if (((st.mode ?? 0) & 0o077) !== 0) throw refuse("can be entered by other users");
  let dir: string;
  try {
    dir = await Deno.makeTempDir({ dir: base, prefix: "run-" });
  } catch (err) {
    if (err instanceof Deno.errors.PermissionDenied) throw refuse("belongs to another user");
    throw err;
  }
  if ((await Deno.stat(dir)).uid !== st.uid) {
    await Deno.remove(dir).catch(() => {});
    throw refuse("belongs to another user");
  }
  return dir;
}
