/**
 * The labman configuration schema: one zod definition that gives validation, the TypeScript
 * types (`z.infer`) and the JSON Schema (`z.toJSONSchema`).
 *
 * Field-level checks live here; rules that relate several fields (invariant 2, key file modes,
 * unique names, …) live in `validate.ts` so that they can report several errors at once.
 *
 * @module
 */
import { z } from "zod";

/** Longest delay a JavaScript timer can wait (2³¹−1 ms, about 24.8 days); longer ones fire at once. */
export const MAX_TIMER_MS = 2_147_483_647;

const Duration = (defaultMs: number) =>
  z.number().int().min(1, { error: "must be at least 1 ms" }).max(MAX_TIMER_MS, {
    error:
      `must be at most ${MAX_TIMER_MS} ms (2^31-1, about 24.8 days: timers cannot wait longer)`,
  }).default(defaultMs);

/** Seconds fields feed timers too (×1000), so the same ceiling holds for them. */
const maxSeconds = {
  error: `must be at most ${Math.floor(MAX_TIMER_MS / 1000)} s (timers cannot wait longer)`,
};

const LogLevel = z.enum(["trace", "debug", "info", "warning", "error", "fatal"]);

export const ControlPlaneSchema = z.strictObject({
  /** Base URL of the control plane, e.g. `https://cp.example.net`. */
  base_url: z.string().min(1),
  /** Node token inline. Prefer `node_token_file` (mode 0600). */
  node_token: z.string().min(1).optional(),
  /** Path of a file (mode 0600) holding the node token. */
  node_token_file: z.string().min(1).optional(),
  region: z.string().min(1).optional(),
  description: z.string().min(1).optional(),
  request_timeout_ms: Duration(10_000),
  /** Used until registration returns the control plane's own interval. */
  heartbeat_interval_s: z.number().int().positive().max(MAX_TIMER_MS / 1000, maxSeconds)
    .default(15),
  retry_initial_ms: Duration(1_000),
  retry_max_ms: Duration(60_000),
});

export const WireGuardPeerSchema = z.strictObject({
  public_key: z.string().min(1),
  endpoint: z.string().min(1).optional(),
  allowed_ips: z.array(z.string().min(1)).default([]),
  persistent_keepalive_s: z.number().int().min(0).max(65535).default(25),
});

export const WireGuardSchema = z.strictObject({
  /** `off` is local mode: no tunnel, the proxy binds 127.0.0.1. */
  mode: z.enum(["auto", "kernel", "userspace", "off"]).default("auto"),
  interface_name: z.string().regex(/^[A-Za-z0-9_.-]{1,15}$/, {
    error: "must be 1-15 letters, digits, '_', '.' or '-' (a Linux interface name)",
  }).default("labman0"),
  /** Single /32 or /128; normally assigned by registration. */
  address: z.string().min(1).optional(),
  listen_port: z.number().int().min(0).max(65535).default(51820),
  private_key_path: z.string().min(1).default("/var/lib/labman/wireguard/private.key"),
  public_key_path: z.string().min(1).default("/var/lib/labman/wireguard/public.key"),
  /** Static control-plane peer, used before (or without) registration. */
  peer: WireGuardPeerSchema.optional(),
  /** Path or name of the userspace implementation. */
  wireguard_go: z.string().min(1).default("wireguard-go"),
});

export const RosenpassSchema = z.strictObject({
  enabled: z.boolean().default(true),
  binary: z.string().min(1).default("rosenpass"),
  secret_key_path: z.string().min(1).default("/var/lib/labman/rosenpass/pqsk"),
  public_key_path: z.string().min(1).default("/var/lib/labman/rosenpass/pqpk"),
  /** UDP address rosenpass listens on (node side). */
  listen: z.string().min(1).default("0.0.0.0:9999"),
  /** Static peer, used before (or without) registration. */
  peer_public_key_path: z.string().min(1).optional(),
  peer_endpoint: z.string().min(1).optional(),
  /** Runtime directory for the generated rosenpass config and key_out files. */
  state_dir: z.string().min(1).default("/run/labman/rosenpass"),
  /** A PSK older than this is replaced by a random one (fail closed). */
  key_lifetime_s: z.number().int().positive().max(MAX_TIMER_MS / 1000, maxSeconds).default(180),
});

export const ProxySchema = z.strictObject({
  listen_port: z.number().int().min(1).max(65535).default(8080),
  /** Override of the bind address; must equal the WireGuard address (or 127.0.0.1 in local mode). */
  listen_addr: z.string().min(1).optional(),
  max_body_bytes: z.number().int().positive().default(16 * 1024 * 1024),
  connect_timeout_ms: Duration(5_000),
  /** Time allowed until the upstream sends response headers. */
  first_byte_timeout_ms: Duration(300_000),
  /** Longest silence allowed between two chunks of an upstream body. */
  idle_timeout_ms: Duration(300_000),
  /** Requests that may wait when every endpoint for a model is full. */
  queue_max: z.number().int().min(0).default(256),
  queue_timeout_ms: Duration(30_000),
  /** Cap on open upstream connections per endpoint (idle + busy). */
  max_upstream_connections: z.number().int().positive().default(256),
  /** Retry once on another endpoint when connecting failed before any byte reached the client. */
  retry_connect_failures: z.boolean().default(true),
  /** Grace period for in-flight requests at shutdown. */
  shutdown_grace_ms: Duration(30_000),
  /** A new connection must deliver a complete request head within this; else it is closed. */
  header_timeout_ms: Duration(10_000),
  /** The whole request body must arrive within this (from its head); else 408 and close. */
  body_timeout_ms: Duration(60_000),
  /** A keep-alive connection with no request for this long is closed. */
  client_idle_timeout_ms: Duration(60_000),
  /** Open client connections on the proxy port; past it new ones get 503 and are closed. */
  max_connections: z.number().int().min(1).max(1_000_000).default(512),
  /** All request bodies held at once, together; past it a request gets 503 + Retry-After. */
  max_body_bytes_in_flight: z.number().int().positive().default(64 * 1024 * 1024),
});

