/**
 * Pure: the `/readyz` answer (and so `labman status`) from the lifecycle and live snapshots.
 * Readiness itself is the lifecycle's verdict; the checks only say what each part looks like.
 *
 * @module
 */
import type { DataPlaneStatus } from "../lib/dataplane/mod.ts";
import { type LifecycleState, readiness } from "../lib/lifecycle/mod.ts";

export interface ReadinessInputs {
  state: LifecycleState;
  /** A fresh data-plane status; null while there is none or it did not answer. */
  dataPlane: DataPlaneStatus | null;
  proxyUrl: string | null;
  tunnel: { iface: string; address: string; backend: string; pq: string } | null;
  session: { state: string; error: string | null } | null;
}

export function readinessChecks(
  i: ReadinessInputs,
): { ready: boolean; checks: Record<string, string> } {
  const s = i.state;
  const r = readiness(s);
  const checks: Record<string, string> = {
    state: r.ready ? s.phase : `${s.phase} (${r.reason})`,
  };
  if (i.dataPlane) {
    const healthy = i.dataPlane.endpoints.filter((e) => e.healthy).length;
    checks.proxy = `listening on ${i.proxyUrl}`;
    checks.endpoints = `${healthy}/${i.dataPlane.endpoints.length} healthy`;
  }
  if (i.tunnel) {
    const t = i.tunnel;
    checks.wireguard = `${t.iface} ${t.address} (${t.backend}): ${s.tunnel.replace("_", " ")}`;
    checks.pq = t.pq;
  }
  if (i.session) {
    checks.control_plane = i.session.state === "error"
      ? `error: ${i.session.error ?? "rejected"}`
      : i.session.state;
  }
  return { ready: r.ready, checks };
}
