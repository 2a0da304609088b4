/**
 * Loopback-only admin listener serving `/metrics`, `/healthz` and `/readyz`.
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
