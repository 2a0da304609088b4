/**
 * `labman install`: puts labmand, labman and the systemd unit on the node, creates the config
 * and state directories, and copies the example config if there is none. Idempotent: a second
 * run reports every item "unchanged".
 *
 * @module
 */
import {
  applyAction,
  type Artifact,
  type CommandDeps,
  formatAction,
  installArtifacts,
  loadSources,
  mayAccess,
  observePath,
  outsideReason,
  PATHS,
  planAction,
  planChanges,
  type PlannedAction,
  resolveDeps,
  rootPath,
} from "../../lib/ops/mod.ts";
import { commandArgs, type CommandIo, usageError } from "./_args.ts";

const USAGE = `usage: labman install [options]

Installs labmand and labman into --bin-dir, labmand.service into --unit-dir (its Exec paths
pointing at --bin-dir), creates ${PATHS.etcDir} (0755) and ${PATHS.stateDir}/{wireguard,rosenpass}
(0700), copies labman.example.toml to ${PATHS.config} only if that file is absent (owned by the
service user), creates the system user "labman" that labmand runs as, and runs
"systemctl daemon-reload" when the unit changed. Re-running changes nothing.

Options:
  --from PATH            labmand binary to install (default: next to this labman binary)
  --labman-from PATH     labman binary to install (default: next to --from, else this binary)
  --bin-dir DIR          where the binaries go (default ${PATHS.binDir})
  --unit-dir DIR         where the unit goes (default ${PATHS.unitDir})
  --unit-file PATH       unit template (default: the one shipped with labman)
  --example-config PATH  config template (default: the shipped labman.example.toml)
  --root DIR             prefix every target path with DIR (for tests and images)
  --no-systemctl         never run systemctl
  --dry-run              print the planned actions, change nothing
  -h, --help             show this help`;

export interface ProgramOptions {
  from?: string;
  labmanFrom?: string;
  binDir: string;
  unitDir: string;
  unitFile?: string;
  exampleConfig?: string;
  root: string;
  noSystemctl: boolean;
  dryRun: boolean;
  restart: boolean;
  /** How long `update --restart` waits for READY=1 before rolling back. */
  readyTimeoutMs: number;
}

/** The flags `install` and `update` share. */
const PROGRAM_FLAGS = {
  from: { type: "string" },
  "labman-from": { type: "string" },
  "bin-dir": { type: "string" },
  "unit-dir": { type: "string" },
  "unit-file": { type: "string" },
  "example-config": { type: "string" },
  root: { type: "string" },
  "no-systemctl": { type: "boolean" },
  "dry-run": { type: "boolean" },
} as const;

/** `update`'s flags: `install`'s and the restart controls. */
const UPDATE_FLAGS = {
  ...PROGRAM_FLAGS,
  restart: { type: "boolean" },
  "ready-timeout": { type: "string" },
} as const;

/**
 * Parses `install`'s or `update`'s flags through `commandArgs`: the options,
 * or the exit code to return at once (0 after `--help`, 2 after a bad flag or value).
 */
export function programArgs(
  command: "install" | "update",
  args: string[],
  usage: string,
  io: CommandIo,
): ProgramOptions | number {
  const options = command === "update" ? UPDATE_FLAGS : PROGRAM_FLAGS;
  const parsed = commandArgs(command, args, { options, usage }, io);
  if (typeof parsed === "number") return parsed;
  const opts = programOptions(parsed.values);
  return typeof opts === "string" ? usageError(command, opts, usage, io) : opts;
}

