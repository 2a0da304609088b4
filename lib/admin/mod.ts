/**
 * Loopback-only admin listener serving `/metrics`, `/healthz` and `/readyz`.
 *
 * @module
 */
export {
  type AdminServer,
  type AdminServerOptions,
  createAdminHandler,
  isLoopback,
  type Readiness,
  startAdminServer,
} from "./server.ts";
