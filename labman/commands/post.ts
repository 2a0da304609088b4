/**
 * `labman post`, run as the unit's `ExecStopPost`: removes what a crashed labmand leaves behind
 * and nothing else — the files in the Rosenpass runtime directory (key_out PSKs), the
 * configured WireGuard link, and that link's UAPI socket when no wireguard-go serves it.
 * The exit status says whether cleanup completed.
 *
 * @module
 */
import { join } from "node:path";
import { formatIssue, loadConfig } from "../../lib/config/mod.ts";
import {
  type Check,
  check,
  checklistExitCode,
  type CommandDeps,
  formatCheck,
  type Host,
  PATHS,
  resolveDeps,
  rootPath,
} from "../../lib/ops/mod.ts";
import { HOOK_FLAGS, hookOptions, isWithin } from "./pre.ts";
import { commandArgs } from "./_args.ts";
import { pathExists } from "../../lib/files/mod.ts";

const USAGE = `usage: labman post [--config PATH] [--root DIR]

Post-stop cleanup for labmand (systemd ExecStopPost). Removes, only if present:
  - files in rosenpass.state_dir (when it is inside ${PATHS.runtimeDir}): stale key_out PSKs;
    elsewhere only the files labmand generates there (peer.osk, rosenpass.toml, peer.pqpk)
  - the WireGuard link wireguard.interface_name (labmand removes it itself on a clean stop)
  - ${PATHS.uapiDir}/<interface>.sock when no wireguard-go answers on it
Refuses to do anything while a labmand process is running. Exits 1 if a step failed.

Options:
  --config PATH   config file (default ${PATHS.config})
  --root DIR      prefix for fixed system paths; for tests (links are then left alone)
  -h, --help      show this help`;

/** Removes regular files and symlinks directly inside `dir`; never recurses. */
export async function removeRuntimeFiles(dir: string): Promise<Check> {
  const label = "Rosenpass runtime files";
  const removed: string[] = [];
  try {
    let seen = 0;
    for await (const entry of Deno.readDir(dir)) {
      if (++seen > 10_000) break;
      if (!entry.isFile && !entry.isSymlink) continue;
      await Deno.remove(join(dir, entry.name));
      removed.push(entry.name);
    }
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return check("ok", label, `${dir} does not exist`);
    return check(
      "fail",
      label,
      `Cannot clean ${dir}: ${(err as Error).message}`,
      `remove the files in ${dir} by hand`,
    );
  }
  return check(
    "ok",
    label,
    removed.length === 0 ? `${dir} is clean` : `removed ${removed.sort().join(", ")} from ${dir}`,
  );
}

/**
 * The files labmand generates in `rosenpass.state_dir` for one run: the current PSK
 * (`key_out`), the rosenpass config and the control plane's public key from registration.
 * Named one by one, so a state directory that also holds the node's own keys is safe to clean.
 */
export const GENERATED_ROSENPASS_FILES = ["peer.osk", "rosenpass.toml", "peer.pqpk"] as const;

/** Removes {@linkcode GENERATED_ROSENPASS_FILES} from `dir`, wherever it is. */
export async function removeGeneratedFiles(dir: string): Promise<Check> {
  const label = "Rosenpass key material";
  const removed: string[] = [];
  for (const name of GENERATED_ROSENPASS_FILES) {
    try {
      await Deno.remove(join(dir, name));
      removed.push(name);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) continue;
      return check(
        "fail",
        label,
        `Cannot remove ${join(dir, name)}: ${(err as Error).message}`,
        `run: rm -f ${join(dir, name)}`,
      );
    }
  }
  return check(
    "ok",
    label,
    removed.length === 0 ? `none left in ${dir}` : `removed ${removed.join(", ")} from ${dir}`,
  );
}

/** Deletes the link `iface` if it exists (`ip link show` / `ip link del`). */
export async function removeLeftoverLink(host: Host, iface: string): Promise<Check> {
  const label = `interface ${iface}`;
  const show = await host.run("ip", ["link", "show", "dev", iface], { timeoutMs: 10_000 });
  if (show.code === 127) {
    return check(
      "warn",
      label,
      "cannot check: the ip command is missing",
      "apt-get install iproute2",
    );
  }
  if (show.code !== 0) return check("ok", label, "not present");
  const del = await host.run("ip", ["link", "del", "dev", iface], { timeoutMs: 10_000 });
  if (del.code !== 0) {
    return check(
      "fail",
      label,
      `leftover link could not be removed: ${del.stderr.trim() || `ip exited ${del.code}`}`,
      `run: ip link del dev ${iface}`,
    );
  }
  return check("ok", label, "removed leftover link");
}