/** `install`/`update` options from their parsed flags, or why a value cannot be used. */
function programOptions(
  v: { [flag: string]: string | boolean | (string | boolean)[] | undefined },
): ProgramOptions | string {
  const str = (k: string) => typeof v[k] === "string" ? v[k] as string : undefined;
  const opts: ProgramOptions = {
    binDir: str("bin-dir") ?? PATHS.binDir,
    unitDir: str("unit-dir") ?? PATHS.unitDir,
    root: str("root") ?? "/",
    noSystemctl: v["no-systemctl"] === true,
    dryRun: v["dry-run"] === true,
    restart: v.restart === true,
    readyTimeoutMs: 90_000,
  };
  const readyTimeout = str("ready-timeout");
  if (readyTimeout !== undefined) {
    const seconds = Number(readyTimeout);
    if (!Number.isInteger(seconds) || seconds < 1 || seconds > 3600) {
      return `--ready-timeout must be a whole number of seconds from 1 to 3600, got "${readyTimeout}"`;
    }
    opts.readyTimeoutMs = seconds * 1000;
  }
  for (const [key, flag] of [["binDir", "--bin-dir"], ["unitDir", "--unit-dir"]] as const) {
    if (!opts[key].startsWith("/")) return `${flag} must be an absolute path, got "${opts[key]}"`;
  }
  if (opts.root !== "/" && !mayAccess(opts.root, "write")) {
    return `Cannot install under --root ${opts.root}: ${outsideReason(opts.root, "write")} — ` +
      "run labman inside the image instead (chroot, systemd-nspawn)";
  }
  for (const [key, flag] of [["binDir", "--bin-dir"], ["unitDir", "--unit-dir"]] as const) {
    const dir = rootPath(opts.root, opts[key]);
    if (opts.root === "/" && !mayAccess(dir, "write")) {
      return `Cannot install into ${flag} ${dir}: ${outsideReason(dir, "write")} — ` +
        `leave ${flag} at its default`;
    }
  }
  const from = str("from");
  if (from !== undefined) opts.from = from;
  const labmanFrom = str("labman-from");
  if (labmanFrom !== undefined) opts.labmanFrom = labmanFrom;
  const unitFile = str("unit-file");
  if (unitFile !== undefined) opts.unitFile = unitFile;
  const exampleConfig = str("example-config");
  if (exampleConfig !== undefined) opts.exampleConfig = exampleConfig;
  return opts;
}

/** What a dry run says about `systemctl daemon-reload` for a changed unit. */
export function dryRunReload(systemctl: { ok: boolean; why?: string }): string {
  return systemctl.ok
    ? "  would run: systemctl daemon-reload"
    : `  would skip systemctl (${systemctl.why})`;
}

/** Observes and plans each artifact in order. */
export async function planArtifacts(artifacts: Artifact[]): Promise<PlannedAction[]> {
  const plan: PlannedAction[] = [];
  for (const a of artifacts) plan.push(planAction(a.desired, await observePath(a.desired.path)));
  return plan;
}

/** Applies a plan; returns the error messages (empty when everything worked). */
export async function applyPlan(plan: PlannedAction[], artifacts: Artifact[]): Promise<string[]> {
  const errors: string[] = [];
  for (const [i, a] of plan.entries()) {
    const problem = await applyAction(a, artifacts[i].content);
    if (problem) errors.push(problem);
  }
  return errors;
}

/** systemctl is run only on the real root, with systemd running, and without --no-systemctl. */
export function systemctlAllowed(
  opts: Pick<ProgramOptions, "noSystemctl" | "root">,
  systemdRunning: boolean,
): { ok: boolean; why?: string } {
  if (opts.noSystemctl) return { ok: false, why: "--no-systemctl" };
  if (opts.root !== "/") return { ok: false, why: `--root ${opts.root}` };
  if (!systemdRunning) return { ok: false, why: "systemd is not running" };
  return { ok: true };
}

/**
 * Runs `systemctl daemon-reload` after the unit changed, or says why it was skipped. Returns false
 * (after printing the error) when systemctl failed. Shared by `install` and `update`.
 */
export async function reloadUnitsIfChanged(
  command: string,
  unitChanged: boolean,
  systemctl: { ok: boolean; why?: string },
  io: Pick<ReturnType<typeof resolveDeps>, "host" | "out" | "err">,
): Promise<boolean> {
  if (!unitChanged) return true;
  if (!systemctl.ok) {
    io.out(`  skipped systemctl daemon-reload (${systemctl.why})`);
    return true;
  }
  const r = await io.host.run("systemctl", ["daemon-reload"]);
  if (r.code !== 0) {
    io.err(
      `${command}: Cannot reload systemd: systemctl daemon-reload exited ${r.code}: ${r.stderr.trim()}`,
    );
    return false;
  }
  io.out("  ran systemctl daemon-reload");
  return true;
}

/** The system user labmand runs as (`User=` in labmand.service). */
export const SERVICE_USER = "labman";

/** uid and gid of `name` from a passwd file's text, or null. */
export function passwdIds(passwd: string, name: string): { uid: number; gid: number } | null {
  for (const line of passwd.split("\n")) {
    const f = line.split(":");
    if (f[0] === name && f.length >= 4) return { uid: Number(f[2]), gid: Number(f[3]) };
  }
  return null;
}

/**
 * Creates the service user on the real root (a system user with its own group, no login, home
 * /var/lib/labman) unless it exists. Under --root nothing is created: that is an image's job.
 */
