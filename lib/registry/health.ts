/**
 * The endpoint health state machine, pure: `(state, event, policy) → (state, transition, delay)`.
 *
 * - `unknown` (start) → `healthy` on the FIRST success, so a node is routable right after the
 *   initial probe; → `unhealthy` after `unhealthy_after` consecutive failures.
 * - `healthy` → `unhealthy` after `unhealthy_after` consecutive failures.
 * - `unhealthy` → `healthy` after `healthy_after` consecutive successes.
 *
 * The next-check delay is `interval_s` while up (or confirming a recovery), and grows
 * exponentially while down — `interval_s · 2^k` after the k-th failure past the threshold —
 * capped at `backoff_max_s` (the shared formula of `timing/backoff.ts`). Jitter (up to
 * `jitter · delay` earlier, from the injected `random()`) spreads checks of many endpoints apart;
 * the cap holds after jitter.
 *
 * @module
 */
import type { HealthConfig } from "../config/mod.ts";
import { backoffDelayMs } from "../timing/mod.ts";

export type HealthStatus = "unknown" | "healthy" | "unhealthy";

export interface HealthState {
  readonly status: HealthStatus;
  readonly consecutiveFailures: number;
  readonly consecutiveSuccesses: number;
}

/** The result of one health check (active probe) or one passive observation. */
export type HealthEvent = "success" | "failure";

export interface HealthPolicy extends
  Pick<
    HealthConfig,
    "interval_s" | "jitter" | "unhealthy_after" | "healthy_after" | "backoff_max_s"
  > {
  /** Uniform random number in [0, 1) for jitter. @default Math.random */
  random?: () => number;
}

export interface HealthStep {
  readonly state: HealthState;
  /** Set only when `status` changed: log it once, update gauges. */
  readonly transition?: { readonly from: HealthStatus; readonly to: HealthStatus };
  /** Milliseconds until the next active check, jitter applied. */
  readonly delayMs: number;
}

export const INITIAL_HEALTH: HealthState = Object.freeze({
  status: "unknown",
  consecutiveFailures: 0,
  consecutiveSuccesses: 0,
});

/** Applies one check result to a health state. Pure apart from `policy.random`. */
export function nextHealth(
  state: HealthState,
  event: HealthEvent,
  policy: HealthPolicy,
): HealthStep {
  const failures = event === "failure" ? state.consecutiveFailures + 1 : 0;
  const successes = event === "success" ? state.consecutiveSuccesses + 1 : 0;
  let status = state.status;
  if (event === "success") {
    if (status === "unknown") status = "healthy";
    else if (status === "unhealthy" && successes >= policy.healthy_after) status = "healthy";
  } else if (status !== "unhealthy" && failures >= policy.unhealthy_after) {
    status = "unhealthy";
  }
  const next: HealthState = {
    status,
    consecutiveFailures: failures,
    consecutiveSuccesses: successes,
  };
  return {
    state: next,
    ...(status !== state.status ? { transition: { from: state.status, to: status } } : {}),
    delayMs: nextCheckDelayMs(next, policy),
  };
}

/** Delay before the next active check for a state (see module doc). */
export function nextCheckDelayMs(state: HealthState, policy: HealthPolicy): number {
  const intervalMs = policy.interval_s * 1000;
  const down = state.status === "unhealthy" && state.consecutiveFailures > 0;
  const jitter = { jitter: policy.jitter, ...(policy.random ? { random: policy.random } : {}) };
  if (!down) return backoffDelayMs(0, { initialMs: intervalMs, maxMs: intervalMs, ...jitter });
  const k = Math.max(state.consecutiveFailures - policy.unhealthy_after, 0);
  // A cap below the interval never shortens checks: it only stops the growth.
  const maxMs = Math.max(policy.backoff_max_s * 1000, intervalMs);
  return backoffDelayMs(k, { initialMs: intervalMs, maxMs, ...jitter });
}
