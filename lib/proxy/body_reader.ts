/**
 * Reads a client's request body under three bounds that hold whatever the peer declares: the
 * per-request limit (`proxy.max_body_bytes`), one budget shared by every body in flight
 * (`proxy.max_body_bytes_in_flight`) and a deadline for the whole body (`proxy.body_timeout_ms`).
 * Memory grows with bytes received, never with a declared `Content-Length`.
 *
 * @module
 */

/**
 * Bytes of request bodies held at once, across every request (and every handler a reload
 * creates). A body reserves as its bytes arrive and releases when the proxy no longer holds it.
 */
export class BodyBudget {
  #limit: number;
  #used = 0;
  constructor(limit: number) {
    this.#limit = limit;
  }
  /** Reserves `n` bytes; false (nothing reserved) when that would pass the limit. */
  tryReserve(n: number): boolean {
    if (this.#used + n > this.#limit) return false;
    this.#used += n;
    return true;
  }
  release(n: number): void {
    this.#used = Math.max(0, this.#used - n);
  }
  /** A reload may change the limit; bodies already reserved keep their bytes. */
  setLimit(limit: number): void {
    this.#limit = limit;
  }
  get used(): number {
    return this.#used;
  }
  get limit(): number {
    return this.#limit;
  }
}

export interface ReadBodyOptions {
  /** Largest body accepted. */
  maxBytes: number;
  /** Shared budget; the caller releases `reserved` once it drops the bytes. */
  budget?: BodyBudget;
  /** Deadline for the whole body, from the start of reading. */
  timeoutMs?: number;
}

/** How reading ended. `reserved` is what the caller must give back to the budget. */
export type ReadBodyResult =
  | { kind: "ok"; bytes: Uint8Array; reserved: number }
  | { kind: "too_large" }
  | { kind: "over_budget" }
  | { kind: "timeout"; received: number }
  | { kind: "failed"; error: unknown; received: number };

/**
 * Bodies up to this declared size are read with `req.bytes()`: Deno sizes that buffer from the
 * declared length, harmless when small, and it avoids building a `ReadableStream` per request
 * (those outlive young-generation GCs; the bench traced multi-ms pauses to them; docs/performance.md §3).
 */
const SMALL_BODY = 64 * 1024;

const PENDING = Symbol("pending");
/** Microtask turns a read already in memory takes to settle (2–4 with Deno 2.9), with margin. */
const QUICK_HOPS = 8;

/** `p`'s value if it settles within a few microtask turns (no I/O), else {@linkcode PENDING}. */
function settledWithin<T>(p: Promise<T>): Promise<T | typeof PENDING> {
  let later: Promise<typeof PENDING> = Promise.resolve(PENDING);
  for (let i = 0; i < QUICK_HOPS; i++) later = later.then((v) => v);
  return Promise.race([p, later]);
}

async function readSmall(
  req: Request,
  declared: number,
  options: ReadBodyOptions,
): Promise<ReadBodyResult> {
  const budget = options.budget;
  if (budget !== undefined && !budget.tryReserve(declared)) {
    req.body?.cancel().catch(() => {});
    return { kind: "over_budget" };
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const reading = req.bytes();
    // After a timeout nobody awaits it: its later rejection must not be unhandled.
    reading.catch(() => {});
    // A small body nearly always came with the head, and then Deno hands it over without I/O:
    // such a read needs no timer (arming and clearing one was ~4% of the proxy's CPU).
    const quick = await settledWithin(reading);
    if (quick !== PENDING) return { kind: "ok", bytes: quick, reserved: declared };
    const bytes = options.timeoutMs === undefined ? await reading : await Promise.race([
      reading,
      new Promise<null>((resolve) => {
        timer = setTimeout(() => resolve(null), options.timeoutMs);
      }),
    ]);
    if (bytes === null) {
      budget?.release(declared);
      // The pending read ends when the server closes the connection after our answer.
      return { kind: "timeout", received: 0 };
    }
    return { kind: "ok", bytes, reserved: declared };
  } catch (error) {
    budget?.release(declared);
    return { kind: "failed", error, received: 0 };
  } finally {
    clearTimeout(timer);
  }
}

/** Reads the body of `req` incrementally under the bounds of `options`. */
export async function readBody(req: Request, options: ReadBodyOptions): Promise<ReadBodyResult> {
  const { maxBytes, budget } = options;
  const declared = req.headers.get("content-length");
  if (declared !== null) {
    const n = Number(declared);
    if (n > maxBytes) {
      req.body?.cancel().catch(() => {});
      return { kind: "too_large" };
    }
    // Refuse up front what the budget cannot take; the reservation is still made per chunk.
    if (budget !== undefined && n > budget.limit - budget.used) {
      req.body?.cancel().catch(() => {});
      return { kind: "over_budget" };
    }
    if (n <= SMALL_BODY && Number.isInteger(n)) return await readSmall(req, n, options);
  }
  const stream = req.body;
  if (stream === null) return { kind: "ok", bytes: new Uint8Array(0), reserved: 0 };
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  let timedOut = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  if (options.timeoutMs !== undefined) {
    timer = setTimeout(() => {
      timedOut = true;
      reader.cancel(new DOMException("request body timeout", "TimeoutError")).catch(() => {});
    }, options.timeoutMs);
  }
  const giveBack = () => budget?.release(total);
  try {
    for (;;) {
      let step: ReadableStreamReadResult<Uint8Array>;
      try {
        step = await reader.read();
      } catch (error) {
        giveBack();
        return timedOut ? { kind: "timeout", received: total } : {
          kind: "failed",
          error,
          received: total,
        };
      }
      if (timedOut) {
        giveBack();
        return { kind: "timeout", received: total };
      }
      if (step.done) break;
      const chunk = step.value;
      if (total + chunk.length > maxBytes) {
        giveBack();
        reader.cancel().catch(() => {});
        return { kind: "too_large" };
      }
      if (budget !== undefined && !budget.tryReserve(chunk.length)) {
        giveBack();
        reader.cancel().catch(() => {});
        return { kind: "over_budget" };
      }
      total += chunk.length;
      chunks.push(chunk);
    }
  } finally {
    clearTimeout(timer);
  }
  if (chunks.length === 1) return { kind: "ok", bytes: chunks[0], reserved: total };
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return { kind: "ok", bytes: out, reserved: total };
}
