/**
 * The tunnel watcher: samples labman0 once a second, turns each sample into a lifecycle event
 * (live health, never a frozen read), re-initiates the handshake when the peer went silent,
 * and stops the daemon (exit 2, systemd restarts it) when the backend cannot be kept up.
 * Tested with a fake tunnel and manual ticks (tests/labmand_tunnel_watch_test.ts).
 *
 * @module
 */
import type { InterfaceStatus } from "../lib/wireguard/mod.ts";
import {
  assessTunnel,
  initialTrack,
  isOperating,
  type Lifecycle,
  stallMsFor,
  type TunnelSample,
} from "../lib/lifecycle/mod.ts";
import { getLogger } from "../lib/telemetry/mod.ts";

const log = getLogger("labmand");

/** The tunnel as the watcher needs it. */
export interface WatchedTunnel {
  readonly iface: string;
  /** Persistent keepalive towards the control plane, in seconds (0: off). */
  readonly keepaliveS: number;
  sample(): Promise<{ sample: TunnelSample; status: InterfaceStatus | null }>;
  reinitiate(): Promise<void>;
}

export interface TunnelWatchOptions {
  lc: Lifecycle;
  tunnel: WatchedTunnel;
  /** Each interface read (null when it could not be read): heartbeats report it. */
  onStatus(status: InterfaceStatus | null): void;
  /** Monotonic ms. @default performance.now */
  now?: () => number;
  /** Sampling period; 0 = only manual {@linkcode TunnelWatch.tick}s (tests). @default 1000 */
  everyMs?: number;
}

export class TunnelWatch {
  readonly #o: TunnelWatchOptions;
  #track;
  readonly #policy;
  #busy = false;
  readonly #timer: ReturnType<typeof setInterval> | undefined;

  constructor(o: TunnelWatchOptions) {
    this.#o = o;
    this.#track = initialTrack(o.now ? o.now() : performance.now());
    this.#policy = { stallMs: stallMsFor(o.tunnel.keepaliveS) };
    const every = o.everyMs ?? 1000;
    if (every > 0) this.#timer = setInterval(() => void this.tick(), every);
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** One sample and what follows from it; overlapping ticks are skipped. */
  async tick(): Promise<void> {
    const { lc, tunnel: t } = this.#o;
    if (this.#busy || lc.state.stopCause !== null) return;
    this.#busy = true;
    try {
      const { sample, status } = await t.sample();
      this.#o.onStatus(status);
      const v = assessTunnel(this.#track, sample, this.#policy);
      this.#track = v.track;
      if (v.health !== lc.state.tunnel && lc.state.tunnelUp) {
        if (v.health === "up") {
          log.info("tunnel {iface} carries traffic again", { iface: t.iface });
        } else {
          log.warn("tunnel {iface} is {health}: {detail}", {
            iface: t.iface,
            health: v.health,
            detail: v.detail,
          });
        }
      }
      lc.dispatch({
        type: "tunnel_health",
        health: v.health,
        ...(v.detail ? { detail: v.detail } : {}),
      });
      if (sample.backendFailure !== null) {
        // A node that cannot carry traffic must not stay up looking alive: exit 2 and let
        // systemd (Restart=on-failure) start it afresh.
        log.fatal("{message}", { message: sample.backendFailure });
        lc.dispatch({ type: "stop", cause: "fatal", message: sample.backendFailure });
      } else if (v.reinitiate && isOperating(lc.state)) {
        await t.reinitiate().catch((err) =>
          log.warn("Cannot re-initiate the handshake: {message}", { message: String(err) })
        );
      }
    } finally {
      this.#busy = false;
    }
  }
}