export const AdminSchema = z.strictObject({
  enabled: z.boolean().default(true),
  /** Loopback only (invariant 3). */
  listen_addr: z.string().min(1).default("127.0.0.1"),
  listen_port: z.number().int().min(1).max(65535).default(9464),
});

export const PortmanSchema = z.strictObject({
  enabled: z.boolean().default(true),
  /** Loopback only (invariant 3). */
  listen_addr: z.string().min(1).default("127.0.0.1"),
  listen_port: z.number().int().min(1).max(65535).default(7070),
  /** Shared secret Portman sends as `Authorization: Bearer …`; created (mode 0600) if missing. */
  secret_file: z.string().min(1).default("/var/lib/labman/portman.secret"),
  /** Let a Portman that sends no credential in (original crate; single-user nodes only). */
  allow_unauthenticated: z.boolean().default(false),
  /** Largest frame accepted either way. */
  max_frame_bytes: z.number().int().min(1024).max(16 * 1024 * 1024).default(262_144),
  /** Idle connections are pinged after this; no pong closes them. */
  ping_interval_s: z.number().int().min(1).max(3600).default(20),
  /** Unsent bytes a Portman connection may hold before it is closed as a slow consumer. */
  send_buffer_bytes: z.number().int().min(65_536).default(1_048_576),
  /** Concurrent /agent + /observe connections. */
  max_connections: z.number().int().min(1).max(1024).default(16),
  /** Upstream messages kept while the control-plane link is down (oldest dropped beyond). */
  upstream_queue_messages: z.number().int().min(1).default(1000),
  upstream_queue_bytes: z.number().int().min(65_536).default(4_194_304),
  /** Directives held per disconnected agent, and for how long, before an `error` answers them. */
  directive_queue_max: z.number().int().min(1).max(100_000).default(100),
  directive_ttl_s: z.number().positive().max(86_400).default(60),
  /** Interval of labman's own `usage_report` and `available_model_capacity` messages. */
  report_interval_s: z.number().positive().max(86_400).default(30),
});

export const LoggingSchema = z.strictObject({
  level: LogLevel.default("info"),
  /** `auto`: text on a terminal, JSON lines otherwise. */
  format: z.enum(["auto", "text", "json"]).default("auto"),
});

export const HealthSchema = z.strictObject({
  interval_s: z.number().positive().max(MAX_TIMER_MS / 1000, maxSeconds).default(15),
  /** Fraction of the interval added or removed at random (0 = none). */
  jitter: z.number().min(0).max(0.5).default(0.1),
  timeout_ms: Duration(5_000),
  unhealthy_after: z.number().int().positive().default(3),
  healthy_after: z.number().int().positive().default(2),
  /** Longest gap between checks of an endpoint that is down (exponential backoff). */
  backoff_max_s: z.number().positive().max(MAX_TIMER_MS / 1000, maxSeconds).default(300),
});

/**
 * Which server software an endpoint runs; decides its health probe and capacity signals
 * (docs/endpoints.md). "auto" (the default) detects it from the server's own fingerprint;
 * "openai" is the generic behaviour: only `GET /v1/models`.
 */
export const EndpointKindSchema = z.enum([
  "auto",
  "openai",
  "ollama",
  "vllm",
  "llamacpp",
  "sglang",
  "tgi",
  "lmstudio",
  "mistralrs",
  "koboldcpp",
  "localai",
]);

export const EndpointSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, {
    error: "must be 1-64 letters, digits, '_', '.' or '-'",
  }),
  base_url: z.string().min(1),
  max_concurrent: z.number().int().positive().optional(),
  models_include: z.array(z.string().min(1)).optional(),
  models_exclude: z.array(z.string().min(1)).optional(),
  /** File holding a bearer key the endpoint wants (vLLM `--api-key`, …). */
  api_key_file: z.string().min(1).optional(),
  /** Absent means "auto" (kept optional so code building endpoint configs need not set it). */
  kind: EndpointKindSchema.optional(),
});

export const LabmanConfigSchema = z.strictObject({
  control_plane: ControlPlaneSchema.optional(),
  wireguard: WireGuardSchema.default(WireGuardSchema.parse({})),
  rosenpass: RosenpassSchema.default(RosenpassSchema.parse({})),
  proxy: ProxySchema.default(ProxySchema.parse({})),
  admin: AdminSchema.default(AdminSchema.parse({})),
  portman: PortmanSchema.default(PortmanSchema.parse({})),
  logging: LoggingSchema.default(LoggingSchema.parse({})),
  health: HealthSchema.default(HealthSchema.parse({})),
  endpoints: z.array(EndpointSchema).default([]),
});

export type LabmanConfig = z.infer<typeof LabmanConfigSchema>;
export type RosenpassConfig = z.infer<typeof RosenpassSchema>;
export type ProxyConfig = z.infer<typeof ProxySchema>;
export type HealthConfig = z.infer<typeof HealthSchema>;
export type LoggingConfig = z.infer<typeof LoggingSchema>;
export type EndpointConfig = z.infer<typeof EndpointSchema>;
export type EndpointKind = z.infer<typeof EndpointKindSchema>;
export type PortmanConfig = z.infer<typeof PortmanSchema>;
