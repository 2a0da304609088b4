/**
 * Live tunnel health from one sample of the interface (pure). The supervisor samples labman0
 * every second; the verdict feeds the lifecycle, so readiness, heartbeats and `labman status`
 * describe the tunnel as it is now, never as it was at the last good read.
 *
 * Stall detection: WireGuard only re-handshakes on its own when it sends *data* without an
 * answer; a peer that restarted and lost the node's endpoint sends nothing, and keepalives do
 * not count, so the session would idle until it expires (180 s). When nothing has been
 * received for `stallMs` the node drops its session itself, and the next keepalive starts a
 * fresh handshake. That handshake is also the probe: an idle but healthy tunnel (the peer sends
 * no keepalives of its own) answers it within a round trip and stays `up`; only when the probe
 * gets no answer within `confirmMs` is the tunnel `degraded`.
 *
 * @module
 */
import type { TunnelHealth } from "./lifecycle.ts";
import { backoffDelayMs } from "../timing/mod.ts";

export interface TunnelSample {
  /** Monotonic milliseconds. */
  atMs: number;
  /** Why the backend (wireguard-go, netlink) can no longer be kept up; null while it runs. */
  backendFailure: string | null;
  /** Why the interface could not be read; null when it was. */
  readError: string | null;
  /** The control-plane peer as read now; null when the interface has none. */
  peer: { rxBytes: number; txBytes: number; lastHandshakeAgeS: number | null } | null;
  /** Post-quantum state of the PSK on the interface. */
  pq: "active" | "waiting" | "stale" | "disabled";
}

export interface HealthTrack {
  lastRx: number | null;
  rxChangedAtMs: number;
  lastReinitAtMs: number | null;
  reinits: number;
}

export interface HealthPolicy {
  /** No bytes received for this long means the peer lost the session. Infinity disables it. */
  stallMs: number;
  /** Least time between two re-initiations (doubles per attempt up to 8×). @default stallMs */
  reinitIntervalMs?: number;
  /** How long a probe handshake may take before the silence counts. @default 3000 */
  confirmMs?: number;
}

export interface HealthVerdict {
  health: TunnelHealth;
  /** Why it is not `up` (one line for STATUS=, `/readyz` and the log). */
  detail: string | null;
  /** Drop the session now so the next keepalive handshakes afresh. */
  reinitiate: boolean;
  track: HealthTrack;
}

export function initialTrack(nowMs: number): HealthTrack {
  return { lastRx: null, rxChangedAtMs: nowMs, lastReinitAtMs: null, reinits: 0 };
}

/**
 * The stall threshold for a persistent-keepalive interval: one interval plus 2 s, at least 5 s.
 * Short on purpose: the probe it triggers is one handshake, and an answered one changes nothing.
 */
export function stallMsFor(persistentKeepaliveS: number): number {
  if (!(persistentKeepaliveS > 0)) return Infinity;
  return Math.max(5_000, persistentKeepaliveS * 1_000 + 2_000);
}

export function assessTunnel(
  track: HealthTrack,
  sample: TunnelSample,
  policy: HealthPolicy,
): HealthVerdict {
  const now = sample.atMs;
  if (sample.backendFailure !== null) {
    return { health: "down", detail: sample.backendFailure, reinitiate: false, track };
  }
  if (sample.readError !== null || sample.peer === null) {
    const why = sample.readError ?? "the control-plane peer is missing";
    return {
      health: "down",
      detail: `cannot read the interface: ${why}`,
      reinitiate: false,
      track,
    };
  }
  const next: HealthTrack = { ...track };
  const rx = sample.peer.rxBytes;
  if (next.lastRx === null || rx > next.lastRx) {
    next.lastRx = rx;
    next.rxChangedAtMs = now;
    next.reinits = 0;
  } else if (rx < next.lastRx) {
    // Counters restart when the peer is re-added (our own probe) or the device recreated: a
    // reset is no sign that anything arrived.
    next.lastRx = rx;
  }
  if (sample.pq === "stale") {
    return {
      health: "failed_closed",
      detail:
        "no fresh post-quantum key: a random PSK is installed until Rosenpass exchanges again",
      reinitiate: false,
      track: next,
    };
  }
  const silentMs = now - next.rxChangedAtMs;
  const up: HealthVerdict = { health: "up", detail: null, reinitiate: false, track: next };
  if (silentMs < policy.stallMs) return up;
  const probed = next.lastReinitAtMs !== null && next.lastReinitAtMs >= next.rxChangedAtMs;
  if (!probed) {
    // First probe of this silence: the answer decides; nothing is reported yet.
    next.lastReinitAtMs = now;
    next.reinits = 1;
    return { ...up, reinitiate: true };
  }
  if (now - next.lastReinitAtMs! < (policy.confirmMs ?? 3000) && next.reinits === 1) return up;
  const base = policy.reinitIntervalMs ?? policy.stallMs;
  const wait = backoffDelayMs(next.reinits - 1, { initialMs: base, maxMs: base * 8, jitter: 0 });
  const reinitiate = now - next.lastReinitAtMs! >= wait;
  if (reinitiate) {
    next.lastReinitAtMs = now;
    next.reinits++;
  }
  const hs = sample.peer.lastHandshakeAgeS;
  return {
    health: "degraded",
    detail: `nothing received from the control plane for ${
      Math.round(silentMs / 1000)
    } s (last handshake ${
      hs === null ? "never" : `${Math.round(hs)} s ago`
    }); re-initiating the handshake`,
    reinitiate,
    track: next,
  };
}
