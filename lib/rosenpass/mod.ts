/**
 * Rosenpass post-quantum PSKs for the WireGuard tunnel: key generation, the supervised
 * `rosenpass exchange-config` child, and the fail-closed PSK guard (design §4 invariant 6).
 *
 * ```ts
 * import { RosenpassSupervisor } from "./mod.ts";
 * const rp = new RosenpassSupervisor({ config: cfg.rosenpass, backend, iface: "labman0", peerWgPublicKey });
 * await rp.start();
 * rp.status(); // { state: "waiting" | "active" | "stale" | "disabled", psk_age_s, exchanges, restarts }
 * await rp.stop();
 * ```
 *
 * @module
 */
export {
  checkRosenpassKeyFiles,
  generateRosenpassKeys,
  type GenerateRosenpassKeysOptions,
  type GenerateRosenpassKeysResult,
  ROSENPASS_PUBLIC_KEY_BYTES,
  ROSENPASS_SECRET_KEY_BYTES,
  type RosenpassKeyPaths,
} from "./keys.ts";
export { resolveRosenpassBinary } from "./resolve_binary.ts";
export { renderRosenpassConfig, type RosenpassConfigInput } from "./config_file.ts";
export { parseRosenpassOutputLine, type RosenpassOutput } from "./output_parser.ts";
export { parseRosenpassKey, readRosenpassKey } from "./read_key.ts";
export { decidePsk, type GuardPolicy, type PqState } from "./psk_guard.ts";
export type { RosenpassChild, SpawnRosenpass } from "./child.ts";
export {
  type PskTarget,
  randomPsk,
  type RosenpassStatus,
  RosenpassSupervisor,
  type RosenpassSupervisorOptions,
} from "./supervisor.ts";
