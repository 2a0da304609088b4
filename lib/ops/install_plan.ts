/**
 * What `labman install`/`update` must do, computed from the desired artifacts and what is on
 * disk now. Pure: the command observes the filesystem, calls {@link planInstall}, prints the
 * plan (or only prints it with `--dry-run`) and applies it.
 *
 * @module
 */

export interface DesiredDir {
  kind: "dir";
  path: string;
  /** Wanted mode; an existing dir that is stricter is left alone. */
  mode: number;
  /** Create when missing, never chmod (dirs labman does not own, e.g. /usr/local/bin). */
  onlyIfAbsent?: boolean;
}

export interface DesiredFile {
  kind: "file";
  path: string;
  mode: number;
  /** Hex sha256 of the content to install. */
  sha256: string;
  /** Never replace an existing file (the operator's config). */
  onlyIfAbsent?: boolean;
}

export type Desired = DesiredDir | DesiredFile;

export type Observed =
  | { exists: false }
  | { exists: true; kind: "dir" | "file" | "other"; mode: number; sha256?: string };

export type ActionKind =
  | "create"
  | "update"
  | "chmod"
  | "unchanged"
  /** onlyIfAbsent file that exists: kept as is. */
  | "keep"
  /** Something of the wrong kind is in the way; nothing is done to it. */
  | "conflict";

export interface PlannedAction {
  desired: Desired;
  action: ActionKind;
  /** Mode found on disk (for chmod/update). */
  oldMode?: number;
  /** Content hash found on disk (for update). */
  oldSha256?: string;
}

export function octal(mode: number): string {
  return "0" + (mode & 0o7777).toString(8).padStart(3, "0");
}

export function planAction(desired: Desired, observed: Observed): PlannedAction {
  if (!observed.exists) return { desired, action: "create" };
  const oldMode = observed.mode & 0o7777;
  if (observed.kind !== desired.kind) return { desired, action: "conflict", oldMode };
  if (desired.kind === "dir") {
    if (desired.onlyIfAbsent) return { desired, action: "unchanged", oldMode };
    // Only ever tighten a directory: an operator's stricter mode is respected.
    const extra = oldMode & ~desired.mode;
    return extra === 0
      ? { desired, action: "unchanged", oldMode }
      : { desired, action: "chmod", oldMode };
  }
  if (desired.onlyIfAbsent) return { desired, action: "keep", oldMode };
  if (observed.sha256 !== desired.sha256) {
    const a: PlannedAction = { desired, action: "update", oldMode };
    if (observed.sha256 !== undefined) a.oldSha256 = observed.sha256;
    return a;
  }
  return oldMode === desired.mode
    ? { desired, action: "unchanged", oldMode }
    : { desired, action: "chmod", oldMode };
}

/** Plans every artifact in order (parents must come before children in `desired`). */
export function planInstall(
  desired: readonly Desired[],
  observe: (path: string) => Observed,
): PlannedAction[] {
  return desired.map((d) => planAction(d, observe(d.path)));
}

/** True when applying the plan would change the system. */
export function planChanges(plan: readonly PlannedAction[]): boolean {
  return plan.some((a) => a.action === "create" || a.action === "update" || a.action === "chmod");
}

/** One line per action, e.g. `update     /usr/local/bin/labmand (sha256 1a2b3c4d… → 5e6f7a8b…)`. */
export function formatAction(a: PlannedAction, dryRun = false): string {
  const d = a.desired;
  const verb: Record<ActionKind, string> = dryRun
    ? {
      create: "would create",
      update: "would update",
      chmod: "would chmod",
      unchanged: "unchanged",
      keep: "would keep",
      conflict: "CONFLICT",
    }
    : {
      create: "created",
      update: "updated",
      chmod: "chmod",
      unchanged: "unchanged",
      keep: "kept",
      conflict: "CONFLICT",
    };
  const what = d.kind === "dir" ? `${d.path}/` : d.path;
  let detail = "";
  switch (a.action) {
    case "create":
      detail = ` (${octal(d.mode)})`;
      break;
    case "update":
      if (d.kind === "file") {
        const from = a.oldSha256 ? a.oldSha256.slice(0, 12) : "?";
        detail = ` (sha256 ${from}… → ${d.sha256.slice(0, 12)}…)`;
      }
      break;
    case "chmod":
      detail = ` (${octal(a.oldMode ?? 0)} → ${octal(d.mode)})`;
      break;
    case "keep":
      detail = " (exists; not overwritten)";
      break;
    case "conflict":
      detail = ` (expected a ${d.kind}; found something else — move it away and re-run)`;
      break;
  }
  return `${verb[a.action].padEnd(12)} ${what}${detail}`;
}
