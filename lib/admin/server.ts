/**
 * The loopback admin listener: `/metrics` (Prometheus), `/healthz` (process alive),
 * `/readyz` (serving), `/status` (JSON for `labman status`). It refuses to bind anything but
 * loopback (design invariant 3).
 *
 * @module
 */
import { isLoopbackHost } from "../net/mod.ts";
import type { AdminStatus } from "./status.ts";

export interface Readiness {
  ready: boolean;
  /** Human-readable reasons, shown in the `/readyz` body. */
  checks: Record<string, string>;
}

export interface AdminServerOptions {
  hostname: string;
  port: number;
  /** Prometheus exposition text. */
  metrics: () => Promise<string>;
  readiness: () => Promise<Readiness>;
  /** The `/status` document; without it `/status` answers 404. */
  status?: () => Promise<AdminStatus>;
}

export interface AdminServer {
  readonly addr: Deno.NetAddr;
  shutdown(): Promise<void>;
}

export function createAdminHandler(
  options: Pick<AdminServerOptions, "metrics" | "readiness" | "status">,
) {
  return async function adminHandler(req: Request): Promise<Response> {
    const { pathname } = new URL(req.url);
    if (req.method !== "GET" && req.method !== "HEAD") {
      return new Response("method not allowed\n", { status: 405, headers: { allow: "GET, HEAD" } });
    }
    switch (pathname) {
      case "/metrics":
        return new Response(await options.metrics(), {
          headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
        });
      case "/healthz":
        return new Response("ok\n");
      case "/readyz": {
        const r = await options.readiness();
        const body = Object.entries(r.checks).map(([k, v]) => `${k}: ${v}`).join("\n") + "\n";
        return new Response(`${r.ready ? "ready" : "not ready"}\n${body}`, {
          status: r.ready ? 200 : 503,
        });
      }
      case "/status":
        if (!options.status) return new Response("not found\n", { status: 404 });
        return Response.json(await options.status(), {
          headers: { "cache-control": "no-store" },
        });
      default:
        return new Response("not found\n", { status: 404 });
    }
  };
}

export function startAdminServer(options: AdminServerOptions): AdminServer {
  if (!isLoopbackHost(options.hostname)) {
    throw new RangeError(
      `Cannot start the admin listener on ${options.hostname}: it must bind loopback (127.0.0.1 or ::1)`,
    );
  }
  const server = Deno.serve({
    hostname: options.hostname,
    port: options.port,
    onListen() {},
  }, createAdminHandler(options));
  return {
    addr: server.addr,
    shutdown: () => server.shutdown(),
  };
}
