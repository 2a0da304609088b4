/**
 * The two ways to decide whether labmand may reach a path a config names
 * ({@link PathAccess}): labmand asks its own permissions (its flags are the truth), the CLI asks
 * the shared definition of labmand's set (lib/permissions/flags.ts), since its own set is wider.
 *
 * @module
 */
import { resolve } from "node:path";
import type { PathAccess, PathAccessKind } from "../config/mod.ts";
import { allowedPaths, isWithin, PERMISSIONS } from "./flags.ts";

function granted(path: string, access: PathAccessKind): boolean {
  try {
    return Deno.permissions.querySync({ name: access, path }).state === "granted";
  } catch {
    return false;
  }
}

/** labmand's directories for `access`, as messages list them. */
function labmandDirs(access: PathAccessKind): string[] {
  return PERMISSIONS.labmand[access].filter((e) => e.base === "abs").map((e) => e.path);
}

/** labmand's own view: what its launch flags grant. */
export function labmandPathAccess(): PathAccess {
  return { program: "labmand", allowed: granted, dirs: labmandDirs };
}

/**
 * The CLI's view of labmand (`labman config check`, `labman pre`): labmand's defined
 * directories, plus any directory this launch was given beyond labman's own defined set — a
 * test's stand-in for /etc/labman, an operator's `deno run` with a wider `--allow-read` — which
 * counts as given to labmand alike, as both programs' flags come from the same definition.
 */
export function cliPathAccess(cwd: string = Deno.cwd()): PathAccess {
  return {
    program: "labmand",
    allowed(path, access) {
      const abs = resolve(cwd, path);
      const within = (program: "labmand" | "labman") =>
        allowedPaths(program, access, cwd).some((d) => isWithin(abs, d));
      if (within("labmand")) return true;
      return !within("labman") && granted(abs, access);
    },
    dirs: labmandDirs,
  };
}

/**
 * The reason for a file error, with Deno's NotCapable ("run again with the --allow-read flag",
 * which an operator cannot do for a compiled binary) replaced by where the file must lie.
 */
export function fileErrorReason(
  err: unknown,
  path: string,
  access: PathAccessKind,
  program: "labmand" | "labman" = "labman",
): string {
  if (!(err instanceof Deno.errors.NotCapable)) {
    return err instanceof Error ? err.message : String(err);
  }
  return outsideReason(path, access, program);
}

/** `<path> is outside the directories <program> may <access> (…)`, from the shared definition. */
export function outsideReason(
  path: string,
  access: PathAccessKind,
  program: "labmand" | "labman" = "labman",
): string {
  const dirs = PERMISSIONS[program][access].filter((e) => e.base === "abs").map((e) => e.path);
  return `${path} is outside the directories ${program} may ${access} (${dirs.join(", ")})`;
}

/** True when this process may `access` `path` (its launch flags decide). */
export function mayAccess(path: string, access: PathAccessKind): boolean {
  return granted(path, access);
}
