/**
 * The endpoint registry: health checks and model discovery of the local OpenAI-compatible
 * endpoints, include/exclude globs, the slug table, and routing with leases and a bounded queue.
 *
 * ```ts
 * import { EndpointRegistry } from "./lib/registry/mod.ts";
 * const registry = new EndpointRegistry({ endpoints, apiKeys: {}, health, proxy });
 * await registry.start();
 * const got = await registry.router.acquire("llama3.1:8b");
 * if (got.ok) {
 *   try {
 *     // … proxy to got.lease.target.baseUrl with model got.lease.target.model …
 *   } finally {
 *     got.lease.release("ok");
 *   }
 * }
 * await registry.stop();
 * ```
 *
 * @module
 */
export {
  EndpointRegistry,
  type EndpointRegistryOptions,
  type EndpointStatus,
  type NodeCapabilities,
  type ReconfigureOptions,
  type ReconfigureResult,
  type RegistryMetrics,
} from "./registry.ts";
export {
  LeastOutstandingRouter,
  type RouteEndpoint,
  type RouterOptions,
  type RouterStats,
} from "./router.ts";
export { LOCAL_TENANT, SlugTable, type SlugTarget } from "./slugs.ts";
// `modelFiltersFor` (the supervisor's) loads picomatch only when called; the Worker never does.
export {
  type CompiledGlob,
  type CompiledModelFilter,
  modelFilterFrom,
  modelFiltersFor,
  type ModelMatcher,
} from "./model_filter.ts";
export {
  type HealthEvent,
  type HealthPolicy,
  type HealthState,
  type HealthStatus,
  type HealthStep,
  INITIAL_HEALTH,
  nextHealth,
} from "./health.ts";
export {
  probeEndpoint,
  type ProbeFailure,
  type ProbeFailureKind,
  type ProbeOptions,
  type ProbeResult,
} from "./discovery.ts";
export { type Dialect, dialectOf, DIALECTS, type ServerKind } from "./dialects.ts";
export {
  type Fingerprint,
  fingerprint,
  FINGERPRINT_PATHS,
  type FingerprintPath,
  type Observation,
  type Observations,
} from "./fingerprint.ts";
export { type IdentifyOptions, identifyServer } from "./identify.ts";
export type {
  AcquireOptions,
  AcquireResult,
  EndpointTarget,
  Lease,
  LeaseOutcome,
  ModelEntry,
  Router,
} from "./types.ts";