async function ensureServiceUser(
  root: string,
  host: ReturnType<typeof resolveDeps>["host"],
  io: { out: (l: string) => void; err: (l: string) => void },
): Promise<{ ok: boolean; ids?: { uid: number; gid: number } }> {
  if (root !== "/") {
    io.out(`  skipped creating system user ${SERVICE_USER} (--root ${root})`);
    return { ok: true };
  }
  const read = () => Deno.readTextFile("/etc/passwd").then((t) => passwdIds(t, SERVICE_USER));
  let ids = await read().catch(() => null);
  if (ids) return { ok: true, ids };
  const r = await host.run("useradd", [
    "--system",
    "--user-group",
    "--home-dir",
    PATHS.stateDir,
    "--no-create-home",
    "--shell",
    "/usr/sbin/nologin",
    SERVICE_USER,
  ]);
  ids = await read().catch(() => null);
  if (r.code !== 0 || !ids) {
    io.err(
      `labman install: Cannot create system user ${SERVICE_USER}: useradd exited ${r.code}: ` +
        `${r.stderr.trim()} — create it yourself: useradd --system --user-group ${SERVICE_USER}`,
    );
    return { ok: false };
  }
  io.out(`  created system user ${SERVICE_USER} (uid ${ids.uid})`);
  return { ok: true, ids };
}

export async function install(args: string[], deps: CommandDeps = {}): Promise<number> {
  const { host, out, err, execPath } = resolveDeps(deps);
  const opts = programArgs("install", args, USAGE, { out, err });
  if (typeof opts === "number") return opts;
  const loaded = await loadSources({ ...opts, ...(execPath ? { execPath } : {}) });
  if (!loaded.ok) {
    err(`labman install: ${loaded.error}`);
    return 1;
  }
  const { sources } = loaded;
  const artifacts = await installArtifacts(sources, opts);
  const plan = await planArtifacts(artifacts);
  out(
    `labman install: labmand from ${sources.labmand.path}${
      opts.root !== "/" ? ` into root ${opts.root}` : ""
    }`,
  );
  for (const a of plan) out(`  ${formatAction(a, opts.dryRun)}`);
  if (!sources.example) {
    out(`  ! no labman.example.toml found; write ${rootPath(opts.root, PATHS.config)} yourself`);
  }
  const unitIndex = artifacts.findIndex((a) => a.target.endsWith(`/${PATHS.unitName}`));
  const unitChanged = ["create", "update"].includes(plan[unitIndex].action);
  const systemctl = systemctlAllowed(opts, host.systemdRunning());
  if (opts.dryRun) {
    if (unitChanged) out(dryRunReload(systemctl));
    out(planChanges(plan) ? "dry run: nothing was changed" : "dry run: everything is unchanged");
    return plan.some((a) => a.action === "conflict") ? 1 : 0;
  }
  const errors = await applyPlan(plan, artifacts);
  for (const e of errors) err(`labman install: ${e}`);
  if (errors.length > 0) return 1;

  const user = await ensureServiceUser(opts.root, host, { out, err });
  if (!user.ok) return 1;
  if (user.ids) {
    // The config install just created holds the node token (maybe inline) and is 0600: labmand
    // reads it as the service user.
    const cfg = plan.find((a) =>
      a.desired.path === rootPath(opts.root, PATHS.config) && a.action === "create"
    );
    if (cfg) {
      try {
        await Deno.chown(cfg.desired.path, user.ids.uid, user.ids.gid);
        out(`  chown ${SERVICE_USER}:${SERVICE_USER} ${cfg.desired.path}`);
      } catch (e) {
        err(`labman install: Cannot chown ${cfg.desired.path}: ${(e as Error).message}`);
        return 1;
      }
    }
  }
  if (!await reloadUnitsIfChanged("labman install", unitChanged, systemctl, { host, out, err })) {
    return 1;
  }
  const changed = plan.filter((a) => a.action !== "unchanged" && a.action !== "keep").length;
  if (changed === 0) {
    out("labman install: everything is unchanged");
  } else {
    out(`labman install: ${changed} change(s) applied`);
    const configCreated = plan.some((a) =>
      a.desired.path === rootPath(opts.root, PATHS.config) && a.action === "create"
    );
    out(
      [
        "next steps:",
        ...(configCreated ? [`  edit ${PATHS.config} (control_plane, endpoints)`] : []),
        "  labman keygen             # creates the WireGuard key pair",
        "  labman doctor             # checks the node",
        "  systemctl enable --now labmand",
      ].join("\n"),
    );
  }
  return 0;
}
