/**
 * {@linkcode UpstreamPool}: a lean HTTP/1.1 keep-alive client for one plain-http origin on
 * `Deno.connect` with `TCP_NODELAY`. Measured well below Deno's `fetch` in added latency and
 * tail (docs/performance.md §2). Bounded connections, FIFO waiters, idle reuse, transparent
 * retry of the stale keep-alive race, and bodies emitted piece by piece as they arrive.
 *
 * @module
 */
import {
  CloseDelimitedTail,
  encodeRequestHead,
  findHeadEnd,
  HttpProtocolError,
  parseChunkSize,
  parseResponseHead,
  type ResponseHead,
  writeLatin1,
} from "./_http1.ts";
import {
  positive,
  type UpstreamClient,
  type UpstreamClientOptions,
  UpstreamError,
  type UpstreamRequest,
  type UpstreamResponse,
} from "./upstream_types.ts";
import { unbracketHost } from "../net/mod.ts";
// Keep-alive pool on Deno.connect

const LF = 10;
const CR = 13;
/** Per connection; SSE events are far smaller, larger bodies just take more reads. */
const READ_BUFFER_BYTES = 8 * 1024;
/** Head and body go out in one write up to this size (one segment with TCP_NODELAY). */
const SINGLE_WRITE_MAX = 64 * 1024;
const MAX_LINE_BYTES = 4096;

const BUSY = 0;
const IDLE = 1;
const CLOSED = 2;

const now = () => performance.now();

/** One TCP connection and its read buffer; carries at most one exchange at a time. */
class Connection {
  state = BUSY;
  buf = new Uint8Array(READ_BUFFER_BYTES);
  start = 0;
  end = 0;
  /** A read issued while idle (to notice the server closing); the next fill consumes it. */
  pending: Promise<number | null> | null = null;
  /** Requests started on this connection, the current one included. */
  exchanges = 0;
  /** Response bytes seen in the current exchange (0 → a stale keep-alive race is retryable). */
  received = 0;
  idleSince = 0;
  /** Counted in the pool's total; cleared exactly once when discarded. */
  counted = true;
  /** Set before the socket is closed on purpose: what pending I/O should fail with. */
  failure: unknown = undefined;
  signal: AbortSignal | undefined = undefined;
  source: BodySource | null = null;
  #deadline = Infinity;
  #deadlineMessage = "";
  #timer: ReturnType<typeof setTimeout> | undefined = undefined;
  #timerAt = Infinity;

  constructor(readonly tcp: Deno.TcpConn, readonly pool: UpstreamPool) {}

  /**
   * Bound once per connection so each exchange adds no closure. It stays registered on a signal
   * after the exchange (removing a listener was ~2% of the proxy's CPU per request): a signal
   * of an earlier exchange is told apart by identity, and re-adding the same listener to the
   * same signal is a no-op, so a long-lived signal holds at most one per connection.
   */
  readonly onAbort = (ev: Event): void => {
    const signal = this.signal;
    if (signal === undefined || ev.target !== signal) return;
    this.abortExchange(signal.reason ?? new DOMException("Aborted", "AbortError"));
  };

