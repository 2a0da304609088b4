/**
 * The proxy port's connection layer: our own accept loop in front of Deno's HTTP/1.1 server, so
 * that a hostile peer cannot exhaust descriptors or hold connections open for free. It
 *
 * - caps open connections (`proxy.max_connections`): past the cap a new connection gets a
 *   canned 503 with `Retry-After` and is closed, so descriptors never run out on our account;
 * - closes a connection that has not delivered a request head within `proxy.header_timeout_ms`
 *   and a keep-alive connection idle for `proxy.client_idle_timeout_ms` (never one whose request
 *   is still being answered);
 * - survives accept errors (EMFILE, ENFILE, ECONNABORTED …): it counts them, backs off from
 *   5 ms to 1 s and keeps accepting, instead of letting the error end the Worker.
 *
 * Each accepted connection is served by Deno's own HTTP server (`serveHttpOnConnection`, the
 * per-connection half of `Deno.serve`), which Deno exposes only through `Deno[Deno.internal]`.
 * Where a Deno build lacks it the listener falls back to `Deno.serve` and says so once.
 *
 * @module
 */
import type { DataPlaneMetrics, Logger } from "../telemetry/mod.ts";

/** The limits a reload may change. */
export interface ConnectionLimits {
  /** @default 512 */
  maxConnections: number;
  /** @default 10000 */
  headerTimeoutMs: number;
  /** @default 60000 */
  idleTimeoutMs: number;
}

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  maxConnections: 512,
  headerTimeoutMs: 10_000,
  idleTimeoutMs: 60_000,
};

type Handler = (req: Request, info: Deno.ServeHandlerInfo) => Response | Promise<Response>;

export interface ListenOptions {
  hostname: string;
  port: number;
  reusePort?: boolean;
  handler: Handler;
  onError: (err: unknown) => Response | Promise<Response>;
  limits?: Partial<ConnectionLimits>;
  metrics?: Pick<DataPlaneMetrics, "rejected" | "connections" | "acceptErrors">;
  log: Logger;
}

export interface ConnectionListener {
  readonly addr: Deno.NetAddr;
  readonly finished: Promise<void>;
  /** Open client connections. */
  openConnections(): number;
  setLimits(limits: Partial<ConnectionLimits>): void;
  /** Stops accepting and closes idle connections; busy ones close once their answer is sent. */
  drain(): void;
  /** Closes every connection at once, busy or not. */
  closeAll(): void;
  /** Settles when every connection has closed. */
  idle(): Promise<void>;
}

interface ServedConnection {
  finished: Promise<void>;
}

type ServeOnConnection = (
  conn: Deno.Conn,
  signal: AbortSignal,
  handler: Handler,
  onError: (err: unknown) => Response | Promise<Response>,
  onListen: () => void,
) => ServedConnection;

function internalServeOnConnection(): ServeOnConnection | undefined {
  // deno-lint-ignore no-explicit-any -- Deno's internal namespace is untyped
  const internal = (Deno as any)[(Deno as any).internal];
  const fn = internal?.serveHttpOnConnection;
  return typeof fn === "function" ? fn as ServeOnConnection : undefined;
}

const REFUSAL_BODY = JSON.stringify({
  error: {
    message: "The node has reached its connection limit (proxy.max_connections) — retry later",
    type: "server_error",
    param: null,
    code: "service_unavailable",
  },
});
const REFUSAL = new TextEncoder().encode(
  "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\n" +
    `connection: close\r\ncontent-length: ${REFUSAL_BODY.length}\r\n\r\n${REFUSAL_BODY}`,
);
/** Refusals being written at once; past it a connection over the cap is closed unanswered. */
const MAX_REFUSING = 64;
const ACCEPT_BACKOFF_MIN_MS = 5;
/** At shutdown, how long an answered connection has to flush before it is closed. */
const DRAIN_FLUSH_MS = 1_000;

