/**
 * labmand's lifecycle as one pure state machine (roadmap §7; style habit 13). Everything the
 * outside world sees about the daemon's phase — the heartbeat's `state`, `/readyz`, systemd's
 * `STATUS=`/`READY=1`/`STOPPING=1`, `labman status` and the router's accepting flag — is derived
 * from a {@linkcode LifecycleState} by the functions here, never set on its own.
 *
 * ```
 * starting → registering → tunnel_up → waiting_pq → serving ⇄ maintenance / draining
 *     (local mode: starting → serving, registration runs in the background)
 * any → error (token rejected, registration refused) — stays up, not ready, until stopped
 * any → draining (stop requested: requests finish within the grace) → stopping (final
 *       heartbeat, deregistration, Rosenpass, labman0) → stopped
 * ```
 *
 * @module
 */
import type { DesiredState, NodeState } from "../control/mod.ts";

export type Phase =
  | "starting"
  | "registering"
  | "tunnel_up"
  | "waiting_pq"
  | "serving"
  | "maintenance"
  | "draining"
  | "stopping"
  | "stopped"
  | "error";

export const PHASES: readonly Phase[] = [
  "starting",
  "registering",
  "tunnel_up",
  "waiting_pq",
  "serving",
  "maintenance",
  "draining",
  "stopping",
  "stopped",
  "error",
];

/**
 * Live health of the tunnel (see `tunnel_health.ts`): `up` carries traffic both ways;
 * `degraded` sends without hearing back (the node re-initiates the handshake); `failed_closed`
 * runs on a random PSK (no fresh post-quantum key); `down` has no interface or no backend.
 * `none` in local mode.
 */
export type TunnelHealth = "none" | "up" | "degraded" | "failed_closed" | "down";

/** Why the daemon stops; decides the exit code. */
export type StopCause = "signal" | "fatal" | "rejected";

/** Exit codes, listed in docs/operations.md and (4) in the unit's `RestartPreventExitStatus=`. */
export const EXIT = {
  /** Clean stop. */
  ok: 0,
  /** Could not start (bad config, unreadable key, bind failure). */
  startFailed: 1,
  /** Stopped after a fatal runtime error (tunnel backend cannot be kept up, data plane died): systemd restarts it. */
  fatal: 2,
  /** A second stop signal cut the drain short. */
  forced: 3,
  /** Stopped while the control plane refused the node (token rejected): a restart cannot help. */
  rejected: 4,
} as const;

export interface LifecycleState {
  readonly phase: Phase;
  /** `wireguard.mode = "off"`: the proxy serves loopback without waiting for anything. */
  readonly local: boolean;
  readonly hasControlPlane: boolean;
  /** The tunnel's PSK comes from Rosenpass (READY waits for the first exchanged key). */
  readonly pq: boolean;
  readonly registered: boolean;
  readonly tunnelUp: boolean;
  readonly pqInstalled: boolean;
  readonly dataPlaneUp: boolean;
  readonly desired: DesiredState;
  readonly tunnel: TunnelHealth;
  /** One line on what the node waits for or why it cannot serve (STATUS=, `/readyz`). */
  readonly note: string | null;
  /** Set with phase `error`, or with a fatal stop. */
  readonly error: string | null;
  /** The control plane refused the node (401/403/400): restarting cannot help. */
  readonly rejected: boolean;
  readonly stopCause: StopCause | null;
  /** The final heartbeat (and deregistration) was attempted during `stopping`. */
  readonly finalHeartbeat: boolean;
}

