/**
 * The control-plane client (contract v1, see `docs/control-plane.md`): zod schemas for every
 * message, one-shot calls ({@linkcode ControlPlaneClient}) and the register/heartbeat loops
 * ({@linkcode ControlSession}).
 *
 * ```ts
 * import { ControlPlaneClient, ControlSession } from "./lib/control/mod.ts";
 * const client = new ControlPlaneClient({ baseUrl: "https://cp.example.net", token });
 * const session = new ControlSession({
 *   client,
 *   node: { name: Deno.hostname(), labman_version: "0.1.0" },
 *   wireguardPublicKey,
 *   statusProvider: () => dataPlane.status(),
 *   onRegistered: (resp) => wireguard.up(resp.wireguard),
 *   onSlugs: (entries) => dataPlane.setSlugs(entries),
 * });
 * session.start();
 * // on shutdown:
 * await session.stop({ finalState: "stopping", deregister: true });
 * ```
 *
 * @module
 */
export {
  API_PREFIX,
  type Capabilities,
  type DesiredState,
  type ErrorBody,
  formatIssues,
  type HeartbeatRequest,
  HeartbeatRequestSchema,
  type HeartbeatResponse,
  HeartbeatResponseSchema,
  type NodeState,
  PROTOCOL_VERSION,
  type RegisterRequest,
  RegisterRequestSchema,
  type RegisterResponse,
  type SlugEntry,
  SlugEntrySchema,
} from "./schema.ts";
export {
  type CallOptions,
  type ControlPlaneApi,
  ControlPlaneClient,
  type ControlPlaneClientOptions,
} from "./client.ts";
export {
  ControlPlaneError,
  type ControlPlaneErrorKind,
  type ControlPlaneOperation,
  parseRetryAfter,
} from "./errors.ts";
export {
  ControlSession,
  type ControlSessionOptions,
  type HeartbeatStatus,
  type SessionLogger,
  type SessionState,
  type SleepFn,
  type StopOptions,
} from "./session.ts";
export {
  CONTROL_PLANE_SCHEMAS,
  controlPlaneJsonSchemas,
  renderJsonSchema,
} from "./schemas_json.ts";
