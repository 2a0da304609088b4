/**
 * The OpenAI-compatible proxy that runs in the data-plane Worker: a `(Request) => Response`
 * handler over the router contract, a keep-alive upstream client, and the listener.
 *
 * ```ts
 * import { createProxyHandler, createUpstreamClients, startProxyServer, upstreamOptionsFromConfig } from "./mod.ts";
 * const clients = createUpstreamClients(upstreamOptionsFromConfig(config.proxy));
 * const handler = createProxyHandler({ router, client: clients, proxy: config.proxy, metrics });
 * const server = startProxyServer({ hostname: wgAddress, port: config.proxy.listen_port, handler });
 * // later
 * await server.shutdown(config.proxy.shutdown_grace_ms);
 * clients.close();
 * ```
 *
 * @module
 */
export { createProxyHandler, type ProxyHandler, type ProxyHandlerOptions } from "./handler.ts";
export {
  type ConnectionLimits,
  type ProxyServer,
  type ProxyServerOptions,
  startProxyServer,
} from "./server.ts";
export { BodyBudget } from "./body_reader.ts";
export {
  type BodyEnd,
  createUpstreamClients,
  FetchUpstreamClient,
  type UpstreamClient,
  type UpstreamClientFactory,
  type UpstreamClientOptions,
  UpstreamError,
  type UpstreamFailureKind,
  upstreamOptionsFromConfig,
  UpstreamPool,
  type UpstreamRequest,
  type UpstreamResponse,
} from "./upstream_client.ts";
export { openAIError, type OpenAIErrorBody } from "./errors.ts";
export {
  extractUsage,
  mergeUsageRows,
  type TokenUsage,
  UsageLedger,
  type UsageRow,
} from "./usage.ts";