export type LifecycleEvent =
  /** Registration attempt started or failed transiently (`reason` says why it waits). */
  | { type: "registering"; reason?: string }
  | { type: "registered" }
  /** The control plane refused the node: 401/403 on any call, or 400 on registration. */
  | { type: "rejected"; message: string }
  /** labman0 is configured; `pq` says whether Rosenpass must deliver a key before serving. */
  | { type: "tunnel_up" }
  /** The first exchanged post-quantum PSK is on the interface. */
  | { type: "pq_installed" }
  | { type: "dataplane_up" }
  /** Desired state from a heartbeat answer or a relayed `drain` directive. */
  | { type: "desired"; state: DesiredState }
  | { type: "tunnel_health"; health: TunnelHealth; detail?: string }
  /**
   * Stop requested (SIGTERM/SIGINT, `labman dev` Ctrl-C), forced by a fatal error, or after a
   * rejection before READY (systemd would otherwise time the start out and restart forever).
   */
  | { type: "stop"; cause: StopCause; message?: string }
  /** In-flight requests finished or were aborted after the grace period. */
  | { type: "drained" }
  /** The final `stopping` heartbeat and the DELETE were attempted. */
  | { type: "final_heartbeat" }
  /** Rosenpass stopped, labman0 removed, key material deleted. */
  | { type: "down" };

export interface InitialOptions {
  local: boolean;
  hasControlPlane: boolean;
  pq: boolean;
}

export function initialState(o: InitialOptions): LifecycleState {
  return {
    phase: "starting",
    local: o.local,
    hasControlPlane: o.hasControlPlane,
    pq: o.pq && !o.local,
    registered: false,
    tunnelUp: false,
    pqInstalled: false,
    dataPlaneUp: false,
    desired: "active",
    tunnel: o.local ? "none" : "down",
    note: null,
    error: null,
    rejected: false,
    stopCause: null,
    finalHeartbeat: false,
  };
}

const SHUTDOWN: ReadonlySet<Phase> = new Set(["stopping", "stopped"]);

/** True once a stop was requested (the drain of a shutdown, not a desired `draining`). */
export function isShuttingDown(s: LifecycleState): boolean {
  return s.stopCause !== null;
}

/** Pure: the state after `event`. Events that make no sense in a phase leave it unchanged. */
export function nextState(s: LifecycleState, event: LifecycleEvent): LifecycleState {
  if (s.phase === "stopped") return s;
  switch (event.type) {
    case "stop": {
      if (s.stopCause !== null) {
        // A fatal error during a signal-driven stop still decides the exit code.
        return event.cause === "fatal" && s.stopCause !== "fatal"
          ? { ...s, stopCause: "fatal", error: event.message ?? s.error }
          : s;
      }
      return {
        ...s,
        phase: "draining",
        stopCause: event.cause,
        error: event.cause === "fatal" ? event.message ?? "fatal error" : s.error,
        note: event.cause === "fatal"
          ? `stopping after: ${event.message ?? "fatal error"}`
          : s.note,
      };
    }
    case "drained":
      return s.phase === "draining" && s.stopCause !== null ? { ...s, phase: "stopping" } : s;
    case "final_heartbeat":
      return s.phase === "stopping" ? { ...s, finalHeartbeat: true } : s;
    case "down":
      return s.phase === "stopping" && s.finalHeartbeat ? { ...s, phase: "stopped" } : s;
    default:
      break;
  }
  if (s.stopCause !== null || SHUTDOWN.has(s.phase)) {
    // While shutting down only the facts that the final heartbeat reports still change.
    if (event.type === "tunnel_health") return { ...s, tunnel: event.health };
    return s;
  }
  let f: LifecycleState = s;
  switch (event.type) {
    case "registering":
      f = { ...s, note: event.reason ?? s.note };
      break;
    case "registered":
      f = { ...s, registered: true, note: null };
      break;
    case "rejected":
      return { ...s, phase: "error", rejected: true, error: event.message, note: event.message };
    case "tunnel_up":
      if (s.local) return s;
      f = { ...s, tunnelUp: true, tunnel: "up" };
      break;
    case "pq_installed":
      if (!s.tunnelUp || !s.pq) return s;
      f = { ...s, pqInstalled: true };
      break;
    case "dataplane_up":
      f = { ...s, dataPlaneUp: true };
      break;
    case "desired":
      f = { ...s, desired: event.state };
      break;
    case "tunnel_health":
      if (s.local || !s.tunnelUp) return s;
      f = { ...s, tunnel: event.health, note: event.health === "up" ? null : event.detail ?? null };
      break;
  }
  if (f.phase === "error") return f;
  return { ...f, phase: operatingPhase(f) };
}

