/**
 * Where tests keep the files labmand and labman must reach. Under the tasks' flags both programs
 * may read and write only their own directories (/etc/labman, /var/lib/labman, /run/labman, …,
 * lib/permissions/flags.ts), which tests must not touch; so every process-spawning helper adds
 * exactly one more directory, {@link TEST_ROOT}, to `--allow-read` and `--allow-write` — a
 * stand-in for those directories — and a test puts its config, keys and state in a directory
 * from {@link makeTestDir}. A file anywhere else (a plain `Deno.makeTempDir()`) is refused by
 * the spawned program exactly as an operator's would be.
 *
 * @module
 */

/** The one directory tests add to the programs' read and write lists. */
export const TEST_ROOT = "/tmp/labman-test";

/** Creates {@link TEST_ROOT} if needed (for code that makes its own directories in it). */
export async function ensureTestRoot(): Promise<string> {
  await Deno.mkdir(TEST_ROOT, { recursive: true, mode: 0o755 });
  return TEST_ROOT;
}

/** A fresh private directory under {@link TEST_ROOT} (remove it when done). */
export async function makeTestDir(options: { prefix?: string } = {}): Promise<string> {
  await Deno.mkdir(TEST_ROOT, { recursive: true, mode: 0o755 });
  return await Deno.makeTempDir({ dir: TEST_ROOT, prefix: options.prefix ?? "t-" });
}

/** {@link makeTestDir}, synchronously. */
export function makeTestDirSync(options: { prefix?: string } = {}): string {
  Deno.mkdirSync(TEST_ROOT, { recursive: true, mode: 0o755 });
  return Deno.makeTempDirSync({ dir: TEST_ROOT, prefix: options.prefix ?? "t-" });
}

/** A fresh file under {@link TEST_ROOT}. */
export async function makeTestFile(options: { prefix?: string; suffix?: string } = {}) {
  await Deno.mkdir(TEST_ROOT, { recursive: true, mode: 0o755 });
  return await Deno.makeTempFile({ dir: TEST_ROOT, ...options });
}
