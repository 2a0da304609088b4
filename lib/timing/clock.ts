/**
 * The one injectable time source. Every loop that waits (health checks, router queues, the
 * rosenpass supervisor and PSK guard) takes a {@linkcode Clock}, so tests drive time by hand.
 *
 * @module
 */

export interface Clock {
  /** Monotonic milliseconds, for durations and deadlines only (never jumps with NTP). */
  now(): number;
  /** Wall-clock milliseconds since the epoch, for timestamps shown to people. */
  wallNow(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Real time: `performance.now()` for durations, `Date.now()` for timestamps. */
export const systemClock: Clock = {
  now: () => performance.now(),
  wallNow: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as number),
};
