/**
 * The data plane: a permission-narrowed Worker running the registry and the OpenAI proxy.
 *
 * ```ts
 * import { startDataPlane } from "./lib/dataplane/mod.ts";
 * const dp = await startDataPlane(settings);
 * console.log(dp.addr);
 * await dp.shutdown(30_000);
 * ```
 *
 * @module
 */
export {
  type DataPlane,
  SHUTDOWN_MARGIN_MS,
  startDataPlane,
  type StartDataPlaneOptions,
} from "./host.ts";
export type { DataPlaneSettings, DataPlaneStatus, DiscoverySettings } from "./messages.ts";
export { dataPlanePermissions, endpointNetEntry } from "./permissions.ts";
export {
  discoverCapabilities,
  type DiscoverOptions,
  discoveryPermissions,
  REGISTRATION_DISCOVERY_MS,
} from "./discover.ts";
