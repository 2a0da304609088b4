/**
 * The upstream client contract shared by {@linkcode UpstreamPool} and the fetch fallback:
 * request/response shapes, options and the classified {@linkcode UpstreamError}.
 *
 * @module
 */
import type { HeaderFields } from "./_http1.ts";

/** How an upstream exchange failed; `connect` means no request byte was sent (safe to retry). */
export type UpstreamFailureKind = "connect" | "reset" | "timeout" | "protocol";

/** An upstream failure the proxy maps to 502/504 and a metric label. */
export class UpstreamError extends Error {
  override name = "UpstreamError";
  readonly kind: UpstreamFailureKind;
  constructor(kind: UpstreamFailureKind, message: string, options?: ErrorOptions) {
    super(message, options);
    this.kind = kind;
  }
}

/** How a response body ended, as reported to {@linkcode UpstreamRequest.onBodyEnd}. */
export type BodyEnd = "done" | "cancelled" | "failed";

export interface UpstreamRequest {
  method: string;
  /** Absolute URL; an {@linkcode UpstreamPool} accepts only URLs of its own origin. */
  url: string;
  /**
   * `Headers` or `[name, value]` pairs (cheaper: iterating `Headers` sorts and combines).
   * Hop-by-hop and framing fields are ignored; the client writes `host` and `content-length`.
   */
  headers: HeaderFields;
  body: Uint8Array | null;
  /** Aborting closes the upstream connection, before or during the body. */
  signal?: AbortSignal;
  /** Called once when the first body bytes are available (or the body turned out empty). */
  onFirstByte?: () => void;
  /**
   * Called with each piece of a streamed body as it is handed to the consumer (not for a body
   * that came whole with the head: that one is `bytes`). Lets a proxy observe the bytes, e.g.
   * keep the tail for usage accounting, without wrapping the stream in another one.
   */
  onData?: (chunk: Uint8Array) => void;
  /**
   * Called exactly once for every response `request()` resolves with, when its body is over:
   * `done` (complete; may run before `request()` resolves when the body came with the head),
   * `cancelled` (the consumer cancelled the stream) or `failed` (with the stream's error).
   * Lets a proxy hand `body` to the client untouched instead of wrapping it in another stream.
   */
  onBodyEnd?: (end: BodyEnd, error?: unknown) => void;
}

export interface UpstreamResponse {
  status: number;
  /** As received, hop-by-hop fields included: the caller decides what to forward. */
  readonly headers: Headers;
  /**
   * The same fields as pairs in arrival order, when the client parsed them itself: cheaper to
   * filter and hand to `new Response` than `headers`, which may then never be built.
   */
  readonly fields?: readonly (readonly [name: string, value: string])[];
  /** `null` when the response has no body (HEAD, 204, 304, `Content-Length: 0`). */
  readonly body: ReadableStream<Uint8Array> | null;
  /**
   * The whole body, when it arrived together with the head (small `Content-Length` answers).
   * Reading it instead of `body` skips a stream; the connection is already back in the pool.
   */
  readonly bytes?: Uint8Array;
}

export interface UpstreamClient {
  /**
   * Sends one request. Rejects with {@linkcode UpstreamError} on upstream failure, or with
   * `signal.reason` when aborted. Body stream errors carry the same kinds.
   */
  request(req: UpstreamRequest): Promise<UpstreamResponse>;
  /** Closes every connection; in-flight exchanges fail with kind `reset`. */
  close(): void;
}

export interface UpstreamClientOptions {
  /** Open connections per origin (idle + busy); further requests wait. @default 256 */
  maxConnections?: number;
  /** @default 5000 */
  connectTimeoutMs?: number;
  /** From the start of the exchange until response headers arrive. @default 300000 */
  firstByteTimeoutMs?: number;
  /** Longest wait for the next body bytes while the consumer is reading. @default 300000 */
  idleTimeoutMs?: number;
  /** Idle pooled connections are closed after this long. @default 30000 */
  keepAliveMs?: number;
  /** Limit on a response head (status line + fields). @default 65536 */
  maxHeaderBytes?: number;
}

/** Validates a numeric option. */
export function positive(value: number, name: string): number {
  if (!(value > 0) || !Number.isFinite(value)) {
    throw new RangeError(`Cannot create the upstream client: '${name}' must be a positive number`);
  }
  return value;
}
