/**
 * The one poller for tests. {@linkcode waitFor} answers "did it happen within t?" (also for
 * asserting that something never happens); {@linkcode until} throws when it did not.
 * Both are bounded in time and in iterations.
 *
 * @module
 */

/** Polls `fn` until it returns true, at most `timeoutMs`; returns the last result. */
export async function waitFor(
  fn: () => Promise<boolean> | boolean,
  timeoutMs: number,
  stepMs = 100,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 100_000; i++) {
    if (await fn()) return true;
    if (Date.now() + stepMs > deadline) return false;
    await new Promise((r) => setTimeout(r, stepMs));
  }
  return false;
}

/**
 * Polls `pred` until it returns something truthy and returns that; throws "timed out after
 * <t> ms waiting for <what>" otherwise. Polls every 5 ms at first, backing off to 50 ms, so
 * quick conditions stay quick and slow ones cost little.
 */
export async function until<T>(
  pred: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  what: string,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let step = 5;
  for (let i = 0; i < 100_000; i++) {
    const v = await pred();
    if (v) return v;
    if (Date.now() >= deadline) break;
    await new Promise((r) => setTimeout(r, Math.min(step, Math.max(1, deadline - Date.now()))));
    step = Math.min(step * 2, 50);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}
