/**
 * Lifecycle helpers behind `labman install`, `update`, `pre`, `post`, `status` and `doctor`:
 * install planning, unit rewriting, unified diffs, the ✓/✗/! checklist, preflight decisions and
 * the status summary (all pure), plus the small I/O seams they use (`Host` for programs and
 * processes, atomic file writes). The test double `fakeHost` lives in `fake_host.ts`, outside
 * this door.
 *
 * ```ts
 * import { formatChecklist, check } from "./mod.ts";
 * console.log(formatChecklist([check("ok", "/dev/net/tun", "present")]));
 * ```
 *
 * @module
 */
export {
  type Artifact,
  installArtifacts,
  isCompiledBinary,
  loadSources,
  PATHS,
  programArtifacts,
  rootPath,
} from "./artifacts.ts";
export { type Check, check, checklistExitCode, formatCheck, formatChecklist } from "./checklist.ts";
export { applyAction, makeDir, observePath } from "./fs_ops.ts";
export {
  allowedPaths,
  cliPathAccess,
  denoRunArgs,
  DEV_TEMP_DIR,
  fileErrorReason,
  labmandPathAccess,
  mayAccess,
  outsideReason,
  PERMISSIONS,
  renderFlags,
  renderTask,
  taskFlags,
} from "../permissions/mod.ts";
export { type CommandDeps, type Host, resolveDeps } from "./host.ts";
export {
  formatAction,
  octal,
  planAction,
  planChanges,
  type PlannedAction,
} from "./install_plan.ts";
export { keyDirChecks, modeOf, toolChecks } from "./node_checks.ts";
export { portmanChecks } from "./portman_check.ts";
export { keepPrevious, type KeptFile, previousDir, restorePrevious } from "./previous.ts";
export {
  describeFetchError,
  endpointCheck,
  ipForwardCheck,
  keyFileCheck,
  type ProbeOutcome,
  type SecretStat,
} from "./preflight.ts";
export { formatStatus, summarizeStatus } from "./status_summary.ts";
export { unifiedDiff } from "./unified_diff.ts";
