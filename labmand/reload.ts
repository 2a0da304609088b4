/**
 * SIGHUP: what a new config may change in a running daemon, and how it reaches the data plane.
 * Listener port, tunnel mode and the control plane are fixed for the process's life (they need
 * a restart); everything else applies in place, or by a hand-over to a Worker with wider
 * permissions when the endpoints name new hosts. Tested with fakes (tests/labmand_reload_test.ts).
 *
 * @module
 */
import type { LabmanConfig } from "../lib/config/mod.ts";
import { dataPlanePermissions, type DataPlaneSettings } from "../lib/dataplane/mod.ts";

/** Settings a reload cannot change, as config paths (named in the warning). */
export const RESTART_ONLY = ["proxy.listen_port", "wireguard.mode", "control_plane"] as const;

/**
 * Pure: `next` with the restart-only settings of `current` kept, and which of them the new file
 * tried to change.
 */
export function planReload(
  current: LabmanConfig,
  next: LabmanConfig,
): { config: LabmanConfig; kept: string[] } {
  const kept: string[] = [];
  if (next.proxy.listen_port !== current.proxy.listen_port) kept.push("proxy.listen_port");
  if (next.wireguard.mode !== current.wireguard.mode) kept.push("wireguard.mode");
  if (JSON.stringify(next.control_plane) !== JSON.stringify(current.control_plane)) {
    kept.push("control_plane");
  }
  const config: LabmanConfig = {
    ...next,
    proxy: { ...next.proxy, listen_port: current.proxy.listen_port },
    wireguard: { ...next.wireguard, mode: current.wireguard.mode },
  };
  if (current.control_plane) config.control_plane = current.control_plane;
  else delete config.control_plane;
  return { config, kept };
}

/** True when `next` needs network access the running Worker was not granted. */
export function needsWiderPermissions(
  current: DataPlaneSettings,
  next: DataPlaneSettings,
): boolean {
  const net = (s: DataPlaneSettings) =>
    dataPlanePermissions(s.bind, s.endpoints.map((e) => e.base_url)).net as string[];
  const have = new Set(net(current));
  return net(next).some((entry) => !have.has(entry));
}

/** The data plane as a reload needs it. */
export interface ReloadTarget {
  reconfigure(settings: DataPlaneSettings): Promise<void>;
  handover(settings: DataPlaneSettings, graceMs: number): Promise<void>;
}

export interface ApplyHooks {
  /** A hand-over is about to start (the log says so). */
  beforeHandover(): void;
  /** The successor serves: replay what it must know (slug table, accepting flag). */
  afterHandover(): Promise<void>;
}

/** Applies new settings: in place, or (new endpoint hosts) by a hand-over within `graceMs`. */
export async function applySettings(
  dp: ReloadTarget,
  current: DataPlaneSettings,
  next: DataPlaneSettings,
  graceMs: number,
  hooks: ApplyHooks,
): Promise<"reconfigured" | "handed_over"> {
  if (!needsWiderPermissions(current, next)) {
    await dp.reconfigure(next);
    return "reconfigured";
  }
  // A Worker's permissions are fixed at birth. The successor binds the same address
  // (SO_REUSEPORT) before the old one stops accepting, and the old one lets its in-flight
  // requests finish; the same DataPlane keeps counters monotonic and max_concurrent held.
  hooks.beforeHandover();
  await dp.handover(next, graceMs);
  await hooks.afterHandover();
  return "handed_over";
}
