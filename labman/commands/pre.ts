/**
 * `labman pre`, run as the unit's `ExecStartPre`: refuses to let labmand start (non-zero exit)
 * unless the config is valid, the key files and directories are private, the runtime
 * directories exist, and the tools the WireGuard mode needs are installed. Every problem is
 * printed with the fix.
 *
 * @module
 */
import { isAbsolute, relative } from "node:path";
import { formatIssue, type LabmanConfig, loadConfig } from "../../lib/config/mod.ts";
import {
  type Check,
  check,
  checklistExitCode,
  cliPathAccess,
  type CommandDeps,
  formatCheck,
  keyDirChecks,
  makeDir,
  modeOf,
  octal,
  PATHS,
  resolveDeps,
  rootPath,
  toolChecks,
} from "../../lib/ops/mod.ts";
import { commandArgs } from "./_args.ts";

const USAGE = `usage: labman pre [--config PATH] [--root DIR]

Pre-start checks for labmand (systemd ExecStartPre). Validates the config (including key file
modes), creates ${PATHS.runtimeDir} (0700), refuses key directories other users can read, and
checks that wireguard-go, /dev/net/tun and rosenpass are there when the config needs them.
Exits 1 with a fix for each problem, so systemd does not start labmand.

Options:
  --config PATH   config file (default ${PATHS.config})
  --root DIR      prefix for fixed system paths (${PATHS.runtimeDir}, /dev/net/tun, …); for tests
  -h, --help      show this help`;

export interface HookOptions {
  config: string;
  root: string;
}

/** The flags `pre` and `post` share, for `commandArgs`. */
export const HOOK_FLAGS = {
  config: { type: "string", short: "c" },
  root: { type: "string" },
} as const;

/** `pre`/`post` options from their parsed flags: `--config` defaults inside `--root`. */
export function hookOptions(values: { config?: string; root?: string }): HookOptions {
  const root = values.root ?? "/";
  return { config: values.config ?? rootPath(root, PATHS.config), root };
}

/** True when `path` is `dir` or inside it. */
export function isWithin(path: string, dir: string): boolean {
  const rel = relative(dir, path);
  return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel));
}

/** Creates `path` with `mode` or tightens it; labman owns these runtime directories. */
export async function ensurePrivateDir(label: string, path: string, mode = 0o700): Promise<Check> {
  const before = modeOf(path);
  try {
    if (before === null) {
      await makeDir(path, mode);
      return check("ok", label, `${path} created (${octal(mode)})`);
    }
    if (!Deno.statSync(path).isDirectory) {
      return check(
        "fail",
        label,
        `${path} is not a directory`,
        `move it away: mv ${path} ${path}.old`,
      );
    }
    if ((before & 0o777 & ~mode) !== 0) {
      await Deno.chmod(path, mode);
      return check("ok", label, `${path} tightened ${octal(before)} → ${octal(mode)}`);
    }
    return check("ok", label, `${path} (${octal(before)})`);
  } catch (err) {
    return check(
      "fail",
      label,
      `Cannot prepare ${path}: ${(err as Error).message}`,
      "run labman pre as root",
    );
  }
}

async function directoryChecks(config: LabmanConfig, root: string): Promise<Check[]> {
  const runtime = rootPath(root, PATHS.runtimeDir);
  const out = [await ensurePrivateDir("runtime directory", runtime)];
  const state = config.rosenpass.state_dir;
  if (config.rosenpass.enabled && config.wireguard.mode !== "off") {
    // Only a state dir inside labman's own runtime dir is created; elsewhere it must exist.
    if (isWithin(state, runtime)) {
      out.push(await ensurePrivateDir("Rosenpass state directory", state));
    } else if (modeOf(state) === null) {
      out.push(
        check(
          "fail",
          "Rosenpass state directory",
          `${state} does not exist`,
          `run: mkdir -m 700 -p ${state}`,
        ),
      );
    }
  }
  const stateDir = rootPath(root, PATHS.stateDir);
  if (modeOf(stateDir) === null) out.push(await ensurePrivateDir("state directory", stateDir));
  out.push(...keyDirChecks(config));
  return out;
}

export async function pre(args: string[], deps: CommandDeps = {}): Promise<number> {
  const { host, out, err } = resolveDeps(deps);
  const parsed = commandArgs("pre", args, { options: HOOK_FLAGS, usage: USAGE }, { out, err });
  if (typeof parsed === "number") return parsed;
  const opts = hookOptions(parsed.values);
  const loaded = await loadConfig({
    path: opts.config,
    checkKeyFiles: true,
    pathAccess: cliPathAccess(),
  });
  for (const w of loaded.warnings) out(`! ${formatIssue(w)}`);
  if (!loaded.ok) {
    for (const e of loaded.errors) err(`✗ ${formatIssue(e)}`);
    // The runtime dir is still prepared: it costs nothing and `post` expects it.
    await ensurePrivateDir("runtime directory", rootPath(opts.root, PATHS.runtimeDir));
    err(
      `labman pre: ${loaded.errors.length} config error(s) in ${loaded.file ?? opts.config}; ` +
        `labmand not started — fix them, then check with: labman config check --config ${
          loaded.file ?? opts.config
        }`,
    );
    return 1;
  }
  const config = loaded.config;
  const checks = [
    ...await directoryChecks(config, opts.root),
    ...await toolChecks(config, { root: opts.root, host, onlyNeeded: true }),
  ];
  for (const c of checks) (c.status === "fail" ? err : out)(formatCheck(c));
  const failed = checks.filter((c) => c.status === "fail").length;
  if (checklistExitCode(checks) !== 0) {
    err(`labman pre: ${failed} problem(s); labmand not started`);
    return 1;
  }
  out(`labman pre: ok (config ${loaded.file}, wireguard mode ${config.wireguard.mode})`);
  return 0;
}