/** True when something accepts connections on the unix socket at `path`. */
async function socketAlive(path: string): Promise<boolean> {
  try {
    const conn = await Deno.connect({ transport: "unix", path });
    conn.close();
    return true;
  } catch {
    return false;
  }
}

/**
 * Removes a UAPI socket nobody listens on. A live one is waited for briefly: deleting the link
 * makes wireguard-go exit and remove its own socket.
 */
export async function removeStaleSocket(path: string, waitMs = 2_000): Promise<Check> {
  const label = "wireguard-go UAPI socket";
  const deadline = Date.now() + waitMs;
  for (let i = 0; i < 100; i++) {
    if (!(await pathExistsOrFalse(path))) return check("ok", label, `${path} not present`);
    if (!(await socketAlive(path))) {
      try {
        await Deno.remove(path);
        return check("ok", label, `removed stale ${path}`);
      } catch (err) {
        return check(
          "fail",
          label,
          `Cannot remove ${path}: ${(err as Error).message}`,
          `run: rm ${path}`,
        );
      }
    }
    if (Date.now() >= deadline) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return check(
    "warn",
    label,
    `${path} is still served by a running wireguard-go; left alone`,
    "if labmand is stopped, stop that wireguard-go process (it removes its socket on exit)",
  );
}

export async function post(args: string[], deps: CommandDeps = {}): Promise<number> {
  const { host, out, err } = resolveDeps(deps);
  const parsed = commandArgs("post", args, { options: HOOK_FLAGS, usage: USAGE }, { out, err });
  if (typeof parsed === "number") return parsed;
  const opts = hookOptions(parsed.values);
  const running = await host.findProcesses("labmand");
  if (running.length > 0) {
    err(
      `labman post: Cannot clean up: labmand is still running (pid ${running.join(", ")}) — ` +
        "stop it first: systemctl stop labmand",
    );
    return 1;
  }
  const runtime = rootPath(opts.root, PATHS.runtimeDir);
  const loaded = await loadConfig({ path: opts.config, checkKeyFiles: false });
  const checks: Check[] = [];
  if (!loaded.ok) {
    for (const e of loaded.errors) err(`! ${formatIssue(e)}`);
    // Without a config the interface name is unknown: touch only labman's own runtime dir.
    checks.push(await removeRuntimeFiles(join(runtime, "rosenpass")));
    checks.push(
      check(
        "fail",
        "config",
        `cannot read ${loaded.file ?? opts.config}; the WireGuard link and socket were not checked`,
        "fix the config (labman config check), then run: labman post",
      ),
    );
  } else {
    const config = loaded.config;
    const stateDir = config.rosenpass.state_dir;
    if (isWithin(stateDir, runtime)) checks.push(await removeRuntimeFiles(stateDir));
    // Outside labman's runtime dir only the files labmand itself generates are removed.
    else checks.push(await removeGeneratedFiles(stateDir));
    if (config.wireguard.mode !== "off") {
      const iface = config.wireguard.interface_name;
      // Under --root only an injected (fake) host may touch links: never the real system's.
      if (opts.root === "/" || deps.host !== undefined) {
        checks.push(await removeLeftoverLink(host, iface));
      }
      checks.push(await removeStaleSocket(rootPath(opts.root, `${PATHS.uapiDir}/${iface}.sock`)));
    }
  }
  for (const c of checks) (c.status === "fail" ? err : out)(formatCheck(c));
  const code = checklistExitCode(checks);
  (code === 0 ? out : err)(
    `labman post: ${code === 0 ? "cleanup complete" : "cleanup incomplete"}`,
  );
  return code;
}

/** Cleanup after a crash is best effort: a path it cannot inspect is one it leaves alone. */
function pathExistsOrFalse(path: string): Promise<boolean> {
  return pathExists(path).catch(() => false);
}
