/**
 * The one size-capped reader for bodies labman did not write (control-plane answers, model
 * lists, side probes, upstream error bodies). Memory grows with bytes received up to the cap,
 * never with what the peer declares; an unfinished stream is always cancelled.
 *
 * Request bodies on the proxy port have their own reader (`proxy/body_reader.ts`): they also
 * draw on a budget shared by every request in flight and on a whole-body deadline.
 *
 * @module
 */

/** Thrown by {@linkcode readCapped} in `"throw"` mode; callers match it with `instanceof`. */
export class BodyTooLargeError extends RangeError {
  constructor(readonly limit: number) {
    super(`Cannot read body: it is larger than ${limit} bytes — the peer sent more than allowed`);
    this.name = "BodyTooLargeError";
  }
}

export interface ReadCappedOptions {
  /**
   * What happens past `maxBytes`: `"throw"` a {@linkcode BodyTooLargeError}, or `"truncate"`
   * and return the first `maxBytes` bytes with `truncated: true`.
   * @default "throw"
   */
  overflow?: "throw" | "truncate";
}

export interface ReadCappedResult {
  bytes: Uint8Array;
  /** True when the body went on past `maxBytes` (only in `"truncate"` mode). */
  truncated: boolean;
}

/**
 * Reads `body` (a `Response.body`/`Request.body`, or null for none) up to `maxBytes`. Read
 * errors propagate; the stream is cancelled on every path that leaves it unfinished.
 */
export async function readCapped(
  body: ReadableStream<Uint8Array> | null,
  maxBytes: number,
  options: ReadCappedOptions = {},
): Promise<ReadCappedResult> {
  if (!(maxBytes >= 0)) {
    throw new RangeError(`Cannot read body as 'maxBytes' must be >= 0: got ${maxBytes}`);
  }
  if (body === null) return { bytes: new Uint8Array(0), truncated: false };
  const truncate = options.overflow === "truncate";
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let truncated = false;
  let finished = false;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) {
        finished = true;
        break;
      }
      if (size + value.byteLength > maxBytes) {
        if (!truncate) throw new BodyTooLargeError(maxBytes);
        chunks.push(value.subarray(0, maxBytes - size));
        size = maxBytes;
        truncated = true;
        break;
      }
      chunks.push(value);
      size += value.byteLength;
    }
  } finally {
    // An unfinished stream must not keep its connection or resource open.
    if (!finished) await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
  return { bytes: concat(chunks, size), truncated };
}

/** {@linkcode readCapped}, decoded as UTF-8 (invalid bytes become U+FFFD). */
export async function readCappedText(
  body: ReadableStream<Uint8Array> | null,
  maxBytes: number,
  options: ReadCappedOptions = {},
): Promise<{ text: string; truncated: boolean }> {
  const { bytes, truncated } = await readCapped(body, maxBytes, options);
  return { text: new TextDecoder().decode(bytes), truncated };
}

function concat(chunks: Uint8Array[], size: number): Uint8Array {
  if (chunks.length === 1 && chunks[0].byteLength === size) return chunks[0];
  const all = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.byteLength;
  }
  return all;
}
