/**
 * `labman update`: replaces the installed labmand, labman and unit when the new ones differ
 * (by sha256), shows what changed (binary paths and hashes, a unified diff of the unit), and
 * with `--restart` restarts labmand when anything changed.
 *
 * @module
 */
import {
  type CommandDeps,
  formatAction,
  keepPrevious,
  type KeptFile,
  loadSources,
  observePath,
  PATHS,
  planChanges,
  previousDir,
  programArtifacts,
  resolveDeps,
  restorePrevious,
  rootPath,
  unifiedDiff,
} from "../../lib/ops/mod.ts";
import {
  applyPlan,
  dryRunReload,
  planArtifacts,
  programArgs,
  reloadUnitsIfChanged,
  systemctlAllowed,
} from "./install.ts";

const USAGE = `usage: labman update [options]

Updates an installed labmand: compares the sha256 of the installed labmand, labman and
labmand.service with the new ones, replaces what differs (atomically), prints what changed
(a unified diff for the unit), keeps the replaced files in ${PATHS.stateDir}/previous, and runs
"systemctl daemon-reload" when the unit changed. With --restart (when anything changed) it asks
labmand to drain and stop, starts the new one and waits for it to be ready (READY=1); if it is
not ready within --ready-timeout, the previous files are put back and started again, and the
exit status is 1. The config is never touched.

Options:
  --from PATH          new labmand binary (default: next to this labman binary)
  --labman-from PATH   new labman binary (default: next to --from, else this binary)
  --bin-dir DIR        where the binaries are installed (default ${PATHS.binDir})
  --unit-dir DIR       where the unit is installed (default ${PATHS.unitDir})
  --unit-file PATH     new unit template (default: the one shipped with labman)
  --root DIR           prefix every target path with DIR (for tests and images)
  --restart            restart labmand when something changed; roll back if not ready
  --ready-timeout S    seconds to wait for the new labmand to be ready (default 90)
  --no-systemctl       never run systemctl
  --dry-run            show what would change, change nothing
  -h, --help           show this help`;

export async function update(args: string[], deps: CommandDeps = {}): Promise<number> {
  const { host, out, err, execPath } = resolveDeps(deps);
  const opts = programArgs("update", args, USAGE, { out, err });
  if (typeof opts === "number") return opts;
  const installed = rootPath(opts.root, `${opts.binDir}/labmand`);
  if (!(await observePath(installed, false)).exists) {
    err(`labman update: Cannot update: ${installed} is not installed — run "labman install" first`);
    return 1;
  }
  const loaded = await loadSources({ ...opts, ...(execPath ? { execPath } : {}) });
  if (!loaded.ok) {
    err(`labman update: ${loaded.error}`);
    return 1;
  }
  const artifacts = await programArtifacts(loaded.sources, opts);
  const plan = await planArtifacts(artifacts);
  const unitIndex = artifacts.findIndex((a) => a.target.endsWith(`/${PATHS.unitName}`));
  const unitAction = plan[unitIndex];
  // Read the old unit before it is replaced, for the diff.
  let oldUnit = "";
  if (unitAction.action === "update") {
    oldUnit = await Deno.readTextFile(unitAction.desired.path).catch(() => "");
  }

  if (!planChanges(plan)) {
    for (const a of plan) out(`  ${formatAction(a, opts.dryRun)}`);
    out(`labman update: labmand is up to date (everything unchanged)`);
    return 0;
  }
  out(`labman update: from ${loaded.sources.labmand.path}${opts.dryRun ? " (dry run)" : ""}`);
  for (const a of plan) out(`  ${formatAction(a, opts.dryRun)}`);
  if (unitAction.action === "update") {
    const newUnit = new TextDecoder().decode(artifacts[unitIndex].content);
    const target = artifacts[unitIndex].target;
    out(
      unifiedDiff(oldUnit, newUnit, {
        fromName: `${target} (installed)`,
        toName: `${target} (new)`,
      }).trimEnd(),
    );
  }
  const unitChanged = unitAction.action === "create" || unitAction.action === "update";
  const systemctl = systemctlAllowed(opts, host.systemdRunning());
  if (opts.dryRun) {
    if (unitChanged) out(dryRunReload(systemctl));
    if (opts.restart) {
      out(
        systemctl.ok
          ? "  would run: systemctl restart labmand"
          : `  would skip restart (${systemctl.why})`,
      );
    }
    out("dry run: nothing was changed");
    return 0;
  }
  // Keep what is about to be replaced: the way back if the new build does not start.
  let kept: KeptFile[];
  try {
    kept = await keepPrevious(
      opts.root,
      plan.filter((a) => a.action === "update").map((a) => a.desired.path),
    );
  } catch (e) {
    err(`labman update: ${(e as Error).message} — nothing was changed`);
    return 1;
  }
  if (kept.length > 0) {
    out(`  kept the previous ${kept.length} file(s) in ${previousDir(opts.root)}`);
  }
  const errors = await applyPlan(plan, artifacts);
  for (const e of errors) err(`labman update: ${e}`);
  if (errors.length > 0) return 1;

  if (!await reloadUnitsIfChanged("labman update", unitChanged, systemctl, { host, out, err })) {
    return 1;
  }
  if (opts.restart && !systemctl.ok) {
    out(`  skipped restart (${systemctl.why}); restart labmand yourself`);
  } else if (opts.restart) {
    const io = { host, out, err };
    const started = await restartAndWait(io, opts.readyTimeoutMs, "new");
    if (!started.ok) {
      err(`labman update: the new labmand did not become ready: ${started.why}`);
      return await rollBack(io, kept, unitChanged, opts.readyTimeoutMs);
    }
  }
  if (!opts.restart) {
    out("labman update: done; restart labmand to run the new binary (or pass --restart)");
  } else out("labman update: done");
  return 0;
}

