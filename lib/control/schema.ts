/**
 * The control-plane HTTP contract, version 1: one zod definition per message gives validation
 * (client and reference server), the TypeScript types and the JSON Schemas in `docs/schemas/`.
 *
 * Requests the node sends are closed objects (`strictObject`): invariant 8 (minimal metadata)
 * means nothing beyond these fields ever leaves the node, and a server can reject anything else.
 * Responses are open objects: within v1 a control plane may add response fields, and nodes ignore
 * (strip) what they don't know.
 *
 * @module
 */
import { z } from "zod";

/** The `protocol_version` this module speaks; the URL prefix is `/api/v{PROTOCOL_VERSION}`. */
export const PROTOCOL_VERSION = 1;
/** Path prefix of every control-plane route. */
export const API_PREFIX = "/api/v1";

/** Standard base64 of 32 bytes: 43 symbols and one `=`. */
const BASE64_KEY32 = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;
/** Rosenpass static public key (Classic McEliece 460896) length in bytes. */
export const ROSENPASS_PUBLIC_KEY_BYTES = 524_160;
/** Its standard base64 length (524,160 is a multiple of 3, so there is no padding). */
export const ROSENPASS_PUBLIC_KEY_B64_CHARS = (ROSENPASS_PUBLIC_KEY_BYTES / 3) * 4;

/** `host:port`, `[v6]:port`; a hostname, IPv4 or bracketed IPv6 and a port 1–65535. */
const HOST_PORT =
  /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*):(?:6553[0-5]|655[0-2]\d|65[0-4]\d{2}|6[0-4]\d{3}|[1-5]\d{4}|[1-9]\d{0,3})$/;

/** A single-host interface address: IPv4 `/32` or IPv6 `/128` (invariant 1). */
const SINGLE_HOST_CIDR =
  /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}\/32|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*\/128)$/;

/** Opaque ids that are safe as one URL path segment. */
const NODE_ID = /^[A-Za-z0-9._~-]{1,128}$/;

const Count = z.number().int().min(0);
const Name = z.string().min(1).max(255);

export const Base64Key32Schema = z.string().regex(BASE64_KEY32).describe(
  "Standard base64 of a 32-byte key (44 characters)",
);
export const HostPortSchema = z.string().max(262).regex(HOST_PORT).describe(
  "host:port or [ipv6]:port",
);
export const CidrSchema = z.union([z.cidrv4(), z.cidrv6()]);

/**
 * One slug of the routing table: the only definition (the control plane sends it; the registry's
 * `SlugTable`, the data-plane messages and the reference control plane use this type). Not
 * strict, like every control-plane answer: fields a newer control plane adds are dropped.
 */
export const SlugEntrySchema = z.object({
  /** What clients put in `"model"`; opaque to labman. Model ids may be up to 512 too. */
  slug: z.string().min(1).max(512),
  tenant: z.string().min(1).max(256),
  /** Endpoint *name* from the node's config (never a URL). Absent: any endpoint serving `model`. */
  endpoint: z.string().min(1).max(64).optional(),
  model: z.string().min(1).max(512),
});

/** What the node can serve; derived from the endpoint registry. */
export const CapabilitiesSchema = z.strictObject({
  /** Model ids served by at least one endpoint (deduplicated). */
  models: z.array(z.string().min(1).max(512)).max(10_000),
  endpoint_count: Count,
  /** Sum of the endpoints' `max_concurrent`; `null` when any endpoint is unlimited. */
  max_concurrent_requests: Count.nullable(),
});

export const NodeInfoSchema = z.strictObject({
  /** The node's own hostname (never a LAN endpoint's). */
  name: Name,
  labman_version: z.string().min(1).max(64),
  region: z.string().min(1).max(128).optional(),
  description: z.string().min(1).max(1024).optional(),
});

export const RegisterRequestSchema = z.strictObject({
  protocol_version: z.literal(PROTOCOL_VERSION),
  node: NodeInfoSchema,
  capabilities: CapabilitiesSchema,
  wireguard_public_key: Base64Key32Schema,
  /** Base64 of the 524,160-byte Rosenpass public key (698,880 characters). */
  rosenpass_public_key: z.string().length(ROSENPASS_PUBLIC_KEY_B64_CHARS).regex(/^[A-Za-z0-9+/]+$/)
    .optional(),
}).meta({
  $id: "urn:labman:control-plane:v1:register_request",
  title: "RegisterRequest",
  description: "POST /api/v1/nodes/register (Authorization: Bearer <node token>)",
});

export const WireGuardPeerSchema = z.object({
  public_key: Base64Key32Schema,
  endpoint: HostPortSchema,
  /** Exactly the routes the node adds (invariant 1). */
  allowed_ips: z.array(CidrSchema).min(1).max(64),
  persistent_keepalive_s: z.number().int().min(0).max(65535).optional(),
});

