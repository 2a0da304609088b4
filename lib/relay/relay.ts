/**
 * The relay as one unit: the Portman server, the router and (when registered) the control-plane
 * link, wired together. labmand starts it through `labmand/relay.ts`.
 *
 * @module
 */
import type { PortmanConfig } from "../config/mod.ts";
import type { SlugEntry } from "../control/mod.ts";
import type { Envelope } from "../protocol/mod.ts";
import { type PortmanServer, startPortmanServer } from "./portman_server.ts";
import { type AgentInfo, RelayRouter } from "./router.ts";
import { UpstreamLink, type UpstreamLink as Link, type UpstreamStats } from "./upstream_link.ts";

export interface RelayOptions {
  portman: PortmanConfig;
  /** Shared secret (null only when `allow_unauthenticated`). */
  secret: string | null;
  /**
   * Control-plane link; absent without a control plane. Without `url`/`token` it waits for
   * {@linkcode Relay.connectUpstream} (after registration), queueing upstream messages meanwhile.
   */
  upstream?: {
    url?: string;
    token?: string;
    /** @default 500 */
    retryInitialMs?: number;
    /** @default 30000 */
    retryMaxMs?: number;
  };
  /** Node id from registration, stamped as `site_id` on upstream messages. */
  siteId?: string;
  onUpdateRegistry?: (slugs: SlugEntry[]) => Promise<void>;
  onDrain?: (reason: string) => Promise<void>;
  /** Port override (0 = any) for tests. */
  port?: number;
}

export interface RelayStats {
  agents: AgentInfo[];
  upstream: UpstreamStats | null;
  counters: RelayRouter["counters"];
}

export interface Relay extends AsyncDisposable {
  readonly addr: Deno.NetAddr;
  /** Sends one of labman's own upstream messages. */
  sendOwn(env: Envelope): void;
  stats(): RelayStats;
  /** The control-plane link (tests drop it on purpose). */
  readonly link: Link | null;
  /** Dials (or re-dials) the control plane at `url`, stamping `siteId` on upstream messages. */
  connectUpstream(target: { url: string; token: string; siteId?: string }): void;
  stop(): Promise<void>;
}

export async function startRelay(options: RelayOptions): Promise<Relay> {
  const p = options.portman;
  let server: PortmanServer | null = null;
  let link: UpstreamLink | null = null;
  const router = new RelayRouter({
    sendUp: (env, text) => link?.send(env.msg_id, text),
    ...(options.onUpdateRegistry ? { onUpdateRegistry: options.onUpdateRegistry } : {}),
    ...(options.onDrain ? { onDrain: options.onDrain } : {}),
    onRelayed: (env) => server?.observe(env),
    onAgentsChanged: () => server?.agentsChanged(),
    ...(options.siteId ? { siteId: options.siteId } : {}),
    maxFrameBytes: p.max_frame_bytes,
    directiveQueueMax: p.directive_queue_max,
    directiveTtlMs: p.directive_ttl_s * 1000,
    maxHeldBytes: p.upstream_queue_bytes,
  });
  if (options.upstream) {
    link = new UpstreamLink({
      url: options.upstream.url,
      token: options.upstream.token,
      maxMessages: p.upstream_queue_messages,
      maxBytes: p.upstream_queue_bytes,
      maxFrameBytes: p.max_frame_bytes,
      ...(options.upstream.retryInitialMs
        ? { retryInitialMs: options.upstream.retryInitialMs }
        : {}),
      ...(options.upstream.retryMaxMs ? { retryMaxMs: options.upstream.retryMaxMs } : {}),
      onFrame: (text) => {
        router.fromControlPlane(text).then((confirmed) => {
          if (confirmed) link?.confirm(confirmed);
        }).catch(() => {});
      },
    });
  }
  server = await startPortmanServer({
    hostname: p.listen_addr,
    port: options.port ?? p.listen_port,
    router,
    secret: options.secret,
    allowUnauthenticated: p.allow_unauthenticated,
    pingIntervalS: p.ping_interval_s,
    sendBufferBytes: p.send_buffer_bytes,
    maxConnections: p.max_connections,
    maxFrameBytes: p.max_frame_bytes,
  });
  if (options.upstream?.url && options.upstream.token) link?.start();
  // Held directives expire on a clock, not only when an agent shows up.
  const expiry = setInterval(() => router.expire(), Math.min(1000, p.directive_ttl_s * 250));

  const relay: Relay = {
    addr: server.addr,
    link,
    sendOwn: (env) => router.sendOwn(env),
    connectUpstream(target) {
      if (!link) throw new TypeError("Cannot connect the relay: it was started without upstream");
      if (target.siteId) router.siteId = target.siteId;
      link.start({ url: target.url, token: target.token });
    },
    stats: () => ({
      agents: router.agents(),
      upstream: link?.stats() ?? null,
      counters: { ...router.counters },
    }),
    async stop() {
      clearInterval(expiry);
      await link?.stop();
      await server?.shutdown();
    },
    [Symbol.asyncDispose]() {
      return relay.stop();
    },
  };
  return relay;
}
