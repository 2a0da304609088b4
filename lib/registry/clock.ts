/**
 * The time source of the registry and router, injected so tests can drive it with fake timers.
 *
 * @module
 */

export interface Clock {
  /** Monotonic milliseconds (durations only). */
  now(): number;
  /** Wall-clock milliseconds since the epoch (timestamps shown to people). */
  wallNow(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  wallNow: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as number),
};