export const RegisterResponseSchema = z.object({
  node_id: z.string().regex(NODE_ID),
  wireguard: z.object({
    address: z.string().regex(SINGLE_HOST_CIDR).describe("Single /32 or /128"),
    listen_port: z.number().int().min(0).max(65535).optional(),
    peer: WireGuardPeerSchema,
  }),
  rosenpass: z.object({
    peer_public_key: z.string().length(ROSENPASS_PUBLIC_KEY_B64_CHARS).regex(/^[A-Za-z0-9+/]+$/),
    peer_endpoint: HostPortSchema.optional(),
  }).optional(),
  /** Seconds between heartbeats; may be fractional. */
  heartbeat_interval_s: z.number().positive().max(3600),
  websocket_url: z.url({ protocol: /^wss?$/ }),
  slugs: z.array(SlugEntrySchema).max(100_000).optional(),
}).meta({
  $id: "urn:labman:control-plane:v1:register_response",
  title: "RegisterResponse",
  description: "200 answer to POST /api/v1/nodes/register",
});

export const NodeStateSchema = z.enum([
  "starting",
  "active",
  "maintenance",
  "draining",
  "stopping",
  "error",
]);
export const DesiredStateSchema = z.enum(["active", "maintenance", "draining"]);
export const PqStateSchema = z.enum(["active", "waiting", "stale", "disabled"]);
export const WireGuardBackendKindSchema = z.enum(["kernel", "userspace", "fake", "off"]);

export const EndpointStatusSchema = z.strictObject({
  /** Endpoint name from config; never its URL or host. */
  name: z.string().min(1).max(64),
  healthy: z.boolean(),
  models: z.array(z.string().min(1).max(512)).max(10_000),
  in_flight: Count,
  /** `null`: no limit configured. */
  max_concurrent: Count.nullable(),
});

export const HeartbeatRequestSchema = z.strictObject({
  state: NodeStateSchema,
  uptime_s: z.number().min(0),
  endpoints: z.array(EndpointStatusSchema).max(1024),
  requests: z.strictObject({
    total: Count,
    errors: Count,
    in_flight: Count,
    queue_depth: Count,
  }),
  pq: z.strictObject({
    state: PqStateSchema,
    psk_age_s: z.number().min(0).optional(),
  }),
  wireguard: z.strictObject({
    backend: WireGuardBackendKindSchema,
    last_handshake_age_s: z.number().min(0).optional(),
    rx_bytes: Count,
    tx_bytes: Count,
  }),
  /** Sent only when they changed since the last acknowledged registration or heartbeat. */
  capabilities: CapabilitiesSchema.optional(),
}).meta({
  $id: "urn:labman:control-plane:v1:heartbeat_request",
  title: "HeartbeatRequest",
  description: "POST /api/v1/nodes/{node_id}/heartbeat",
});

export const HeartbeatResponseSchema = z.object({
  desired_state: DesiredStateSchema,
  /** When present, replaces the node's whole slug table. */
  slugs: z.array(SlugEntrySchema).max(100_000).optional(),
  /** A new interval, used from the next heartbeat on. */
  heartbeat_interval_s: z.number().positive().max(3600).optional(),
}).meta({
  $id: "urn:labman:control-plane:v1:heartbeat_response",
  title: "HeartbeatResponse",
  description: "200 answer to POST /api/v1/nodes/{node_id}/heartbeat",
});

export const ErrorBodySchema = z.object({
  error: z.object({
    code: z.string().min(1).max(128),
    message: z.string().max(4096),
    retry_after_s: z.number().min(0).optional(),
  }),
}).meta({
  $id: "urn:labman:control-plane:v1:error",
  title: "ErrorBody",
  description: "Body of every non-2xx control-plane answer",
});

export type SlugEntry = z.infer<typeof SlugEntrySchema>;
export type Capabilities = z.infer<typeof CapabilitiesSchema>;
export type NodeInfo = z.infer<typeof NodeInfoSchema>;
export type RegisterRequest = z.infer<typeof RegisterRequestSchema>;
export type RegisterResponse = z.infer<typeof RegisterResponseSchema>;
export type NodeState = z.infer<typeof NodeStateSchema>;
export type DesiredState = z.infer<typeof DesiredStateSchema>;
export type PqState = z.infer<typeof PqStateSchema>;
export type EndpointStatus = z.infer<typeof EndpointStatusSchema>;
export type HeartbeatRequest = z.infer<typeof HeartbeatRequestSchema>;
export type HeartbeatResponse = z.infer<typeof HeartbeatResponseSchema>;
export type ErrorBody = z.infer<typeof ErrorBodySchema>;

/** Formats zod issues as `path: problem` lines, joined by `; `. */
export function formatIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 10)
    .map((i) => `${i.path.length ? i.path.join(".") : "(root)"}: ${i.message}`)
    .join("; ");
}
