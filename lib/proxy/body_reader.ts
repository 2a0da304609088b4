/**
 * Reads a client's request body under three bounds that hold whatever the peer declares: the
 * per-request limit (`proxy.max_body_bytes`), one budget shared by every body in flight
 * (`proxy.max_body_bytes_in_flight`) and a deadline for the whole body (`proxy.body_timeout_ms`).
 * Memory grows with bytes received, never with a declared `Content-Length`.
 *
 * @module
 */
import { type Deadline, DeadlineQueue } from "./deadlines.ts";

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

/** Slow bodies' deadlines share one timer (lib/proxy/deadlines.ts). */
const bodyDeadlines = new DeadlineQueue();

/** Microtask turns a read already in memory takes to settle (2–4 with Deno 2.9), with margin. */
const QUICK_HOPS = 8;

/**
 * One promise per read and, in the usual case, no timer at all: a small body nearly always came
 * with the head, and then `req.bytes()` settles within a few microtask turns without I/O. Only a
 * read still pending after {@linkcode QUICK_HOPS} turns gets a deadline, an entry in a queue
 * that shares one timer. (A `setTimeout`/`clearTimeout` pair per request, and later a race
 * against a chain of eight promises, were several % of the proxy's CPU; bench/README.md.)
 */
function readSmall(
  req: Request,
  declared: number,
  options: ReadBodyOptions,
): Promise<ReadBodyResult> {
  const budget = options.budget;
  if (budget !== undefined && !budget.tryReserve(declared)) {
    req.body?.cancel().catch(() => {});
    return Promise.resolve({ kind: "over_budget" });
  }
  const failed = (error: unknown): ReadBodyResult => {
    budget?.release(declared);
    return { kind: "failed", error, received: 0 };
  };
  const reading = req.bytes();
  const timeoutMs = options.timeoutMs;
  if (timeoutMs === undefined) {
    return reading.then((bytes) => ({ kind: "ok", bytes, reserved: declared }), failed);
  }
  return new Promise<ReadBodyResult>((resolve) => {
    let done = false;
    let deadline: Deadline | null = null;
    reading.then((bytes) => {
      if (done) return;
      done = true;
      deadline?.cancel();
      resolve({ kind: "ok", bytes, reserved: declared });
    }, (error) => {
      if (done) return;
      done = true;
      deadline?.cancel();
      resolve(failed(error));
    });
    // Microtasks, not promises: counting turns this way allocates nothing per turn.
    let hops = 0;
    const wait = () => {
      if (done) return;
      if (++hops < QUICK_HOPS) return queueMicrotask(wait);
      deadline = bodyDeadlines.add(timeoutMs, () => {
        if (done) return;
        done = true;
        budget?.release(declared);
        // The pending read ends when the server closes the connection after our answer.
        resolve({ kind: "timeout", received: 0 });
      });
    };
    queueMicrotask(wait);
  });
}

/** Reads the body of `req` under the bounds of `options`. */
export function readBody(req: Request, options: ReadBodyOptions): Promise<ReadBodyResult> {
  const { maxBytes, budget } = options;
  const declared = req.headers.get("content-length");
  if (declared !== null) {
    const n = Number(declared);
    if (n > maxBytes) {
      req.body?.cancel().catch(() => {});
      return Promise.resolve({ kind: "too_large" });
    }
    // Refuse up front what the budget cannot take; the reservation is still made per chunk.
    if (budget !== undefined && n > budget.limit - budget.used) {
      req.body?.cancel().catch(() => {});
      return Promise.resolve({ kind: "over_budget" });
    }
    if (n <= SMALL_BODY && Number.isInteger(n)) return readSmall(req, n, options);
  }
  return readStreamed(req, options);
}

/** Bodies of unknown or large size: chunk by chunk, reserving as bytes arrive. */
async function readStreamed(req: Request, options: ReadBodyOptions): Promise<ReadBodyResult> {
  const { maxBytes, budget } = options;
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