/** The phase before any stop, computed from the facts (tailscale's `nextStateLocked`). */
function operatingPhase(s: LifecycleState): Phase {
  if (s.local) {
    if (!s.dataPlaneUp) return "starting";
    return desiredPhase(s.desired);
  }
  if (!s.registered && !s.tunnelUp) return s.hasControlPlane ? "registering" : "starting";
  if (!s.tunnelUp) return "registering";
  if (s.pq && !s.pqInstalled) return "waiting_pq";
  if (!s.dataPlaneUp) return "tunnel_up";
  return desiredPhase(s.desired);
}

function desiredPhase(d: DesiredState): Phase {
  return d === "active" ? "serving" : d;
}

/** The heartbeat's `state` field. */
export function heartbeatState(s: LifecycleState): NodeState {
  switch (s.phase) {
    case "starting":
    case "registering":
    case "tunnel_up":
    case "waiting_pq":
      return "starting";
    case "serving":
      // A node whose tunnel cannot carry traffic must not look serviceable.
      return tunnelOk(s) ? "active" : "error";
    case "maintenance":
      return "maintenance";
    case "draining":
      return "draining";
    case "stopping":
    case "stopped":
      return "stopping";
    case "error":
      return "error";
  }
}

function tunnelOk(s: LifecycleState): boolean {
  return s.local || s.tunnel === "up";
}

/** `/readyz`: ready only while serving over a tunnel that carries traffic. */
export function readiness(s: LifecycleState): { ready: boolean; reason: string } {
  if (s.phase === "serving") {
    if (tunnelOk(s)) return { ready: true, reason: "serving" };
    return {
      ready: false,
      reason: `tunnel ${s.tunnel.replace("_", " ")}: ${s.note ?? "no detail"}`,
    };
  }
  return { ready: false, reason: statusText(s) };
}

/** The router admits new requests only while serving (the proxy answers 503 otherwise). */
export function accepting(s: LifecycleState): { accepting: boolean; reason?: string } {
  if (s.phase === "serving") return { accepting: true };
  switch (s.phase) {
    case "maintenance":
    case "draining":
      return {
        accepting: false,
        reason: s.stopCause !== null
          ? "node is shutting down"
          : `node is in ${s.phase} (requested by the control plane)`,
      };
    case "error":
      return { accepting: false, reason: "node is in error" };
    case "stopping":
    case "stopped":
      return { accepting: false, reason: "node is shutting down" };
    default:
      return { accepting: false, reason: "node is starting" };
  }
}

/** systemd `STATUS=` text; `proxyUrl` names the listener while serving. */
export function statusText(s: LifecycleState, proxyUrl?: string): string {
  const why = s.note ? `: ${s.note}` : "";
  switch (s.phase) {
    case "starting":
      return "starting";
    case "registering":
      return `registering with the control plane${why}`;
    case "tunnel_up":
      return "tunnel up, starting the data plane";
    case "waiting_pq":
      return "waiting for the first post-quantum key exchange";
    case "serving":
      if (tunnelOk(s)) return proxyUrl ? `serving on ${proxyUrl}` : "serving";
      return `serving, but the tunnel is ${s.tunnel.replace("_", " ")}${why}`;
    case "maintenance":
      return "maintenance (requested by the control plane)";
    case "draining":
      return s.stopCause !== null
        ? "stopping: draining in-flight requests"
        : "draining (requested by the control plane)";
    case "stopping":
      return "stopping: deregistering and removing the tunnel";
    case "stopped":
      return "stopped";
    case "error":
      return `error: ${s.error ?? "unknown"}`;
  }
}

/** The process exit code once stopped. */
export function exitCode(s: LifecycleState): number {
  if (s.stopCause === "fatal") return EXIT.fatal;
  if (s.rejected || s.stopCause === "rejected") return EXIT.rejected;
  return EXIT.ok;
}

/** Phases in which systemd has been told READY=1 (first entry sends it). */
export function isOperating(s: LifecycleState): boolean {
  return s.phase === "serving" || s.phase === "maintenance" ||
    (s.phase === "draining" && s.stopCause === null);
}
