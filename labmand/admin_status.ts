/**
 * Builds the admin listener's `/status` document from what labmand already holds (readiness,
 * the data plane's status, the tunnel's sample). Pure.
 *
 * @module
 */
import type { AdminStatus, Readiness } from "../lib/admin/mod.ts";
import type { DataPlaneStatus } from "../lib/dataplane/mod.ts";
import type { InterfaceStatus } from "../lib/wireguard/mod.ts";

export interface AdminStatusInput {
  readiness: Readiness;
  dataPlane: DataPlaneStatus | null;
  /** The last WireGuard device read; null without a tunnel or before the first read. */
  wireguard: InterfaceStatus | null;
  /** Rosenpass as the tunnel reports it; null without a tunnel. */
  pq: { state: string; psk_age_s?: number } | null;
}

export function buildAdminStatus(input: AdminStatusInput): AdminStatus {
  const out: AdminStatus = { ready: input.readiness.ready, checks: input.readiness.checks };
  const dp = input.dataPlane;
  if (dp) {
    out.endpoints = dp.endpoints.map((e) => ({
      name: e.name,
      healthy: e.healthy,
      models: e.models.length,
      in_flight: e.in_flight,
      kind: e.kind ?? null,
      condition: e.condition ?? null,
      ...(e.server_slots !== undefined ? { server_slots: e.server_slots } : {}),
      ...(e.server_running !== undefined ? { server_running: e.server_running } : {}),
    }));
    out.requests = {
      total: dp.requests.total,
      in_flight: dp.requests.in_flight,
      queue_depth: dp.requests.queue_depth,
    };
  }
  const wg = input.wireguard;
  if (wg) {
    const ages = wg.peers.map((p) => p.lastHandshakeAgeS).filter((a): a is number => a !== null);
    out.wireguard = {
      backend: wg.backend,
      last_handshake_age_s: ages.length > 0 ? Math.round(Math.min(...ages)) : null,
    };
  }
  if (input.pq) {
    out.rosenpass = {
      state: input.pq.state,
      ...(input.pq.psk_age_s !== undefined ? { psk_age_s: Math.round(input.pq.psk_age_s) } : {}),
    };
  }
  return out;
}
