/**
 * Zero-config discovery of local LLM servers: which software listens where (by fingerprint,
 * not by port), which models it serves, and the `[[endpoints]]` tables to configure it.
 *
 * ```ts
 * import { renderEndpoints, planEndpoints, scanServers } from "./mod.ts";
 * const { servers } = await scanServers(); // loopback, well-known ports
 * console.log(renderEndpoints(planEndpoints(servers)));
 * ```
 *
 * @module
 */
export {
  DEFAULT_PORTS,
  expandHosts,
  type FoundServer,
  LOOPBACK_HOSTS,
  MAX_HOSTS,
  type ScanOptions,
  type ScanResult,
  scanServers,
  WELL_KNOWN_PORTS,
} from "./scan.ts";
export {
  mergeEndpoints,
  type MergeResult,
  planEndpoints,
  type PlannedEndpoint,
  renderEndpoint,
  renderEndpoints,
} from "./endpoints_toml.ts";