  readonly #onTimer = (): void => {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    if (this.state !== BUSY || this.#deadline === Infinity) return;
    if (now() >= this.#deadline) {
      this.abortExchange(new UpstreamError("timeout", this.#deadlineMessage));
    } else {
      this.setDeadline(this.#deadline, this.#deadlineMessage);
    }
  };

  beginExchange(signal: AbortSignal | undefined): void {
    this.exchanges++;
    this.received = 0;
    this.failure = undefined;
    this.signal = signal;
    signal?.addEventListener("abort", this.onAbort);
  }

  endExchange(): void {
    this.signal = undefined;
    this.source = null;
    this.#deadline = Infinity;
  }

  /**
   * One lazily re-armed timer per connection: moving the deadline later costs no timer call,
   * which keeps the per-chunk path free of setTimeout/clearTimeout.
   */
  setDeadline(at: number, message: string): void {
    this.#deadline = at;
    this.#deadlineMessage = message;
    if (at >= this.#timerAt) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(this.#onTimer, Math.max(0, at - now()));
  }

  clearDeadline(): void {
    this.#deadline = Infinity;
  }

  /** Fails the current exchange: errors the body stream if there is one, closes the socket. */
  abortExchange(reason: unknown): void {
    if (this.failure === undefined) this.failure = reason;
    const source = this.source;
    if (source !== null) source.abort(reason);
    else this.closeSocket();
  }

  closeSocket(): void {
    if (this.state === CLOSED) return;
    this.state = CLOSED;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Infinity;
    try {
      this.tcp.close();
    } catch {
      // already closed by the runtime
    }
  }

  async write(data: Uint8Array): Promise<void> {
    try {
      let off = await this.tcp.write(data);
      while (off < data.length) off += await this.tcp.write(data.subarray(off));
    } catch (err) {
      throw this.#mapIoError(err, "write request");
    }
  }

  /**
   * Reads more bytes into the buffer; false on EOF. Makes room by compacting, then growing.
   * One `then` on the read, no async frame: it runs for every streamed chunk.
   */
  fill(): Promise<boolean> {
    let pending = this.pending;
    this.pending = null;
    if (pending === null) {
      if (this.start === this.end) this.start = this.end = 0;
      if (this.end === this.buf.length) {
        if (this.start > 0) {
          this.buf.copyWithin(0, this.start, this.end);
          this.end -= this.start;
          this.start = 0;
        } else {
          const bigger = new Uint8Array(this.buf.length * 2);
          bigger.set(this.buf);
          this.buf = bigger;
        }
      }
      // The usual case reads into an empty buffer: no subarray view to allocate per read.
      pending = this.tcp.read(this.end === 0 ? this.buf : this.buf.subarray(this.end));
    }
    return pending.then(this.#filled, this.#fillFailed);
  }

  readonly #filled = (n: number | null): boolean => {
    if (this.failure !== undefined) throw this.failure;
    if (n === null) return false;
    this.end += n;
    this.received += n;
    return true;
  };

  readonly #fillFailed = (err: unknown): never => {
    throw this.#mapIoError(err, "read response");
  };

  /** Starts the idle read that notices a server closing this pooled connection. */
  watchIdle(): void {
    const pending = this.tcp.read(this.buf);
    this.pending = pending;
    const onSettled = () => {
      if (this.state === IDLE && this.pending === pending) this.pool.dropIdle(this);
    };
    pending.then(onSettled, onSettled);
  }

  #mapIoError(err: unknown, what: string): unknown {
    if (this.failure !== undefined) return this.failure;
    const detail = err instanceof Error ? err.message : String(err);
    return new UpstreamError("reset", `Cannot ${what} on ${this.pool.origin}: ${detail}`, {
      cause: err,
    });
  }
}

const CHUNK_SIZE = 0;
const CHUNK_DATA = 1;
const CHUNK_DATA_END = 2;
const CHUNK_TRAILER = 3;

/** Pull source for one response body; enqueues each piece as it arrives, never merging. */
class BodySource implements UnderlyingDefaultSource<Uint8Array> {
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  #done = false;
  #remaining: number;
  #chunkState = CHUNK_SIZE;
  #trailerBytes = 0;

  #sawFirstByte = false;

  constructor(
    readonly conn: Connection,
    readonly req: UpstreamRequest,
    readonly kind: "length" | "chunked" | "close",
    length: number,
    readonly keepAlive: boolean,
    readonly idleTimeoutMs: number,
    /** For close-delimited bodies: decides whether the end looks cut short. */
    readonly closeTail?: CloseDelimitedTail,
  ) {
    this.#remaining = length;
  }

  #emit(controller: ReadableStreamDefaultController<Uint8Array>, chunk: Uint8Array): void {
    if (!this.#sawFirstByte) {
      this.#sawFirstByte = true;
      this.req.onFirstByte?.();
    }
    this.req.onData?.(chunk);
    controller.enqueue(chunk);
  }

  start(controller: ReadableStreamDefaultController<Uint8Array>): void {
    this.#controller = controller;
  }

