/**
 * Upstream HTTP client for the proxy. Plain-http endpoints (the normal case: model servers on the
 * LAN or loopback) get {@linkcode UpstreamPool}, a lean HTTP/1.1 keep-alive client on
 * `Deno.connect` with `TCP_NODELAY`; measured well below Deno's `fetch` in added latency and tail
 * (docs/performance.md §2). https endpoints fall back to `fetch` with a dedicated
 * `Deno.createHttpClient`. Both sit behind {@linkcode UpstreamClient}.
 *
 * @module
 */
import type { ProxyConfig } from "../config/mod.ts";
import type { EndpointTarget } from "../registry/mod.ts";
import { FetchUpstreamClient } from "./fetch_upstream_client.ts";
import { UpstreamPool } from "./upstream_pool.ts";
import type { UpstreamClient, UpstreamClientOptions } from "./upstream_types.ts";

export { FetchUpstreamClient } from "./fetch_upstream_client.ts";
export { UpstreamPool } from "./upstream_pool.ts";
export {
  type BodyEnd,
  type UpstreamClient,
  type UpstreamClientOptions,
  UpstreamError,
  type UpstreamFailureKind,
  type UpstreamRequest,
  type UpstreamResponse,
} from "./upstream_types.ts";

/** Maps `proxy.*` config onto client options. */
export function upstreamOptionsFromConfig(proxy: ProxyConfig): UpstreamClientOptions {
  return {
    maxConnections: proxy.max_upstream_connections,
    connectTimeoutMs: proxy.connect_timeout_ms,
    firstByteTimeoutMs: proxy.first_byte_timeout_ms,
    idleTimeoutMs: proxy.idle_timeout_ms,
  };
}

/** Hands out one client per endpoint origin. */
export interface UpstreamClientFactory {
  clientFor(target: EndpointTarget): UpstreamClient;
  close(): void;
}

/** Creates a factory that keeps one {@linkcode UpstreamPool} (or fetch client) per origin. */
export function createUpstreamClients(options: UpstreamClientOptions = {}): UpstreamClientFactory {
  const byBaseUrl = new Map<string, UpstreamClient>();
  const byOrigin = new Map<string, UpstreamClient>();
  return {
    clientFor(target: EndpointTarget): UpstreamClient {
      const cached = byBaseUrl.get(target.baseUrl);
      if (cached !== undefined) return cached;
      const url = new URL(target.baseUrl);
      let client = byOrigin.get(url.origin);
      if (client === undefined) {
        if (url.protocol === "http:") client = new UpstreamPool(url.origin, options);
        else if (url.protocol === "https:") client = new FetchUpstreamClient(options);
        else {
          throw new TypeError(
            `Cannot create upstream client for ${target.endpoint}: unsupported scheme ${url.protocol}`,
          );
        }
        byOrigin.set(url.origin, client);
      }
      byBaseUrl.set(target.baseUrl, client);
      return client;
    },
    close(): void {
      for (const client of byOrigin.values()) client.close();
      byOrigin.clear();
      byBaseUrl.clear();
    },
  };
}
