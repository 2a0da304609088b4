/**
 * The one backoff formula: exponential growth to a cap, with "equal jitter" below it. Used by
 * control-plane retries, endpoint health checks, and the rosenpass and wireguard-go restarts.
 *
 * @module
 */

export interface BackoffOptions {
  /** First delay cap in ms. @default 1000 */
  initialMs?: number;
  /** Largest delay in ms (may be `Infinity`). @default 60000 */
  maxMs?: number;
  /**
   * Fraction of the delay that is random: the delay is uniform in `[c·(1 − jitter), c]`. 0 gives
   * exact doubling; 0.5 never waits less than half the cap. @default 0.5
   */
  jitter?: number;
  /** Uniform random in [0, 1). @default Math.random */
  random?: () => number;
}

/**
 * Delay before retry number `attempt` (0 = first retry): uniform in `[c·(1 − jitter), c]` with
 * `c = min(maxMs, initialMs · 2^attempt)`, at least 1 ms. The lower bound keeps a thundering herd
 * from collapsing to zero delays; the jitter spreads nodes that failed together; the cap holds
 * after jitter.
 */
export function backoffDelayMs(attempt: number, options: BackoffOptions = {}): number {
  const initial = options.initialMs ?? 1000;
  const max = options.maxMs ?? 60_000;
  const jitter = options.jitter ?? 0.5;
  if (!(initial > 0) || !(max >= initial)) {
    throw new RangeError(
      `Cannot compute backoff as 'initialMs' and 'maxMs' must satisfy 0 < initialMs <= maxMs: got ${initial} and ${max} — raise maxMs or lower initialMs`,
    );
  }
  if (!(jitter >= 0 && jitter <= 1)) {
    throw new RangeError(
      `Cannot compute backoff as 'jitter' must be in [0, 1]: got ${jitter} — use e.g. 0.5`,
    );
  }
  const cap = Math.min(max, initial * 2 ** Math.min(Math.max(0, attempt), 52));
  const r = jitter === 0 ? 1 : (options.random ?? Math.random)();
  return Math.max(1, Math.round(cap * (1 - jitter * (1 - r))));
}

/**
 * The wait before the next try: the backoff delay, raised to the server's `Retry-After` when it
 * asked for longer (capped at `maxRetryAfterMs` so a bad header cannot park the node for days).
 */
export function retryDelayMs(
  attempt: number,
  retryAfterS: number | undefined,
  options: BackoffOptions & { maxRetryAfterMs?: number } = {},
): number {
  const delay = backoffDelayMs(attempt, options);
  if (retryAfterS === undefined) return delay;
  const asked = Math.min(retryAfterS * 1000, options.maxRetryAfterMs ?? 600_000);
  return Math.max(delay, asked);
}