  pull(controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> | undefined {
    if (this.kind === "chunked") return this.#pullChunked(controller);
    return this.#pullOther(controller);
  }

  async #pullOther(controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    try {
      if (this.kind === "length") await this.#pullLength(controller);
      else await this.#pullClose(controller);
    } catch (err) {
      this.#fail(controller, err);
    }
  }

  /**
   * SSE's path, per chunk: parse what is buffered synchronously and, only when that emitted
   * nothing, read more and parse again, as promise reactions rather than nested async frames
   * (four of them per chunk before; bench/README.md).
   */
  #pullChunked(controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> | undefined {
    let more: Promise<void>;
    try {
      const need = this.#parseChunked(controller);
      if (need === null) return;
      more = this.#more(need);
    } catch (err) {
      this.#fail(controller, err);
      return;
    }
    return more.then(this.#pullAgain, this.#pullFailed);
  }

  // Bound once per body: a chunk's read then allocates no closures.
  readonly #pullAgain = (): Promise<void> | undefined => this.#pullChunked(this.#controller);
  readonly #pullFailed = (err: unknown): void => this.#fail(this.#controller, err);

  #fail(controller: ReadableStreamDefaultController<Uint8Array>, err: unknown): void {
    if (this.#done) return;
    this.#done = true;
    this.conn.endExchange();
    this.conn.pool.discard(this.conn);
    const error = err instanceof HttpProtocolError ? protocolError(this.conn, err) : err;
    controller.error(error);
    this.req.onBodyEnd?.("failed", error);
  }

  cancel(): void {
    if (this.#done) return;
    this.#done = true;
    this.conn.endExchange();
    this.conn.pool.discard(this.conn);
    this.req.onBodyEnd?.("cancelled");
  }

  /** Signal abort, timeout or pool close while the body is open. */
  abort(reason: unknown): void {
    if (this.#done) return;
    this.#done = true;
    this.conn.endExchange();
    this.conn.pool.discard(this.conn);
    this.#controller.error(reason);
    this.req.onBodyEnd?.("failed", reason);
  }

  #more(what: string): Promise<void> {
    const conn = this.conn;
    conn.setDeadline(
      now() + this.idleTimeoutMs,
      conn.pool.idleMessage(what),
    );
    this.#waitingFor = what;
    return conn.fill().then(this.#filled);
  }

  /** What #more is reading for, for the error if the connection closes meanwhile. */
  #waitingFor = "";
  readonly #filled = (ok: boolean): void => {
    const conn = this.conn;
    conn.clearDeadline();
    if (!ok) {
      throw new UpstreamError(
        "reset",
        `Cannot read response body from ${conn.pool.origin}: connection closed inside the ${this.#waitingFor}`,
      );
    }
  };

  #finish(controller: ReadableStreamDefaultController<Uint8Array>, reusable: boolean): void {
    this.#done = true;
    const conn = this.conn;
    conn.endExchange();
    if (reusable && conn.start === conn.end) conn.pool.release(conn);
    else conn.pool.discard(conn);
    controller.close();
    this.req.onBodyEnd?.("done");
  }

  async #pullLength(controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    const conn = this.conn;
    while (conn.end === conn.start) await this.#more("body data");
    const avail = conn.end - conn.start;
    const n = avail < this.#remaining ? avail : this.#remaining;
    this.#emit(controller, conn.buf.slice(conn.start, conn.start + n));
    conn.start += n;
    this.#remaining -= n;
    if (this.#remaining === 0) this.#finish(controller, this.keepAlive);
  }

  async #pullClose(controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    const conn = this.conn;
    if (conn.end === conn.start) {
      conn.setDeadline(now() + this.idleTimeoutMs, conn.pool.idleMessage("body data"));
      const ok = await conn.fill();
      conn.clearDeadline();
      if (!ok) {
        const why = this.closeTail?.truncated() ?? null;
        if (why !== null) {
          throw new UpstreamError(
            "reset",
            `Cannot read response body from ${conn.pool.origin}: ${why}`,
          );
        }
        return this.#finish(controller, false);
      }
    }
    const chunk = conn.buf.slice(conn.start, conn.end);
    this.closeTail?.feed(chunk);
    this.#emit(controller, chunk);
    conn.start = conn.end;
  }

  /**
   * Parses buffered chunked framing, emitting data: null once something was emitted or the body
   * ended, else what it is waiting for (the caller reads more and calls again).
   */
  #parseChunked(controller: ReadableStreamDefaultController<Uint8Array>): string | null {
    const conn = this.conn;
    let emitted = false;
    for (;;) {
      const buf = conn.buf;
      if (this.#chunkState === CHUNK_DATA) {
        const avail = conn.end - conn.start;
        if (avail > 0) {
          const n = avail < this.#remaining ? avail : this.#remaining;
          this.#emit(controller, buf.slice(conn.start, conn.start + n));
          emitted = true;
          conn.start += n;
          this.#remaining -= n;
          if (this.#remaining === 0) this.#chunkState = CHUNK_DATA_END;
          continue;
        }
      } else if (this.#chunkState === CHUNK_DATA_END) {
        if (conn.end > conn.start) {
          const c = buf[conn.start];
          if (c === LF) {
            conn.start += 1;
            this.#chunkState = CHUNK_SIZE;
            continue;
          }
          if (c !== CR) throw new HttpProtocolError("missing CRLF after chunk data");
          if (conn.end - conn.start >= 2) {
            if (buf[conn.start + 1] !== LF) {
              throw new HttpProtocolError("missing CRLF after chunk data");
            }
            conn.start += 2;
            this.#chunkState = CHUNK_SIZE;
            continue;
          }
        }
      } else {
        const lf = indexOfLf(buf, conn.start, conn.end);
        if (lf !== -1) {
          if (this.#chunkState === CHUNK_SIZE) {
            if (lf - conn.start > MAX_LINE_BYTES) {
              throw new HttpProtocolError("chunk line too long");
            }
            const size = parseChunkSize(buf, conn.start, lf);
            conn.start = lf + 1;
            if (size === 0) this.#chunkState = CHUNK_TRAILER;
            else {
              this.#remaining = size;
              this.#chunkState = CHUNK_DATA;
            }
            continue;
          }
          // Trailer fields are read and dropped; the blank line ends the message.
          const blank = lf === conn.start || (lf === conn.start + 1 && buf[conn.start] === CR);
          this.#trailerBytes += lf + 1 - conn.start;
          conn.start = lf + 1;
          if (blank) {
            this.#finish(controller, this.keepAlive);
            return null;
          }
          if (this.#trailerBytes > conn.pool.maxHeaderBytes) {
            throw new HttpProtocolError("trailer section too large");
          }
          continue;
        }
        if (conn.end - conn.start > MAX_LINE_BYTES) {
          throw new HttpProtocolError("chunk line too long");
        }
      }
      if (emitted) return null;
      return this.#chunkState === CHUNK_DATA ? "body data" : "chunk framing";
    }
  }
}

