/**
 * Pure assembly of the heartbeat body from the data plane's snapshot and the tunnel's state.
 * Only what design invariant 8 allows leaves the node: endpoint names (never URLs or hosts),
 * counts, and health.
 *
 * @module
 */
import type { HeartbeatStatus } from "../lib/control/mod.ts";
import type { DataPlaneStatus } from "../lib/dataplane/mod.ts";
import type { InterfaceStatus } from "../lib/wireguard/mod.ts";

export type NodeRunState = HeartbeatStatus["state"];

export interface NodeStatusInputs {
  state: NodeRunState;
  uptimeS: number;
  dataPlane: DataPlaneStatus | null;
  /**
   * Capabilities found by the discovery pass before registration (tunnel mode), reported until
   * the data plane runs and knows better.
   */
  discovered?: DataPlaneStatus["capabilities"] | null;
  pq: HeartbeatStatus["pq"];
  wireguard: InterfaceStatus | null;
  /** "off" in local mode. */
  wireguardBackend: HeartbeatStatus["wireguard"]["backend"];
}

export function buildNodeStatus(i: NodeStatusInputs): HeartbeatStatus {
  const dp = i.dataPlane;
  const peer = i.wireguard?.peers[0];
  return {
    state: i.state,
    uptime_s: Math.max(0, Math.round(i.uptimeS)),
    endpoints: (dp?.endpoints ?? []).map((e) => ({
      name: e.name,
      healthy: e.healthy,
      models: e.models,
      in_flight: e.in_flight,
      max_concurrent: e.max_concurrent,
    })),
    requests: dp?.requests ?? { total: 0, errors: 0, in_flight: 0, queue_depth: 0 },
    pq: i.pq,
    wireguard: {
      backend: i.wireguardBackend,
      ...(peer?.lastHandshakeAgeS != null
        ? { last_handshake_age_s: Math.round(peer.lastHandshakeAgeS) }
        : {}),
      rx_bytes: peer?.rxBytes ?? 0,
      tx_bytes: peer?.txBytes ?? 0,
    },
    capabilities: dp?.capabilities ?? i.discovered ??
      { models: [], endpoint_count: 0, max_concurrent_requests: 0 },
  };
}
