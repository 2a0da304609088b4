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
  loadSources,
  observePath,
  PATHS,
  planChanges,
  programArtifacts,
  resolveDeps,
  rootPath,
  unifiedDiff,
} from "../../lib/ops/mod.ts";
import {
  applyPlan,
  parseProgramArgs,
  planArtifacts,
  reloadUnitsIfChanged,
  systemctlAllowed,
} from "./install.ts";

const USAGE = `usage: labman update [options]

Updates an installed labmand: compares the sha256 of the installed labmand, labman and
labmand.service with the new ones, replaces what differs (atomically), prints what changed
(a unified diff for the unit), runs "systemctl daemon-reload" when the unit changed and, with
--restart, "systemctl restart labmand" when anything changed. The config is never touched.

Options:
  --from PATH          new labmand binary (default: next to this labman binary)
  --labman-from PATH   new labman binary (default: next to --from, else this binary)
  --bin-dir DIR        where the binaries are installed (default ${PATHS.binDir})
  --unit-dir DIR       where the unit is installed (default ${PATHS.unitDir})
  --unit-file PATH     new unit template (default: the one shipped with labman)
  --root DIR           prefix every target path with DIR (for tests and images)
  --restart            restart labmand when something changed
  --no-systemctl       never run systemctl
  --dry-run            show what would change, change nothing
  -h, --help           show this help`;

export async function update(args: string[], deps: CommandDeps = {}): Promise<number> {
  const { host, out, err, execPath } = resolveDeps(deps);
  const opts = parseProgramArgs(args, { restart: true });
  if (typeof opts === "string") {
    err(`labman update: ${opts}\n${USAGE}`);
    return 2;
  }
  if (opts.help) {
    out(USAGE);
    return 0;
  }
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
    if (unitChanged) {
      out(
        systemctl.ok
          ? "  would run: systemctl daemon-reload"
          : `  would skip systemctl (${systemctl.why})`,
      );
    }
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
  const errors = await applyPlan(plan, artifacts);
  for (const e of errors) err(`labman update: ${e}`);
  if (errors.length > 0) return 1;

  if (!await reloadUnitsIfChanged("labman update", unitChanged, systemctl, { host, out, err })) {
    return 1;
  }
  if (opts.restart && !systemctl.ok) {
    out(`  skipped restart (${systemctl.why}); restart labmand yourself`);
  } else if (opts.restart) {
    const r = await host.run("systemctl", ["restart", "labmand"], { timeoutMs: 120_000 });
    if (r.code !== 0) {
      err(
        `labman update: Cannot restart labmand: systemctl restart exited ${r.code}: ${r.stderr.trim()}` +
          ` — see: journalctl -u labmand -n 50`,
      );
      return 1;
    }
    out("  ran systemctl restart labmand");
  }
  if (!opts.restart) {
    out("labman update: done; restart labmand to run the new binary (or pass --restart)");
  } else out("labman update: done");
  return 0;
}