/**
 * First LF in `buf[from, to)`, or -1. Not `buf.indexOf`: it has no end bound and, once every
 * byte is consumed, would scan the stale rest of the 8 KiB buffer on every chunk.
 */
function indexOfLf(buf: Uint8Array, from: number, to: number): number {
  for (let i = from; i < to; i++) if (buf[i] === LF) return i;
  return -1;
}

function protocolError(conn: Connection, err: HttpProtocolError): UpstreamError {
  return new UpstreamError(
    "protocol",
    `Cannot read the response from ${conn.pool.origin}: ${err.reason}`,
    {
      cause: err,
    },
  );
}

interface Waiter {
  resolve(conn: Connection | null): void;
  reject(reason: unknown): void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

/**
 * HTTP/1.1 keep-alive client for one `http://host:port` origin, with a hard bound on open
 * connections (waiters queue FIFO) and transparent retry of the stale keep-alive race.
 */
export class UpstreamPool implements UpstreamClient {
  /** `http://host:port` as given by `URL.origin`. */
  readonly origin: string;
  readonly maxHeaderBytes: number;
  readonly #hostname: string;
  readonly #port: number;
  readonly #hostHeader: string;
  readonly #max: number;
  readonly #connectTimeoutMs: number;
  readonly #firstByteTimeoutMs: number;
  readonly #idleTimeoutMs: number;
  readonly #keepAliveMs: number;
  readonly #firstByteMessage: string;
  readonly #idleMessages = new Map<string, string>();
  #idle: Connection[] = [];
  #busy = new Set<Connection>();
  #waiters: Waiter[] = [];
  #total = 0;
  #closed = false;
  #sweepTimer: ReturnType<typeof setTimeout> | undefined = undefined;

