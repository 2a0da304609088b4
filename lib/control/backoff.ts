/**
 * Jittered exponential backoff ("full jitter" over an exponentially growing cap, never below
 * half of it), shared by registration and heartbeat retries.
 *
 * @module
 */

export interface BackoffOptions {
  /** First delay cap in ms. @default 1000 */
  initialMs?: number;
  /** Largest delay in ms. @default 60000 */
  maxMs?: number;
  /** Uniform random in [0, 1). @default Math.random */
  random?: () => number;
}

/**
 * Delay before retry number `attempt` (0 = first retry): uniform in
 * `[cap/2, cap]` with `cap = min(maxMs, initialMs · 2^attempt)`. The lower bound keeps a
 * thundering herd from collapsing to zero delays; the jitter spreads nodes that failed together.
 */
export function backoffDelayMs(attempt: number, options: BackoffOptions = {}): number {
  const initial = options.initialMs ?? 1000;
  const max = options.maxMs ?? 60_000;
  const random = options.random ?? Math.random;
  if (!(initial > 0) || !(max >= initial)) {
    throw new RangeError(
      `Cannot compute backoff: need 0 < initialMs <= maxMs, got ${initial} and ${max}`,
    );
  }
  const cap = Math.min(max, initial * 2 ** Math.min(Math.max(0, attempt), 52));
  return Math.round(cap / 2 + (cap / 2) * random());
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
