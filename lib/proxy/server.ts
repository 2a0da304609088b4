/**
 * Puts the proxy handler on the network behind {@linkcode listen} (connection cap, head and
 * idle timeouts, accept-error backoff), with a bounded graceful shutdown.
 *
 * @module
 */
import { type DataPlaneMetrics, getLogger } from "../telemetry/mod.ts";
import { internalError } from "./errors.ts";
import { UpstreamError } from "./upstream_types.ts";
import type { ProxyHandler } from "./handler.ts";
import { type ConnectionLimits, listen } from "./listener.ts";

export type { ConnectionLimits } from "./listener.ts";

export interface ProxyServerOptions {
  /** The WireGuard address (or 127.0.0.1 in local mode); validated by the config layer. */
  hostname: string;
  /** 0 picks a free port (tests). */
  port: number;
  handler:
    | ProxyHandler
    | ((req: Request, info: Deno.ServeHandlerInfo) => Response | Promise<Response>);
  /** Aborting it shuts down at once, aborting in-flight requests. */
  signal?: AbortSignal;
  /**
   * Set SO_REUSEPORT so a successor data plane can bind the same address before this one stops
   * (reload with a wider permission set, without refusing a connection). @default false
   */
  reusePort?: boolean;
  /** Connection cap and head/idle timeouts. @default DEFAULT_CONNECTION_LIMITS */
  limits?: Partial<ConnectionLimits>;
  /** Counts refusals, open connections and accept errors. */
  metrics?: Pick<DataPlaneMetrics, "rejected" | "connections" | "acceptErrors">;
  /**
   * Aborts every in-flight request when the grace period ends; needed when `handler` is a
   * plain function that dispatches to a {@linkcode ProxyHandler}.
   */
  abortAll?: (reason: unknown) => void;
}

export interface ProxyServer {
  readonly addr: Deno.NetAddr;
  /** Settles when the server has stopped. */
  readonly finished: Promise<void>;
  /**
   * Stops accepting, lets in-flight requests finish for up to `graceMs`, then aborts them
   * (upstream requests included) and waits for the server to stop.
   */
  shutdown(graceMs?: number): Promise<void>;
  /** A reload may change the connection limits. */
  setLimits(limits: Partial<ConnectionLimits>): void;
  /** Open client connections. */
  openConnections(): number;
}

const log = getLogger("proxy");

/** A peer going away mid-answer: counted and logged by the handler, not a server error. */
function isDisconnect(err: unknown): boolean {
  if (
    err instanceof Deno.errors.BrokenPipe || err instanceof Deno.errors.ConnectionReset ||
    err instanceof Deno.errors.ConnectionAborted || err instanceof Deno.errors.Interrupted
  ) return true;
  const text = err instanceof Error ? err.message : String(err);
  return /connection closed|broken pipe|reset by peer|cancel/i.test(text);
}

/** Starts the proxy listener. */
export function startProxyServer(options: ProxyServerOptions): ProxyServer {
  const handler = options.handler;
  const fetch = typeof handler === "function" ? handler : handler.fetch.bind(handler);
  const abortAll = options.abortAll ??
    (typeof handler === "function" ? undefined : (why: unknown) => handler.abortAll(why));
  const listener = listen({
    hostname: options.hostname,
    port: options.port,
    ...(options.reusePort ? { reusePort: true } : {}),
    handler: fetch,
    ...(options.limits ? { limits: options.limits } : {}),
    ...(options.metrics ? { metrics: options.metrics } : {}),
    log,
    onError: (err) => {
      // A failed upstream body reaches here after the handler has already logged and counted
      // it, and so does a client that went away; anything else is a bug worth a stack trace.
      if (err instanceof UpstreamError) {
        log.debug("response body ended with an upstream error: {error}", { error: err.message });
      } else if (isDisconnect(err)) {
        log.debug("client went away mid-response: {error}", { error: String(err) });
      } else {
        log.error("Unhandled error in proxy handler: {error}", {
          error: err instanceof Error ? err.message : String(err),
        });
        log.debug("{stack}", { stack: err instanceof Error ? err.stack : String(err) });
      }
      return internalError();
    },
  });
  const addr = listener.addr;
  log.info("Proxy listening on {hostname}:{port}", { hostname: addr.hostname, port: addr.port });

  const done = Promise.withResolvers<void>();
  let stopping: Promise<void> | null = null;
  const shutdown = (graceMs = 30_000): Promise<void> => {
    if (stopping !== null) return stopping;
    stopping = (async () => {
      listener.drain();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const expired = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), Math.max(0, graceMs));
      });
      const timedOut = await Promise.race([listener.idle().then(() => false), expired]);
      clearTimeout(timer);
      if (timedOut) {
        if (typeof handler !== "function") {
          log.warn("Aborting {count} in-flight requests after {grace_ms} ms grace", {
            count: handler.inFlight(),
            grace_ms: graceMs,
          });
        }
        abortAll?.(new DOMException("Proxy is shutting down", "AbortError"));
        listener.closeAll();
      }
      await listener.finished;
      await listener.idle();
      done.resolve();
    })();
    return stopping;
  };

  options.signal?.addEventListener("abort", () => void shutdown(0), { once: true });
  if (options.signal?.aborted) void shutdown(0);

  return {
    addr,
    finished: done.promise,
    shutdown,
    setLimits: (limits) => listener.setLimits(limits),
    openConnections: () => listener.openConnections(),
  };
}