  constructor(origin: string | URL, options: UpstreamClientOptions = {}) {
    const url = new URL(origin);
    if (url.protocol !== "http:") {
      throw new TypeError(
        `Cannot create UpstreamPool for ${url.origin}: only http:// is supported`,
      );
    }
    this.origin = url.origin;
    this.#hostname = unbracketHost(url.hostname);
    this.#port = url.port === "" ? 80 : Number(url.port);
    this.#hostHeader = url.host;
    this.#max = positive(options.maxConnections ?? 256, "maxConnections");
    this.#connectTimeoutMs = positive(options.connectTimeoutMs ?? 5_000, "connectTimeoutMs");
    this.#firstByteTimeoutMs = positive(
      options.firstByteTimeoutMs ?? 300_000,
      "firstByteTimeoutMs",
    );
    this.#idleTimeoutMs = positive(options.idleTimeoutMs ?? 300_000, "idleTimeoutMs");
    this.#keepAliveMs = positive(options.keepAliveMs ?? 30_000, "keepAliveMs");
    this.maxHeaderBytes = positive(options.maxHeaderBytes ?? 64 * 1024, "maxHeaderBytes");
    this.#firstByteMessage =
      `Cannot read the response from ${this.origin}: no headers within ${this.#firstByteTimeoutMs} ms`;
  }

  /** Deadline message for a body read; cached because `#more` runs for every chunk. */
  idleMessage(what: string): string {
    let message = this.#idleMessages.get(what);
    if (message === undefined) {
      message =
        `Cannot read the response from ${this.origin}: no ${what} for ${this.#idleTimeoutMs} ms`;
      this.#idleMessages.set(what, message);
    }
    return message;
  }

  /** Connection counts, for tests and status snapshots. */
  stats(): { total: number; idle: number; busy: number; waiting: number } {
    return {
      total: this.#total,
      idle: this.#idle.length,
      busy: this.#busy.size,
      waiting: this.#waiters.length,
    };
  }

