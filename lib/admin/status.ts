/**
 * `GET /status` on the admin listener: labmand's state as one JSON document, so `labman status`
 * reads fields instead of scraping its own Prometheus text. The zod schema is the contract both
 * sides use: labmand builds an {@linkcode AdminStatus}, labman parses the answer with
 * {@linkcode AdminStatusSchema} (a labmand of another version is told apart from garbage).
 *
 * @module
 */
import { z } from "zod";

const Count = z.number().int().min(0);

export const AdminEndpointSchema = z.object({
  name: z.string(),
  healthy: z.boolean(),
  models: Count,
  in_flight: Count,
  /** Configured or detected server kind, e.g. "llamacpp"; null until detected. */
  kind: z.string().nullable(),
  /** ready, overloaded, loading or down; null before the first check. */
  condition: z.string().nullable(),
  /** The server's own slots and running requests, when it reports them. */
  server_slots: Count.optional(),
  server_running: Count.optional(),
});

export const AdminStatusSchema = z.object({
  /** Same answer as `/readyz`. */
  ready: z.boolean(),
  /** `name → reason`, as in the `/readyz` body. */
  checks: z.record(z.string(), z.string()),
  /** Absent while the data plane is not up. */
  endpoints: z.array(AdminEndpointSchema).optional(),
  requests: z.object({ total: Count, in_flight: Count, queue_depth: Count }).optional(),
  /** Absent without a tunnel (local mode). */
  wireguard: z.object({
    backend: z.string(),
    /** Seconds since the freshest peer handshake; null before the first. */
    last_handshake_age_s: z.number().min(0).nullable(),
  }).optional(),
  rosenpass: z.object({ state: z.string(), psk_age_s: z.number().min(0).optional() }).optional(),
});

export type AdminStatus = z.infer<typeof AdminStatusSchema>;
export type AdminEndpoint = z.infer<typeof AdminEndpointSchema>;
