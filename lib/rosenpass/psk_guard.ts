/**
 * The fail-closed PSK guard (design §4 invariant 6): traffic never flows on a PSK older than its
 * lifetime. {@linkcode decidePsk} is the pure state machine; {@linkcode PskGuard} adds the one
 * timer that re-evaluates it at the next deadline.
 *
 * A random PSK is installed before the first exchange, on `stale`, when rosenpass has been down
 * longer than `maxDownMs`, and when no fresh key arrived within `keyLifetimeMs`. A random key is
 * known to nobody, so the tunnel stops until rosenpass agrees on a new one.
 *
 * @module
 */
import { type Clock, systemClock } from "../timing/mod.ts";

/** Post-quantum state of the tunnel. */
export type PqState = "waiting" | "active" | "stale" | "disabled";
export const PQ_STATES: readonly PqState[] = ["waiting", "active", "stale", "disabled"];

export interface GuardPolicy {
  /** Oldest a PSK may get before it is replaced by a random one. */
  keyLifetimeMs: number;
  /** How long rosenpass may be down before the PSK is replaced by a random one. */
  maxDownMs: number;
}

export interface GuardSnapshot {
  state: PqState;
  /** When the PSK now on the interface (exchanged or random) was installed. */
  installedAtMs: number | null;
  /** When the rosenpass child last exited unexpectedly; null while it runs. */
  downSinceMs: number | null;
  /** The down period has already been answered with a random PSK. */
  downHandled: boolean;
}

export type GuardEvent =
  | "start"
  | "exchanged"
  | "stale"
  | "child_exit"
  | "child_spawn"
  | "tick";

export type RandomReason = "start" | "stale" | "expired" | "down";

export interface GuardDecision {
  next: GuardSnapshot;
  /** Install a fresh random PSK now, for this reason. */
  installRandom: RandomReason | null;
  /** Ask rosenpass for a new handshake (meaningful on the initiating side only). */
  reinitiate: boolean;
  /** When to evaluate again with a `tick`; null when nothing is pending. */
  nextCheckAtMs: number | null;
}

export const INITIAL_SNAPSHOT: GuardSnapshot = {
  state: "waiting",
  installedAtMs: null,
  downSinceMs: null,
  downHandled: false,
};

/** One step of the guard (pure). `exchanged` means a fresh key was already applied. */
export function decidePsk(
  s: GuardSnapshot,
  event: GuardEvent,
  nowMs: number,
  policy: GuardPolicy,
): GuardDecision {
  let next: GuardSnapshot = { ...s };
  let installRandom: RandomReason | null = null;
  let reinitiate = false;
  const installed = (reason: RandomReason) => {
    installRandom = reason;
    next.installedAtMs = nowMs;
  };
  switch (event) {
    case "start":
      next = { ...INITIAL_SNAPSHOT };
      installed("start");
      break;
    case "exchanged":
      next.state = "active";
      next.installedAtMs = nowMs;
      break;
    case "stale":
      next.state = "stale";
      installed("stale");
      break;
    case "child_exit":
      if (next.downSinceMs === null) {
        next.downSinceMs = nowMs;
        next.downHandled = false;
      }
      break;
    case "child_spawn":
      next.downSinceMs = null;
      next.downHandled = false;
      break;
    case "tick":
      break;
  }
  if (event === "tick" || event === "child_exit") {
    const expired = next.installedAtMs !== null &&
      nowMs - next.installedAtMs >= policy.keyLifetimeMs;
    const downTooLong = next.downSinceMs !== null && !next.downHandled &&
      nowMs - next.downSinceMs >= policy.maxDownMs;
    if (expired || downTooLong) {
      if (next.state === "active") next.state = "stale";
      installed(expired ? "expired" : "down");
      if (downTooLong) next.downHandled = true;
      reinitiate = expired;
    }
  }
  return { next, installRandom, reinitiate, nextCheckAtMs: nextCheck(next, policy) };
}

function nextCheck(s: GuardSnapshot, policy: GuardPolicy): number | null {
  const times: number[] = [];
  if (s.installedAtMs !== null) times.push(s.installedAtMs + policy.keyLifetimeMs);
  if (s.downSinceMs !== null && !s.downHandled) times.push(s.downSinceMs + policy.maxDownMs);
  return times.length ? Math.min(...times) : null;
}

/** Holds the snapshot and the deadline timer; `onDecision` carries out what the guard decided. */
export class PskGuard {
  #snapshot: GuardSnapshot = { ...INITIAL_SNAPSHOT };
  #timer: unknown = undefined;
  #stopped = false;
  readonly #policy: GuardPolicy;
  readonly #clock: Clock;
  readonly #onDecision: (d: GuardDecision, event: GuardEvent) => void;

  constructor(
    policy: GuardPolicy,
    onDecision: (d: GuardDecision, event: GuardEvent) => void,
    clock: Clock = systemClock,
  ) {
    if (!(policy.keyLifetimeMs > 0) || !(policy.maxDownMs > 0)) {
      throw new RangeError(
        "Cannot create PSK guard: keyLifetimeMs and maxDownMs must be positive",
      );
    }
    this.#policy = policy;
    this.#onDecision = onDecision;
    this.#clock = clock;
  }

  get snapshot(): GuardSnapshot {
    return { ...this.#snapshot };
  }

  /** Feeds one event; re-arms the deadline timer. Ignored after {@linkcode stop}. */
  handle(event: GuardEvent): GuardDecision | null {
    if (this.#stopped) return null;
    const d = decidePsk(this.#snapshot, event, this.#clock.now(), this.#policy);
    this.#snapshot = d.next;
    this.#arm(d.nextCheckAtMs);
    this.#onDecision(d, event);
    return d;
  }

  stop(): void {
    this.#stopped = true;
    this.#disarm();
  }

  #arm(at: number | null): void {
    this.#disarm();
    if (at === null) return;
    // A tick at the deadline itself: never earlier, so `expired` is true when it fires.
    const delay = Math.max(0, at - this.#clock.now());
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.handle("tick");
    }, delay);
  }

  #disarm(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