  async request(req: UpstreamRequest): Promise<UpstreamResponse> {
    if (this.#closed) throw new TypeError(`Cannot send request to ${this.origin}: client closed`);
    const signal = req.signal;
    signal?.throwIfAborted();
    const path = this.#pathOf(req.url);
    const body = req.body;
    const head = encodeRequestHead(
      req.method,
      path,
      this.#hostHeader,
      req.headers,
      body === null ? null : body.length,
    );
    let first: Uint8Array;
    let second: Uint8Array | null = null;
    if (body !== null && body.length <= SINGLE_WRITE_MAX) {
      first = new Uint8Array(head.length + body.length);
      writeLatin1(head, first, 0);
      first.set(body, head.length);
    } else {
      first = new Uint8Array(head.length);
      writeLatin1(head, first, 0);
      if (body !== null && body.length > 0) second = body;
    }

    const startedAt = now();
    let conn = await this.#checkout(signal, false);
    for (let attempt = 0;; attempt++) {
      const reused = conn.exchanges > 0;
      conn.beginExchange(signal);
      try {
        conn.setDeadline(startedAt + this.#firstByteTimeoutMs, this.#firstByteMessage);
        await conn.write(first);
        if (second !== null) await conn.write(second);
        const head = await this.#readHead(conn, req.method);
        return this.#respond(conn, head, req);
      } catch (err) {
        conn.endExchange();
        this.discard(conn);
        const stale = reused && attempt === 0 && conn.received === 0 &&
          err instanceof UpstreamError && err.kind === "reset" && !signal?.aborted && !this.#closed;
        if (!stale) {
          throw err instanceof HttpProtocolError ? protocolError(conn, err) : err;
        }
        // Classic keep-alive race: the server closed the idle connection as we reused it.
        // Nothing was answered, so one retry on a fresh connection is safe.
        conn = await this.#checkout(signal, true);
      }
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#sweepTimer !== undefined) clearTimeout(this.#sweepTimer);
    this.#sweepTimer = undefined;
    const reason = new UpstreamError(
      "reset",
      `Cannot use the upstream client for ${this.origin}: it was closed`,
    );
    for (const waiter of this.#waiters.splice(0)) {
      waiter.signal?.removeEventListener("abort", waiter.onAbort);
      waiter.reject(reason);
    }
    for (const conn of this.#idle.splice(0)) this.discard(conn);
    for (const conn of [...this.#busy]) {
      conn.abortExchange(reason);
      this.discard(conn);
    }
  }

  /** Returns a connection whose exchange ended cleanly: to a waiter, else to the idle list. */
  release(conn: Connection): void {
    if (this.#closed || conn.state !== BUSY) return this.discard(conn);
    conn.start = 0;
    conn.end = 0;
    if (conn.buf.length > READ_BUFFER_BYTES) conn.buf = new Uint8Array(READ_BUFFER_BYTES);
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) {
      waiter.signal?.removeEventListener("abort", waiter.onAbort);
      waiter.resolve(conn);
      return;
    }
    this.#busy.delete(conn);
    conn.state = IDLE;
    conn.idleSince = now();
    this.#idle.push(conn);
    conn.watchIdle();
    if (this.#sweepTimer === undefined) {
      this.#sweepTimer = setTimeout(this.#sweep, this.#keepAliveMs);
    }
  }

  /** Closes a connection and frees its slot (idempotent). */
  discard(conn: Connection): void {
    conn.closeSocket();
    if (!conn.counted) return;
    conn.counted = false;
    this.#total--;
    this.#busy.delete(conn);
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) {
      waiter.signal?.removeEventListener("abort", waiter.onAbort);
      this.#total++;
      waiter.resolve(null);
    }
  }

  /** The server closed (or wrote to) an idle connection. */
  dropIdle(conn: Connection): void {
    const i = this.#idle.indexOf(conn);
    if (i !== -1) this.#idle.splice(i, 1);
    this.discard(conn);
  }

  readonly #sweep = (): void => {
    this.#sweepTimer = undefined;
    const cutoff = now() - this.#keepAliveMs;
    // The idle list is a stack: the oldest connections sit at the front.
    let expired = 0;
    while (expired < this.#idle.length && this.#idle[expired].idleSince <= cutoff) expired++;
    for (const conn of this.#idle.splice(0, expired)) this.discard(conn);
    if (this.#idle.length > 0 && !this.#closed) {
      const wait = this.#idle[0].idleSince + this.#keepAliveMs - now();
      this.#sweepTimer = setTimeout(this.#sweep, Math.max(10, wait));
    }
  };

  async #checkout(signal: AbortSignal | undefined, fresh: boolean): Promise<Connection> {
    if (this.#closed) throw new TypeError(`Cannot send request to ${this.origin}: client closed`);
    if (!fresh) {
      const idle = this.#idle.pop();
      if (idle !== undefined) {
        idle.state = BUSY;
        this.#busy.add(idle);
        return idle;
      }
    }
    if (this.#total >= this.#max) {
      const handed = await this.#wait(signal);
      if (handed !== null) return handed;
    } else {
      this.#total++;
    }
    try {
      const conn = await this.#connect(signal);
      this.#busy.add(conn);
      return conn;
    } catch (err) {
      this.#total--;
      const waiter = this.#waiters.shift();
      if (waiter !== undefined) {
        waiter.signal?.removeEventListener("abort", waiter.onAbort);
        this.#total++;
        waiter.resolve(null);
      }
      throw err;
    }
  }

  /** Waits for a released connection or a free slot (`null`: the slot is reserved for us). */
  #wait(signal: AbortSignal | undefined): Promise<Connection | null> {
    signal?.throwIfAborted();
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        signal,
        onAbort: () => {
          const i = this.#waiters.indexOf(waiter);
          if (i !== -1) this.#waiters.splice(i, 1);
          reject(signal!.reason);
        },
      };
      signal?.addEventListener("abort", waiter.onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  async #connect(signal: AbortSignal | undefined): Promise<Connection> {
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, this.#connectTimeoutMs);
    const onAbort = () => controller.abort();
    signal?.addEventListener("abort", onAbort, { once: true });
    let tcp: Deno.TcpConn;
    try {
      tcp = await Deno.connect({
        hostname: this.#hostname,
        port: this.#port,
        signal: controller.signal,
      });
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      const detail = timedOut
        ? `no answer within ${this.#connectTimeoutMs} ms`
        : err instanceof Error
        ? err.message
        : String(err);
      throw new UpstreamError("connect", `Cannot connect to ${this.origin}: ${detail}`, {
        cause: err,
      });
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    }
    tcp.setNoDelay(true);
    const conn = new Connection(tcp, this);
    if (this.#closed) {
      conn.counted = false;
      conn.closeSocket();
      throw new TypeError(`Cannot send request to ${this.origin}: client closed`);
    }
    return conn;
  }

  async #readHead(conn: Connection, method: string): Promise<ResponseHead> {
    let scanRel = 0;
    for (;;) {
      const headEnd = findHeadEnd(conn.buf, conn.start + scanRel, conn.end);
      if (headEnd !== -1) {
        if (headEnd - conn.start > this.maxHeaderBytes) throw this.#headTooLarge();
        const head = parseResponseHead(conn.buf, conn.start, headEnd, method);
        conn.start = headEnd;
        scanRel = 0;
        if (head.status >= 200) return head;
        if (head.status === 101) {
          throw new HttpProtocolError("unexpected 101 Switching Protocols");
        }
        continue; // 1xx interim response: the real one follows
      }
      const have = conn.end - conn.start;
      if (have >= this.maxHeaderBytes) throw this.#headTooLarge();
      // Rescan the last bytes too: the blank line may straddle two reads.
      scanRel = have > 3 ? have - 3 : 0;
      if (!(await conn.fill())) {
        throw new UpstreamError(
          "reset",
          `Cannot read response from ${this.origin}: connection closed before response headers`,
        );
      }
    }
  }

  #headTooLarge(): UpstreamError {
    return new UpstreamError(
      "protocol",
      `Cannot read the response from ${this.origin}: its head exceeds ${this.maxHeaderBytes} bytes`,
    );
  }

  #respond(conn: Connection, head: ResponseHead, req: UpstreamRequest): UpstreamResponse {
    conn.clearDeadline();
    const framing = head.framing;
    if (framing.kind === "none") {
      conn.endExchange();
      if (head.keepAlive && conn.start === conn.end) this.release(conn);
      else this.discard(conn);
      req.onFirstByte?.();
      req.onBodyEnd?.("done");
      return new PooledResponse(head, null);
    }
    if (framing.kind === "length" && conn.end - conn.start >= framing.length) {
      // The common small JSON answer: already complete, so skip the stream machinery.
      const bytes = conn.buf.slice(conn.start, conn.start + framing.length);
      conn.start += framing.length;
      conn.endExchange();
      if (head.keepAlive && conn.start === conn.end) this.release(conn);
      else this.discard(conn);
      req.onFirstByte?.();
      req.onBodyEnd?.("done");
      return new BufferedResponse(head, bytes);
    }
    const source = new BodySource(
      conn,
      req,
      framing.kind,
      framing.kind === "length" ? framing.length : 0,
      head.keepAlive,
      this.#idleTimeoutMs,
      framing.kind === "close" ? new CloseDelimitedTail(contentTypeOf(head.fields)) : undefined,
    );
    conn.source = source;
    return new PooledResponse(head, new ReadableStream<Uint8Array>(source, { highWaterMark: 0 }));
  }

  #pathOf(url: string): string {
    const origin = this.origin;
    if (url.startsWith(origin)) {
      const rest = url.slice(origin.length);
      if (rest.length === 0) return "/";
      const c = rest.charCodeAt(0);
      if ((c === 47 || c === 63) && isPlainPath(rest)) return c === 47 ? rest : "/" + rest;
    }
    const parsed = new URL(url);
    if (parsed.origin !== origin) {
      throw new TypeError(`Cannot send request to ${parsed.origin}: this client serves ${origin}`);
    }
    return parsed.pathname + parsed.search;
  }
}

