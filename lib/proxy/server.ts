/**
 * Puts the proxy handler on the network with `Deno.serve`, with a bounded graceful shutdown.
 *
 * @module
 */
import { getLogger } from "../telemetry/mod.ts";
import { internalError } from "./errors.ts";
import type { ProxyHandler } from "./handler.ts";

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
}

const log = getLogger("proxy");

/** Starts the proxy listener. */
export function startProxyServer(options: ProxyServerOptions): ProxyServer {
  const handler = options.handler;
  const fetch = typeof handler === "function" ? handler : handler.fetch.bind(handler);
  const server = Deno.serve({
    hostname: options.hostname,
    port: options.port,
    ...(options.reusePort ? { reusePort: true } : {}),
    onListen: () => {},
    onError: (err) => {
      // A failed upstream body reaches here after the handler has already logged and counted
      // it; anything else is a bug worth a stack trace at debug level.
      if (err instanceof Error && err.name === "UpstreamError") {
        log.debug("response body ended with an upstream error: {error}", { error: err.message });
      } else {
        log.error("Unhandled error in proxy handler: {error}", {
          error: err instanceof Error ? err.message : String(err),
        });
        log.debug("{stack}", { stack: err instanceof Error ? err.stack : String(err) });
      }
      return internalError();
    },
  }, fetch);
  const addr = server.addr as Deno.NetAddr;
  log.info("Proxy listening on {hostname}:{port}", { hostname: addr.hostname, port: addr.port });

  let stopping: Promise<void> | null = null;
  const shutdown = (graceMs = 30_000): Promise<void> => {
    if (stopping !== null) return stopping;
    stopping = (async () => {
      const graceful = server.shutdown();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const expired = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), Math.max(0, graceMs));
      });
      const timedOut = await Promise.race([graceful.then(() => false), expired]);
      clearTimeout(timer);
      if (timedOut && typeof handler !== "function") {
        log.warn("Aborting {count} in-flight requests after {grace_ms} ms grace", {
          count: handler.inFlight(),
          grace_ms: graceMs,
        });
        handler.abortAll(new DOMException("Proxy is shutting down", "AbortError"));
      }
      await graceful;
      await server.finished;
    })();
    return stopping;
  };

  options.signal?.addEventListener("abort", () => void shutdown(0), { once: true });
  if (options.signal?.aborted) void shutdown(0);

  return { addr, finished: server.finished, shutdown };
}
