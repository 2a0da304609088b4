/**
 * Loopback-only admin listener serving `/metrics`, `/healthz`, `/readyz` and the `/status` JSON
 * document (schema shared with `labman status`).
 *
 * @module
 */
export {
  type AdminServer,
  type AdminServerOptions,
  createAdminHandler,
  type Readiness,
  startAdminServer,
} from "./server.ts";
export {
  type AdminEndpoint,
  AdminEndpointSchema,
  type AdminStatus,
  AdminStatusSchema,
} from "./status.ts";
