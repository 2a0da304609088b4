/**
 * labmand's stop sequence as one function over its collaborators (tests/labmand_stop_sequence_test.ts):
 *
 * draining (requests get `proxy.shutdown_grace_ms`, then are aborted) → stopping (final
 * heartbeat, DELETE retried) → Rosenpass and labman0 down, key material removed → stopped.
 *
 * Every step has its own bound, so the whole stop fits in the unit's `TimeoutStopSec` however a
 * collaborator misbehaves: {@linkcode RELAY_STOP_MS} + grace + {@linkcode SHUTDOWN_MARGIN_MS} +
 * {@linkcode STOP_CONTROL_MS} + {@linkcode TEARDOWN_MS} (tests/labmand_stop_budget_test.ts checks
 * the unit against it).
 *
 * @module
 */
import type { StopOptions } from "../lib/control/mod.ts";
import { SHUTDOWN_MARGIN_MS } from "../lib/dataplane/mod.ts";
import type { Lifecycle } from "../lib/lifecycle/mod.ts";
import { getLogger } from "../lib/telemetry/mod.ts";

const log = getLogger("labmand");

export { SHUTDOWN_MARGIN_MS };
/** Bound on the final heartbeat plus the DELETE and its retries at shutdown. */
export const STOP_CONTROL_MS = 10_000;
/** Bound on the Portman relay's last usage report and its close. */
export const RELAY_STOP_MS = 2_000;
/** Bound on taking the tunnel down (Rosenpass SIGTERM→SIGKILL, link removal) and the admin listener. */
export const TEARDOWN_MS = 5_000;

/** A timer that can be cancelled; tests pass a fake one. */
export interface StopClock {
  after(ms: number): { done: Promise<void>; cancel(): void };
}

export const realStopClock: StopClock = {
  after(ms) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const done = new Promise<void>((resolve) => timer = setTimeout(resolve, Math.max(0, ms)));
    return { done, cancel: () => clearTimeout(timer) };
  },
};

export interface StopDeps {
  lc: Lifecycle;
  /** No reload starts once the stop has begun; one running is waited for (bounded below). */
  reloads: { close(): Promise<void> };
  /** Stops sampling the tunnel (before the drain: its verdicts no longer matter). */
  stopWatching(): void;
  /** Stops refreshing the data-plane status (after the drain: the last heartbeats report it). */
  stopRefreshing(): void;
  /** The Portman relay: stopped first, while the data plane still answers its usage query. */
  relay: { stop(): Promise<void> } | null;
  dataPlane: { shutdown(graceMs: number): Promise<void> } | null;
  graceMs: number;
  session: { stop(options: StopOptions): Promise<void> } | null;
  tunnel: { down(): Promise<void> } | null;
  admin: { shutdown(): Promise<void> } | null;
  /** @default realStopClock */
  clock?: StopClock;
}

/** Waits for `work` or `ms`, whichever comes first; says which. Never throws. */
async function bounded(
  clock: StopClock,
  ms: number,
  what: string,
  work: () => Promise<unknown>,
): Promise<"done" | "late"> {
  const t = clock.after(ms);
  try {
    const outcome = await Promise.race([
      work().then(() => "done" as const, (err) => {
        log.warn("Cannot {what}: {message}", { what, message: String(err) });
        return "done" as const;
      }),
      t.done.then(() => "late" as const),
    ]);
    if (outcome === "late") {
      log.warn("Cannot {what} within {ms} ms: going on with the stop", { what, ms });
    }
    return outcome;
  } finally {
    t.cancel();
  }
}

/** Runs the whole stop; resolves when the lifecycle is `stopped`. */
export async function runStopSequence(d: StopDeps): Promise<void> {
  const { lc } = d;
  const clock = d.clock ?? realStopClock;
  if (lc.state.stopCause === null) lc.dispatch({ type: "stop", cause: "signal" });
  // A reload cannot take longer than a hand-over's grace; past it the drain goes on anyway.
  await bounded(
    clock,
    d.graceMs + SHUTDOWN_MARGIN_MS,
    "finish the running reload",
    () => d.reloads.close(),
  );
  d.stopWatching();
  if (d.relay) {
    const relay = d.relay;
    await bounded(clock, RELAY_STOP_MS, "send the relay's last usage report", () => relay.stop());
  }
  if (d.dataPlane) {
    log.info("stopping: letting in-flight requests finish (grace {grace} ms)", {
      grace: d.graceMs,
    });
    const dp = d.dataPlane;
    await bounded(
      clock,
      d.graceMs + SHUTDOWN_MARGIN_MS,
      "stop the data plane",
      () => dp.shutdown(d.graceMs),
    );
  }
  d.stopRefreshing();
  lc.dispatch({ type: "drained" });
  if (d.session) {
    const session = d.session;
    await bounded(
      clock,
      STOP_CONTROL_MS,
      "send the final heartbeat and deregister",
      () => session.stop({ finalState: "stopping", deregister: true, timeoutMs: STOP_CONTROL_MS }),
    );
  }
  lc.dispatch({ type: "final_heartbeat" });
  const tunnel = d.tunnel, admin = d.admin;
  await bounded(
    clock,
    TEARDOWN_MS,
    "take the tunnel and the admin listener down",
    () =>
      Promise.all([
        tunnel?.down(),
        admin?.shutdown(),
      ]),
  );
  lc.dispatch({ type: "down" });
}