/** `headers` is built from the parsed fields only if someone asks for it. */
class PooledResponse implements UpstreamResponse {
  readonly status: number;
  constructor(readonly head: ResponseHead, readonly body: ReadableStream<Uint8Array> | null) {
    this.status = head.status;
  }
  get headers(): Headers {
    return this.head.headers;
  }
  get fields(): ResponseHead["fields"] {
    return this.head.fields;
  }
}

/** A response whose whole body came with the head; `body` is only built if someone asks. */
class BufferedResponse implements UpstreamResponse {
  readonly status: number;
  #body: ReadableStream<Uint8Array> | null = null;
  constructor(readonly head: ResponseHead, readonly bytes: Uint8Array) {
    this.status = head.status;
  }
  get headers(): Headers {
    return this.head.headers;
  }
  get fields(): ResponseHead["fields"] {
    return this.head.fields;
  }

  get body(): ReadableStream<Uint8Array> {
    if (this.#body === null) {
      const bytes = this.bytes;
      this.#body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(bytes);
          controller.close();
        },
      });
    }
    return this.#body;
  }
}

/** No whitespace, controls or fragment: safe to put on the request line as is. */
function isPlainPath(path: string): boolean {
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c <= 32 || c === 127 || c === 35 || c > 126) return false;
  }
  return true;
}

function contentTypeOf(fields: readonly (readonly [string, string])[]): string | undefined {
  for (const [name, value] of fields) {
    if (name.length === 12 && name.toLowerCase() === "content-type") return value;
  }
  return undefined;
}
