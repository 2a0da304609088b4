/**
 * labmand's and labman's Deno permission flags, defined once (`flags.ts`: rendered into the
 * `deno.json` tasks and the `deno run` wrappers), and the two views of whether labmand may reach
 * a path a config names (`config_access.ts`). An area of its own, apart from lib/ops, so that
 * labmand loads these two small modules and not the CLI's install and diff code (about 7 MB of
 * idle RSS, bench/idle_rss.ts).
 *
 * @module
 */
export {
  allowedPaths,
  denoRunArgs,
  DEV_TEMP_DIR,
  isWithin,
  type PathEntry,
  PERMISSIONS,
  type PermissionSet,
  type PermissionTask,
  type Program,
  renderFlags,
  type RenderOptions,
  renderPath,
  renderTask,
  taskFlags,
  taskPermissionSet,
  UNSTABLE_FLAGS,
  WORKER_ENTRY,
} from "./flags.ts";
export {
  cliPathAccess,
  fileErrorReason,
  labmandPathAccess,
  mayAccess,
  outsideReason,
} from "./config_access.ts";
