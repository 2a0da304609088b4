/**
 * labmand's start-up sequence (roadmap §7.1) as one function over its collaborators, so the
 * order can be checked with fakes (tests/labmand_startup_test.ts):
 *
 * - local mode: the data plane serves at once (after its first discovery pass); registration
 *   follows in the background, already with real capabilities.
 * - tunnel mode: a first discovery pass (bounded, binds nothing) → registration (retried with
 *   backoff; the reason goes to `STATUS=`) → labman0 and Rosenpass → the data plane on the
 *   WireGuard address → the first PSK on the interface makes the node ready.
 *
 * A stop or a refused registration at any point ends the sequence early (nothing more is
 * created); the stop sequence then undoes what was.
 *
 * @module
 */
import type { RegisterResponse } from "../lib/control/mod.ts";
import type { Lifecycle } from "../lib/lifecycle/mod.ts";
import { getLogger } from "../lib/telemetry/mod.ts";

const log = getLogger("labmand");

/** What start-up needs of the tunnel it brought up. */
export interface StartedTunnel {
  readonly iface: string;
  readonly address: string;
  /** Resolves once the first exchanged PSK is on the interface. */
  readonly firstPsk: Promise<void>;
}

export interface StartupDeps {
  lc: Lifecycle;
  /** `wireguard.mode = "off"`. */
  local: boolean;
  /** The control-plane session (null without a control plane). */
  session: { start(): void } | null;
  /** Resolves with the registration answer (never, without a session). */
  registered: Promise<RegisterResponse>;
  /** For the `STATUS=` line while registering. */
  controlPlaneUrl: string | null;
  /** Tunnel mode: the first discovery pass before registration; bounded, never throws. */
  discover(): Promise<void>;
  /** Creates labman0 (and starts Rosenpass) from the registration answer. */
  bringUpTunnel(reg: RegisterResponse | null): Promise<StartedTunnel>;
  /** Starts the data plane bound to `address` (loopback when null). */
  startServing(address: string | null): Promise<void>;
  /** Asks the control session for a heartbeat now. */
  beatNow(): void;
}

/**
 * Runs start-up until the node serves, settles in `error`, or a stop is requested. Throws what
 * a step threw (bad key file, bind failure): the caller decides between exit 1 and a stop.
 */
export async function runStartup(d: StartupDeps): Promise<void> {
  const { lc } = d;
  const halted = () => lc.state.stopCause !== null || lc.state.phase === "error";
  if (d.local) {
    log.warn('local mode (wireguard.mode = "off"): no tunnel; the proxy binds loopback only');
    // No control plane is needed to serve: the proxy comes first.
    await d.startServing(null);
    d.session?.start();
    return;
  }
  let reg: RegisterResponse | null = null;
  if (d.session) {
    // The address comes from registration, so the proxy cannot bind yet; a bind-less pass
    // gives the registration the node's real capabilities all the same.
    lc.dispatch({ type: "registering", reason: "discovering the local endpoints" });
    await d.discover();
    if (halted()) return;
    lc.dispatch({ type: "registering", reason: `contacting ${d.controlPlaneUrl}` });
    d.session.start();
    reg = await Promise.race([
      d.registered,
      lc.until(halted).then(() => null),
    ]);
  }
  if (halted()) return;
  const tunnel = await d.bringUpTunnel(reg);
  lc.dispatch({ type: "tunnel_up" });
  tunnel.firstPsk.then(
    () => {
      log.info("first post-quantum PSK installed on {iface}", { iface: tunnel.iface });
      lc.dispatch({ type: "pq_installed" });
    },
    () => {/* the tunnel's own supervision reports why */},
  );
  if (lc.state.stopCause !== null) return;
  await d.startServing(tunnel.address);
  // The data plane is up: the control plane hears its live status now, not at the next beat.
  d.beatNow();
}
