/**
 * Lifecycle helpers behind `labman install`, `update`, `pre`, `post`, `status` and `doctor`:
 * install planning, unit rewriting, unified diffs, the ✓/✗/! checklist, preflight decisions, a
 * Prometheus text reader and the status summary (all pure), plus the small I/O seams they use
 * (`Host` for programs and processes, atomic file writes).
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
  type Layout,
  loadSources,
  PATHS,
  programArtifacts,
  rootPath,
  type SourceOptions,
  type Sources,
} from "./artifacts.ts";
export {
  type Check,
  check,
  checklistExitCode,
  type CheckStatus,
  countChecks,
  formatCheck,
  formatChecklist,
} from "./checklist.ts";
export { applyAction, atomicWriteFile, makeDir, observePath, sha256Hex } from "./fs_ops.ts";
export {
  type CommandDeps,
  type Host,
  realHost,
  resolveDeps,
  type RunResult,
  whichOnPath,
} from "./host.ts";
export { type FakeHost, fakeHost, type FakeHostOptions } from "./fake_host.ts";
export {
  type ActionKind,
  type Desired,
  formatAction,
  type Observed,
  octal,
  planAction,
  planChanges,
  planInstall,
  type PlannedAction,
} from "./install_plan.ts";
export {
  keyDirChecks,
  keyDirs,
  modeOf,
  parseStatFileType,
  type PathKind,
  pathKind,
  probeKernel,
  toolChecks,
  tunState,
} from "./node_checks.ts";
export {
  describeFetchError,
  endpointCheck,
  ipForwardCheck,
  kernelCheck,
  type KernelWireGuard,
  keyDirCheck,
  keyFileCheck,
  type ProbeOutcome,
  rosenpassCheck,
  type SecretStat,
  tunCheck,
  wireguardGoCheck,
  type WireGuardMode,
  type WireGuardNeeds,
  wireguardNeeds,
} from "./preflight.ts";
export { parsePromText, type PromSample, samplesOf, sumOf } from "./prom_text.ts";
export {
  type EndpointStatus,
  formatStatus,
  parseReadyBody,
  STATUS_METRICS,
  type StatusSummary,
  summarizeStatus,
} from "./status_summary.ts";
export { LABMAN_BINARIES, rewriteUnitPaths } from "./unit_file.ts";
export { unifiedDiff, type UnifiedDiffOptions } from "./unified_diff.ts";
