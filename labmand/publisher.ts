/**
 * Publishes the lifecycle to the outside world: systemd `STATUS=`/`READY=1`/`STOPPING=1`, the
 * data plane's accepting flag, an immediate heartbeat when the drain begins, metrics and the
 * phase log. Nothing here keeps its own idea of the daemon's phase: each change of the
 * {@linkcode LifecycleState} is turned into what it implies, once.
 *
 * @module
 */
import { accepting, isOperating, type LifecycleState, statusText } from "../lib/lifecycle/mod.ts";
import { getLogger } from "../lib/telemetry/mod.ts";

const log = getLogger("labmand");

/** The data plane as the publisher needs it. */
export interface AcceptingTarget {
  setAccepting(accepting: boolean, reason?: string): Promise<void>;
}

export interface PublisherDeps {
  /** systemd's notify socket (`sdNotify`). */
  notify(fields: Record<string, string>): void;
  /** The data plane, once there is one. */
  dataPlane(): AcceptingTarget | null;
  /** The proxy's URL once it listens (for `STATUS=`). */
  proxyUrl(): string | null;
  /** Asks the control session for a heartbeat now (no-op without one). */
  beatNow(): void;
  /** Start-up is over and the node serves (after `READY=1`). */
  onReady(): void;
  /** Metrics derived from the state. */
  metrics?: { update(s: LifecycleState): void };
}

export class Publisher {
  readonly #d: PublisherDeps;
  #readySent = false;
  #stoppingSent = false;
  #lastStatus = "";
  #appliedAccepting: string | null = null;
  /** Notifications held behind READY=1 until the data plane accepts (kept in order). */
  #held: Promise<void> | null = null;

  constructor(deps: PublisherDeps) {
    this.#d = deps;
  }

  /** `READY=1` has been sent (start-up is over: serving, or settled in `error`). */
  get readySent(): boolean {
    return this.#readySent;
  }

  /** The lifecycle listener: subscribe it with `lifecycle.subscribe(p.listener)`. */
  readonly listener = (s: LifecycleState, prev: LifecycleState): void => {
    this.#d.metrics?.update(s);
    if (s.phase !== prev.phase) {
      log.info("state {from} -> {to}: {status}", {
        from: prev.phase,
        to: s.phase,
        status: statusText(s),
      });
    }
    const fields: Record<string, string> = {};
    const text = statusText(s, this.#d.proxyUrl() ?? undefined);
    if (text !== this.#lastStatus) fields.STATUS = this.#lastStatus = text;
    // READY=1 means start-up is over: serving, or settled in `error` (so systemd neither times
    // the start out nor restarts a node whose token was refused).
    let nowReady = false;
    const stopping = s.stopCause !== null;
    if (!this.#readySent && !stopping && (isOperating(s) || s.phase === "error")) {
      this.#readySent = true;
      nowReady = isOperating(s);
      fields.READY = "1";
    }
    if (!this.#stoppingSent && stopping) {
      this.#stoppingSent = true;
      fields.STOPPING = "1";
      // The control plane hears `draining` from the first moment of the drain.
      this.#d.beatNow();
    }
    const accepted = this.applyAccepting(s);
    // A client that starts on READY=1 or on the "ready" line must find the Worker accepting, so
    // both wait for the accepting flag to land (a round trip to the Worker); later updates queue
    // behind them so systemd never sees an older STATUS= last.
    if (nowReady) this.#notifyAfter(accepted, fields, () => this.#d.onReady());
    else if (Object.keys(fields).length > 0) this.#notifyAfter(null, fields);
  };

  #notifyAfter(gate: Promise<void> | null, fields: Record<string, string>, then?: () => void) {
    const send = () => {
      this.#d.notify(fields);
      then?.();
    };
    if (!gate && !this.#held) return send();
    const held: Promise<void> = (this.#held ?? Promise.resolve()).then(() => gate ?? undefined)
      .then(send).catch((err) =>
        log.warn("Cannot tell systemd the state: {message}", { message: String(err) })
      );
    this.#held = held;
    void held.finally(() => {
      if (this.#held === held) this.#held = null;
    });
  }

  /**
   * Tells the data plane whether to accept requests, when that changed since the last time
   * (`fresh`: a new data plane, which knows nothing yet).
   */
  async applyAccepting(s: LifecycleState, fresh = false): Promise<void> {
    const dp = this.#d.dataPlane();
    if (!dp) return;
    if (fresh) this.#appliedAccepting = null;
    const a = accepting(s);
    const key = JSON.stringify(a);
    if (key === this.#appliedAccepting) return;
    this.#appliedAccepting = key;
    await dp.setAccepting(a.accepting, a.reason).catch((err) =>
      log.warn("Cannot tell the data plane to {what}: {message}", {
        what: a.accepting ? "accept requests" : "refuse requests",
        message: String(err),
      })
    );
  }
}
