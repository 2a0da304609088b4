/**
 * The reference control plane: implements the v1 control-plane contract
 * (`docs/control-plane.md`) for tests, development and the README's first command.
 *
 * ```ts
 * import { startReferenceControlPlane } from "./lib/refcp/mod.ts";
 * await using cp = await startReferenceControlPlane({
 *   tokens: ["dev-token"],
 *   wireguard: { publicKey, endpoint: "192.0.2.1:51820", allowedIps: ["10.90.0.1/32"] },
 * });
 * console.log(cp.url, cp.nodes());
 * ```
 *
 * @module
 */
export {
  type ReferenceControlPlane,
  type ReferenceControlPlaneMode,
  type ReferenceControlPlaneOptions,
  type RefNode,
  type RequestLogEntry,
  startReferenceControlPlane,
} from "./server.ts";
export { AddressPool } from "./address_pool.ts";
export { createHandler, errorResponse, type HandlerOptions } from "./handler.ts";
export { ReferenceStore } from "./store.ts";
export { RelayHub, type RelayHubMessage, type RelayHubOptions } from "./relay_hub.ts";
