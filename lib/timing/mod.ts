/**
 * Time: the injectable {@linkcode Clock} and the one backoff formula.
 *
 * ```ts
 * import { backoffDelayMs, systemClock } from "../timing/mod.ts";
 * const handle = systemClock.setTimeout(retry, backoffDelayMs(attempt, { initialMs: 500 }));
 * ```
 *
 * @module
 */
export { type Clock, systemClock } from "./clock.ts";
export { backoffDelayMs, type BackoffOptions, retryDelayMs } from "./backoff.ts";
export { abortableSleep } from "./sleep.ts";
