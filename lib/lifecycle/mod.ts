/**
 * labmand's lifecycle: a pure state machine ({@linkcode nextState}), the functions that derive
 * everything observable from it, live tunnel health, and the small holder that dispatches
 * events. Other subsystems (the Portman relay's `drain` directive, for one) drive the daemon by
 * dispatching events:
 *
 * ```ts
 * import { Lifecycle, readiness } from "./mod.ts";
 * const lc = new Lifecycle({ local: true, hasControlPlane: false, pq: false });
 * lc.dispatch({ type: "dataplane_up" });
 * lc.dispatch({ type: "desired", state: "draining" }); // e.g. a relayed `drain` directive
 * readiness(lc.state).ready; // false
 * ```
 *
 * @module
 */
export {
  accepting,
  EXIT,
  exitCode,
  heartbeatState,
  type InitialOptions,
  initialState,
  isOperating,
  isShuttingDown,
  type LifecycleEvent,
  type LifecycleState,
  nextState,
  type Phase,
  PHASES,
  readiness,
  statusText,
  type StopCause,
  type TunnelHealth,
} from "./lifecycle.ts";
export { Lifecycle, type LifecycleListener } from "./machine.ts";
export {
  assessTunnel,
  type HealthPolicy,
  type HealthTrack,
  type HealthVerdict,
  initialTrack,
  stallMsFor,
  type TunnelSample,
} from "./tunnel_health.ts";
