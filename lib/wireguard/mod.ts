/**
 * WireGuard for labman: keys, the backend seam (kernel netlink or userspace wireguard-go),
 * and interface bring-up under invariant 1.
 *
 * ```ts
 * import { bringUp, peerRoutes, selectBackend, status } from "../wireguard/mod.ts";
 * const { backend } = await selectBackend("auto");
 * await bringUp({ backend, spec: { name: "labman0", address: "10.90.0.2/32", routes: peerRoutes(device) }, device });
 * console.log(await status(backend, "labman0"));
 * ```
 *
 * @module
 */
export type {
  BackendHealth,
  Base64Key,
  InterfaceSpec,
  WgAllowedIp,
  WgDevice,
  WgPeer,
  WireGuardBackend,
} from "./types.ts";
export {
  checkSecretDirMode,
  checkSecretFileMode,
  clampPrivateKey,
  decodeKey,
  encodeKey,
  generateKeyPair,
  generatePresharedKey,
  type KeyPair,
  type KeyPaths,
  keyPathsIn,
  publicKeyFromPrivate,
  readPrivateKey,
  writeKeyPair,
  writeSecretFile,
} from "./keys.ts";
export {
  type BackendMode,
  decideBackend,
  type KernelProbe,
  probeKernelWireGuard,
  selectBackend,
  type SelectDeps,
} from "./backend.ts";
export {
  bringUp,
  type BringUpOptions,
  type InterfaceStatus,
  peerRoutes,
  type PeerStatus,
  status,
  tearDown,
  validateInterfaceSpec,
  wireguardMetrics,
} from "./interface.ts";
export { UserspaceBackend, type UserspaceOptions } from "./userspace.ts";
export { KernelBackend, type KernelOptions } from "./kernel.ts";
export { pskTarget, setPeerPsk, type SetPeerPskOptions } from "./peer_psk.ts";
export { UapiError } from "./uapi.ts";
export { NetlinkError } from "./nlmsg.ts";