type Io = Pick<ReturnType<typeof resolveDeps>, "host" | "out" | "err">;

/**
 * Asks labmand to drain and stop (`systemctl stop`: SIGTERM, bounded by the unit's
 * TimeoutStopSec), then starts it and waits for READY=1: `systemctl start` of a Type=notify unit
 * returns only once the service is ready, or fails when it exits first.
 */
async function restartAndWait(
  io: Io,
  readyTimeoutMs: number,
  which: "new" | "previous",
): Promise<{ ok: true } | { ok: false; why: string }> {
  const stop = await io.host.run("systemctl", ["stop", "labmand"], { timeoutMs: 180_000 });
  if (stop.code !== 0) {
    io.err(`  systemctl stop labmand exited ${stop.code}: ${stop.stderr.trim()}`);
  } else io.out("  labmand drained and stopped (systemctl stop labmand)");
  io.out(`  starting the ${which} labmand; waiting up to ${readyTimeoutMs / 1000} s for READY=1`);
  const start = await io.host.run("systemctl", ["start", "labmand"], { timeoutMs: readyTimeoutMs });
  if (start.code === 124) return { ok: false, why: `not ready within ${readyTimeoutMs / 1000} s` };
  if (start.code !== 0) {
    return {
      ok: false,
      why: `systemctl start exited ${start.code}: ${start.stderr.trim().split("\n")[0]}`,
    };
  }
  const active = await io.host.run("systemctl", ["is-active", "labmand"], { timeoutMs: 10_000 });
  if (active.stdout.trim() !== "active") {
    return { ok: false, why: `it is "${active.stdout.trim()}" right after starting` };
  }
  io.out(`  labmand is ready (${which} build)`);
  return { ok: true };
}

/** Puts the kept files back and starts them; always returns exit status 1 (the update failed). */
async function rollBack(
  io: Io,
  kept: KeptFile[],
  unitChanged: boolean,
  readyTimeoutMs: number,
): Promise<number> {
  const see = "see: journalctl -u labmand -n 50";
  if (kept.length === 0) {
    io.err(`labman update: nothing to roll back to (no file was replaced) — ${see}`);
    return 1;
  }
  // Ends a Restart=on-failure loop of the broken build before its files are replaced.
  await io.host.run("systemctl", ["stop", "labmand"], { timeoutMs: 180_000 });
  const errors = await restorePrevious(kept);
  for (const e of errors) io.err(`labman update: ${e}`);
  io.out(
    `  rolled back ${kept.length - errors.length} file(s): ${kept.map((k) => k.path).join(", ")}`,
  );
  if (unitChanged) {
    const r = await io.host.run("systemctl", ["daemon-reload"]);
    if (r.code !== 0) io.err(`  systemctl daemon-reload exited ${r.code}: ${r.stderr.trim()}`);
  }
  // The previous build is known to start; give it at least the default bound.
  const again = await restartAndWait(io, Math.max(readyTimeoutMs, 90_000), "previous");
  if (!again.ok) {
    io.err(
      `labman update: the previous labmand did not become ready either: ${again.why} — ${see}`,
    );
    return 1;
  }
  io.err(
    "labman update: rolled back; the previous labmand is running again and the new build is " +
      `not installed — ${see}`,
  );
  return 1;
}
