/**
 * The host probes shared by `labman pre` and `labman doctor`: the kernel module, `/dev/net/tun`,
 * the userspace tools and the key directories, turned into {@link Check}s by `preflight.ts`.
 *
 * @module
 */
import { dirname } from "node:path";
import type { LabmanConfig } from "../config/mod.ts";
import { PATHS, rootPath } from "./artifacts.ts";
import { type Check, check } from "./checklist.ts";
import type { Host } from "./host.ts";
import {
  kernelCheck,
  type KernelWireGuard,
  keyDirCheck,
  rosenpassCheck,
  tunCheck,
  wireguardGoCheck,
  wireguardNeeds,
} from "./preflight.ts";

export interface ProbeOptions {
  /** Prefix for fixed system paths (`/dev/net/tun`, `/sys/module/…`); `/` for the real system. */
  root: string;
  host: Host;
}

/** The mode of `path` (lstat), or null when it does not exist. */
export function modeOf(path: string): number | null {
  try {
    return Deno.lstatSync(path).mode ?? 0;
  } catch {
    return null;
  }
}

/** What a path is, following symlinks. */
export type PathKind = "char" | "dir" | "file" | "other" | "missing";

/**
 * What `path` is. Deno refuses every path under `/dev`, `/proc` and `/sys` (even a stat)
 * without `--allow-all`, which labman never has, so there the answer comes from `stat(1)`
 * through the host, the way lib/procfs reads `/proc` through `cat`.
 */
export async function pathKind(path: string, host: Host): Promise<PathKind> {
  try {
    const st = Deno.statSync(path);
    return st.isCharDevice ? "char" : st.isDirectory ? "dir" : st.isFile ? "file" : "other";
  } catch (err) {
    if (!(err instanceof Deno.errors.NotCapable)) return "missing";
  }
  const r = await host.run("stat", ["-L", "-c", "%F", path], { timeoutMs: 5_000 });
  if (r.code !== 0) return "missing";
  return parseStatFileType(r.stdout);
}

/** Maps `stat -c %F` output ("character special file", "directory", …) to a {@link PathKind}. */
export function parseStatFileType(text: string): PathKind {
  const t = text.trim();
  if (t === "character special file") return "char";
  if (t === "directory") return "dir";
  if (t === "regular file" || t === "regular empty file") return "file";
  return "other";
}

export async function probeKernel({ root, host }: ProbeOptions): Promise<KernelWireGuard> {
  const loaded = (await pathKind(rootPath(root, PATHS.wireguardModule), host)) !== "missing";
  if (loaded) return { loaded, loadable: true };
  const r = await host.run("modprobe", ["-n", "wireguard"], { timeoutMs: 10_000 });
  return { loaded, loadable: r.code === 0 };
}

export async function tunState(root: string, host: Host): Promise<"char" | "other" | "missing"> {
  const kind = await pathKind(rootPath(root, PATHS.tun), host);
  return kind === "char" || kind === "missing" ? kind : "other";
}

/**
 * True when this process may start `path`. labman's and labmand's `--allow-run` name
 * `wireguard-go` and `rosenpass` (resolved on PATH when they start), so a binary elsewhere —
 * an absolute path in the config, `~/.cargo/bin` — is found but would be refused.
 */
export function runnable(path: string): boolean {
  try {
    return Deno.permissions.querySync({ name: "run", command: path }).state === "granted";
  } catch {
    return true; // no permissions API: nothing to judge
  }
}

/** Replaces an ok check for a found program with a failure when the flags forbid running it. */
function mustBeRunnable(c: Check, name: string, found: string | null): Check {
  if (c.status !== "ok" || found === null || runnable(found)) return c;
  return check(
    "fail",
    c.label,
    `${found} is not a program labmand may run: its --allow-run names "${name}" as found on PATH`,
    `put it on PATH: ln -s ${found} /usr/local/bin/${name} (and set the config to "${name}")`,
  );
}

/** Directories holding the key files the config names (tunnel modes only). */
export function keyDirs(config: LabmanConfig): { label: string; path: string }[] {
  if (config.wireguard.mode === "off") return [];
  const out = [{
    label: "WireGuard key directory",
    path: dirname(config.wireguard.private_key_path),
  }];
  if (config.rosenpass.enabled) {
    out.push({ label: "Rosenpass key directory", path: dirname(config.rosenpass.secret_key_path) });
  }
  return out.filter((d, i) => out.findIndex((o) => o.path === d.path) === i);
}

export function keyDirChecks(config: LabmanConfig): Check[] {
  return keyDirs(config).map((d) => keyDirCheck(d.label, d.path, modeOf(d.path)));
}

/**
 * Kernel module, wireguard-go, /dev/net/tun and rosenpass, judged for the configured mode.
 * With `onlyNeeded`, checks that the mode makes irrelevant are left out (for `pre`).
 */
export async function toolChecks(
  config: LabmanConfig,
  options: ProbeOptions & { onlyNeeded?: boolean },
): Promise<Check[]> {
  const mode = config.wireguard.mode;
  if (mode === "off" && options.onlyNeeded) return [];
  const kernel = await probeKernel(options);
  const needs = wireguardNeeds(mode, kernel);
  const out: Check[] = [];
  if (!options.onlyNeeded || needs.kernel || mode === "auto") out.push(kernelCheck(mode, kernel));
  if (!options.onlyNeeded || needs.wireguardGo !== "no") {
    const found = options.host.which(config.wireguard.wireguard_go);
    out.push(
      mustBeRunnable(
        wireguardGoCheck(needs, config.wireguard.wireguard_go, found),
        "wireguard-go",
        needs.wireguardGo === "no" ? null : found,
      ),
    );
  }
  if (!options.onlyNeeded || needs.tun) {
    out.push(tunCheck(needs.tun, await tunState(options.root, options.host)));
  }
  const pq = config.rosenpass.enabled && mode !== "off";
  if (!options.onlyNeeded || pq) {
    const found = options.host.whichRosenpass(config.rosenpass.binary);
    out.push(
      mustBeRunnable(
        rosenpassCheck(pq, config.rosenpass.binary, found),
        "rosenpass",
        pq ? found : null,
      ),
    );
  }
  return out;
}
