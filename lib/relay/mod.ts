/**
 * The Portman ⇄ labman ⇄ control-plane relay (`docs/protocol.md`): a loopback WebSocket server
 * for Portman (`/agent`) and observers (`/observe`), a reconnecting link to the control plane,
 * and the router between them.
 *
 * ```ts
 * import { startRelay } from "./lib/relay/mod.ts";
 * await using relay = await startRelay({ portman, secret, upstream: { url, token } });
 * console.log(relay.stats().agents);
 * ```
 *
 * @module
 */
export { type Relay, type RelayOptions, type RelayStats, startRelay } from "./relay.ts";
export { type AgentInfo, type AgentLink, LABMAN_AGENT_ID, RelayRouter } from "./router.ts";
export { UpstreamLink, type UpstreamLinkOptions, type UpstreamStats } from "./upstream_link.ts";
export { type PortmanServer, startPortmanServer } from "./portman_server.ts";
export { BoundedQueue, type OverflowPolicy } from "./bounded_queue.ts";
export { ensurePortmanSecret } from "./secret.ts";
export { checkWebsocketUrl } from "./ws_url.ts";
export { createRelayMetrics } from "./metrics.ts";
// `labman dev` shows the relay end to end with a stand-in Portman client: product code, not a
// test double.
export { type FakePortman, startFakePortman } from "./fake_portman.ts";
export { freePortSync } from "./free_port.ts";