/** Marks an answer as the connection's last, so the server closes it cleanly after sending. */
function closeAfter(res: Response): Response {
  try {
    res.headers.set("connection", "close");
  } catch {
    // immutable headers (a fetched Response): the drain timer closes the connection instead
  }
  return res;
}

/** At shutdown, how long a connection that has sent no request yet may still send one. */
const DRAIN_HEAD_GRACE_MS = 1_000;
const ACCEPT_BACKOFF_MAX_MS = 1_000;

class Connection {
  readonly abort = new AbortController();
  active = 0;
  /** Requests answered on it: a connection that served none may still be sending its first. */
  served = 0;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** When the pending timer fires; it may fire before `deadline` and then re-arms. */
  timerAt = Infinity;
  /** When an idle connection is closed (`performance.now()` ms); Infinity while busy. */
  deadline = Infinity;
  reason: "head_timeout" | "idle_timeout" = "head_timeout";
  /** Runs when a request's answer is complete (sent, failed or cancelled). */
  completed: () => void = () => {};
  constructor(readonly conn: Deno.Conn) {}
}

/** Binds the proxy port and serves it under the limits. */
export function listen(options: ListenOptions): ConnectionListener {
  const serveOn = internalServeOnConnection();
  if (serveOn === undefined) return fallback(options);
  const log = options.log;
  const metrics = options.metrics;
  const limits: ConnectionLimits = { ...DEFAULT_CONNECTION_LIMITS, ...options.limits };
  const listener = Deno.listen({
    hostname: options.hostname,
    port: options.port,
    transport: "tcp",
    ...(options.reusePort ? { reusePort: true } : {}),
  });
  const open = new Set<Connection>();
  let refusing = 0;
  let draining = false;
  let stopped = false;
  let idleWaiters: (() => void)[] = [];

  // Deadlines move on every request of a keep-alive connection, timers do not: a request only
  // moves `deadline`, and the one timer re-arms itself when it fires early. Clearing and
  // setting a timer per request was ~6% of the proxy's CPU at 50 connections (bench/README.md).
  const fire = (c: Connection) => {
    c.timer = undefined;
    c.timerAt = Infinity;
    if (c.active > 0) return; // the request's completion arms the idle deadline again
    const left = c.deadline - performance.now();
    if (left > 0) {
      c.timerAt = c.deadline;
      c.timer = setTimeout(fire, left, c);
      return;
    }
    metrics?.rejected.inc({ reason: c.reason });
    log.debug("Closing connection: {reason}", { reason: c.reason });
    c.abort.abort();
  };
  const arm = (c: Connection, ms: number, reason: "head_timeout" | "idle_timeout") => {
    const at = performance.now() + ms;
    c.deadline = at;
    c.reason = reason;
    if (c.timer !== undefined && c.timerAt <= at) return; // it fires first and re-arms
    clearTimeout(c.timer);
    c.timerAt = at;
    c.timer = setTimeout(fire, ms, c);
  };

  const closed = (c: Connection) => {
    clearTimeout(c.timer);
    open.delete(c);
    metrics?.connections.set(open.size);
    if (open.size === 0 && idleWaiters.length > 0) {
      const waiters = idleWaiters;
      idleWaiters = [];
      for (const w of waiters) w();
    }
  };

  const serve = (conn: Deno.Conn) => {
    const c = new Connection(conn);
    open.add(c);
    metrics?.connections.set(open.size);
    arm(c, limits.headerTimeoutMs, "head_timeout");
    c.completed = () => {
      c.active--;
      c.served++;
      if (c.active > 0) return;
      // `completed` can settle before the last bytes are flushed: a hard close now could cut
      // the answer short, so a draining connection gets a moment (it sent `connection: close`).
      if (draining) arm(c, DRAIN_FLUSH_MS, "idle_timeout");
      else arm(c, limits.idleTimeoutMs, "idle_timeout");
    };
    const handler: Handler = (req, info) => {
      c.active++;
      c.deadline = Infinity;
      // One reaction for both outcomes (not catch + finally: two more promises per request).
      info.completed.then(c.completed, c.completed);
      if (!draining) return options.handler(req, info);
      return Promise.resolve(options.handler(req, info)).then(closeAfter);
    };
    let served: ServedConnection;
    try {
      served = serveOn(conn, c.abort.signal, handler, options.onError, () => {});
    } catch (err) {
      log.warn("Cannot serve a connection: {error}", { error: String(err) });
      try {
        conn.close();
      } catch { /* already closed */ }
      closed(c);
      return;
    }
    served.finished.catch(() => {}).finally(() => closed(c));
  };

  const refuse = (conn: Deno.Conn) => {
    metrics?.rejected.inc({ reason: "connection_cap" });
    if (refusing >= MAX_REFUSING) {
      try {
        conn.close();
      } catch { /* already closed */ }
      return;
    }
    refusing++;
    const timer = setTimeout(() => {
      try {
        conn.close();
      } catch { /* already closed */ }
    }, 1_000);
    conn.write(REFUSAL).catch(() => 0).finally(() => {
      clearTimeout(timer);
      refusing--;
      try {
        conn.close();
      } catch { /* already closed */ }
    });
  };

  const finished = (async () => {
    let backoff = 0;
    let lastWarn = -Infinity;
    while (!stopped) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch (err) {
        if (stopped || err instanceof Deno.errors.BadResource) break;
        // EMFILE/ENFILE and friends: the socket stays in the backlog; try again after a pause
        // in which idle and head timeouts free descriptors.
        metrics?.acceptErrors.inc();
        backoff = Math.min(ACCEPT_BACKOFF_MAX_MS, Math.max(ACCEPT_BACKOFF_MIN_MS, backoff * 2));
        const now = performance.now();
        if (now - lastWarn > 10_000) {
          lastWarn = now;
          log.warn("Cannot accept on the proxy port: {error}; retrying in {ms} ms", {
            error: err instanceof Error ? err.message : String(err),
            ms: backoff,
          });
        }
        await new Promise((r) => setTimeout(r, backoff));
        continue;
      }
      backoff = 0;
      if (open.size >= limits.maxConnections) refuse(conn);
      else serve(conn);
    }
  })();

  return {
    addr: listener.addr as Deno.NetAddr,
    finished,
    openConnections: () => open.size,
    setLimits(next) {
      Object.assign(limits, next);
    },
    drain() {
      if (!stopped) {
        stopped = true;
        listener.close();
      }
      draining = true;
      for (const c of open) {
        if (c.active > 0) continue;
        // Idle keep-alive connections close now; a new one gets a moment to send its request.
        if (c.served > 0) c.abort.abort();
        else arm(c, Math.min(limits.headerTimeoutMs, DRAIN_HEAD_GRACE_MS), "head_timeout");
      }
    },
    closeAll() {
      this.drain();
      for (const c of open) c.abort.abort();
    },
    idle() {
      if (open.size === 0) return Promise.resolve();
      return new Promise<void>((resolve) => idleWaiters.push(resolve));
    },
  };
}

/** `Deno.serve` without connection limits, for Deno builds without the per-connection API. */
function fallback(options: ListenOptions): ConnectionListener {
  options.log.warn(
    "This Deno build has no per-connection HTTP API: proxy connection limits and head/idle " +
      "timeouts are not enforced",
  );
  const abort = new AbortController();
  const server = Deno.serve({
    hostname: options.hostname,
    port: options.port,
    ...(options.reusePort ? { reusePort: true } : {}),
    signal: abort.signal,
    onListen: () => {},
    onError: options.onError,
  }, options.handler);
  let shutdown: Promise<void> | null = null;
  return {
    addr: server.addr as Deno.NetAddr,
    finished: server.finished,
    openConnections: () => 0,
    setLimits() {},
    drain() {
      shutdown ??= server.shutdown();
    },
    closeAll() {
      abort.abort();
    },
    idle: () => server.finished,
  };
}
