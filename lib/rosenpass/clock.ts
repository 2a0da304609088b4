/**
 * The time source the supervisor and guard use, injectable so tests drive time by hand.
 *
 * @module
 */

export interface Clock {
  /** Milliseconds, monotonic enough for ages and deadlines. */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
}

export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id as number),
};
