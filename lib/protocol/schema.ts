/**
 * The relay protocol v1 (`docs/protocol.md`): the envelope, one payload schema per kind, and the
 * single kind ↔ schema ↔ direction table every other module reads.
 *
 * Objects are "loose": fields this version does not know are kept (and relayed) rather than
 * rejected, so a newer Portman or control plane can add optional fields without breaking v1
 * peers. Known fields are checked strictly.
 *
 * @module
 */
import { z } from "zod";
import { SlugEntrySchema } from "../control/mod.ts";

/** Protocol version this module speaks. Envelopes without `v` are version 1. */
export const PROTOCOL_VERSION = 1;

/** Identifier syntax shared by `msg_id`, `agent_id`, `site_id`, correlation ids. */
export const Id = z.string().regex(/^[A-Za-z0-9._:@/-]{1,128}$/, {
  error: "must be 1-128 characters from A-Z a-z 0-9 . _ : @ / -",
});
const Name = z.string().min(1).max(512);
const Text = z.string().max(4096);
const Count = z.number().int().min(0).max(1e12);
const Timestamp = z.iso.datetime({ offset: true, error: "must be an RFC 3339 timestamp" });

/** Wire values of `direction`; the long forms are aliases kept for the original crate. */
export const DirectionInput = z.enum(["up", "down", "upstream", "downstream"]);
export type Direction = "up" | "down";

export const MESSAGE_KINDS = [
  "register_agent",
  "heartbeat",
  "metrics",
  "offer_capacity",
  "directive_progress",
  "usage_report",
  "resource_profiles",
  "available_model_capacity",
  "preload_model",
  "evict_model",
  "assign_workload",
  "update_registry",
  "drain",
  "restart_agent",
  "ack",
  "error",
] as const;
export type MessageKind = (typeof MESSAGE_KINDS)[number];

/** Every `error.payload.code` this version defines (docs/protocol.md §7). */
export const ERROR_CODES = [
  "INVALID_ENVELOPE",
  "INVALID_PAYLOAD",
  "UNKNOWN_KIND",
  "WRONG_DIRECTION",
  "UNSUPPORTED_VERSION",
  "FRAME_TOO_LARGE",
  "NOT_REGISTERED",
  "AGENT_MISMATCH",
  "AGENT_UNAVAILABLE",
  "QUEUE_FULL",
  "UNAUTHORIZED",
  "INTERNAL",
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export const EnvelopeSchema = z.looseObject({
  msg_id: Id,
  site_id: Id.optional(),
  agent_id: Id.optional(),
  direction: DirectionInput,
  kind: z.string().regex(/^[a-z][a-z0-9_]{0,63}$/, { error: "must be a snake_case kind" }),
  ts: Timestamp.optional(),
  /** Protocol version; absent means 1. */
  v: z.number().int().min(1).max(1000).optional(),
  /** On `ack` and `error`: the `msg_id` of the message answered. */
  correlation_id: Id.optional(),
  /** On `directive_progress`: the `msg_id` of the directive it reports on. */
  directive_id: Id.optional(),
  payload: z.record(z.string(), z.unknown()),
}).meta({
  $id: "urn:labman:protocol:v1:envelope",
  title: "Envelope",
  description: "One JSON text frame on /agent or the control-plane link",
});
/** A decoded envelope: `direction` normalized, unknown fields kept for relaying. */
export interface Envelope {
  msg_id: string;
  site_id?: string;
  agent_id?: string;
  direction: Direction;
  kind: string;
  ts?: string;
  v?: number;
  correlation_id?: string;
  directive_id?: string;
  payload: Record<string, unknown>;
  [extension: string]: unknown;
}

// --- upstream payloads (Portman → control plane) ------------------------------------------

const Gpu = z.looseObject({
  index: z.number().int().min(0).max(1024),
  name: Name.optional(),
  memory_mb: Count.optional(),
});

export const RegisterAgentSchema = z.looseObject({
  agent_version: z.string().min(1).max(64),
  hostname: z.string().min(1).max(253).optional(),
  gpus: z.array(Gpu).max(1024).optional(),
  max_workloads: Count.optional(),
  models: z.array(Name).max(10_000).optional(),
});

export const HeartbeatSchema = z.looseObject({
  /** `disconnected` is sent by labman alone, on Portman's behalf, when its socket closes. */
  status: z.enum(["ready", "busy", "degraded", "draining", "disconnected"]),
  uptime_s: z.number().min(0).optional(),
  active_workloads: Count.optional(),
});

export const MetricsSchema = z.looseObject({
  gpus: z.array(z.looseObject({
    index: z.number().int().min(0).max(1024),
    utilization_pct: z.number().min(0).max(100).optional(),
    memory_used_mb: Count.optional(),
    memory_total_mb: Count.optional(),
    temperature_c: z.number().min(-100).max(200).optional(),
  })).max(1024).optional(),
  cpu_pct: z.number().min(0).optional(),
  memory_used_mb: Count.optional(),
});

export const OfferCapacitySchema = z.looseObject({
  slots: z.array(z.looseObject({
    model: Name,
    endpoint: Name.optional(),
    free: Count,
    max: Count.optional(),
  })).max(10_000),
  valid_for_s: z.number().positive().max(86_400).optional(),
});

export const DirectiveProgressSchema = z.looseObject({
  state: z.enum(["accepted", "running", "done", "failed"]),
  progress_pct: z.number().min(0).max(100).optional(),
  message: Text.optional(),
});

export const UsageEntrySchema = z.looseObject({
  tenant: Name.optional(),
  slug: Name.optional(),
  model: Name,
  endpoint: Name.optional(),
  requests: Count,
  prompt_tokens: Count,
  completion_tokens: Count,
  total_tokens: Count,
});
export type UsageEntry = z.infer<typeof UsageEntrySchema>;

export const UsageReportSchema = z.looseObject({
  period_start: Timestamp,
  period_end: Timestamp,
  /** `labman` for the proxy's own accounting, `portman` for the agent's. */
  source: z.enum(["labman", "portman"]).optional(),
  entries: z.array(UsageEntrySchema).max(100_000),
});

export const ResourceProfilesSchema = z.looseObject({
  profiles: z.array(z.looseObject({
    model: Name,
    memory_mb: Count,
    gpus: Count.optional(),
    max_concurrent: Count.optional(),
    context_length: Count.optional(),
  })).max(10_000),
});

export const AvailableModelCapacitySchema = z.looseObject({
  models: z.array(z.looseObject({
    model: Name,
    endpoint: Name.optional(),
    /** Requests that can start now without queueing; null when the endpoint has no limit. */
    free_slots: Count.nullable(),
    max_slots: Count.nullable(),
    healthy: z.boolean().optional(),
  })).max(100_000),
});

// --- downstream payloads (control plane → Portman or labman) ------------------------------

export const PreloadModelSchema = z.looseObject({
  model: Name,
  endpoint: Name.optional(),
  gpus: z.array(z.number().int().min(0).max(1024)).max(1024).optional(),
  priority: z.number().int().min(0).max(100).optional(),
  deadline_s: z.number().positive().max(86_400).optional(),
});

export const EvictModelSchema = z.looseObject({
  model: Name,
  endpoint: Name.optional(),
  force: z.boolean().optional(),
});

export const AssignWorkloadSchema = z.looseObject({
  workload_id: Id,
  model: Name,
  tenant: Name.optional(),
  slug: Name.optional(),
  replicas: z.number().int().min(1).max(1024).optional(),
  expires_at: Timestamp.optional(),
});

export const UpdateRegistrySchema = z.looseObject({
  /** Replaces the whole slug table, exactly like a heartbeat answer's `slugs`. */
  slugs: z.array(SlugEntrySchema).max(100_000),
});

export const DrainSchema = z.looseObject({
  reason: Text.optional(),
  deadline_s: z.number().positive().max(86_400).optional(),
});

export const RestartAgentSchema = z.looseObject({
  reason: Text.optional(),
});

// --- both ways ----------------------------------------------------------------------------

export const AckSchema = z.looseObject({
  status: z.enum(["accepted", "queued", "completed"]).optional(),
  message: Text.optional(),
});

export const ErrorPayloadSchema = z.looseObject({
  /** One of {@linkcode ERROR_CODES}; unknown codes from newer peers are kept as text. */
  code: z.string().regex(/^[A-Z][A-Z0-9_]{0,63}$/),
  message: Text,
  retryable: z.boolean().optional(),
});

/** Which way a kind may travel. */
export type KindDirection = "up" | "down" | "both";

/** The one table: kind → payload schema, permitted direction, envelope fields it requires. */
export const KINDS = {
  register_agent: { schema: RegisterAgentSchema, direction: "up" },
  heartbeat: { schema: HeartbeatSchema, direction: "up" },
  metrics: { schema: MetricsSchema, direction: "up" },
  offer_capacity: { schema: OfferCapacitySchema, direction: "up" },
  directive_progress: {
    schema: DirectiveProgressSchema,
    direction: "up",
    requires: "directive_id",
  },
  usage_report: { schema: UsageReportSchema, direction: "up" },
  resource_profiles: { schema: ResourceProfilesSchema, direction: "up" },
  available_model_capacity: { schema: AvailableModelCapacitySchema, direction: "up" },
  preload_model: { schema: PreloadModelSchema, direction: "down" },
  evict_model: { schema: EvictModelSchema, direction: "down" },
  assign_workload: { schema: AssignWorkloadSchema, direction: "down" },
  update_registry: { schema: UpdateRegistrySchema, direction: "down" },
  drain: { schema: DrainSchema, direction: "down" },
  restart_agent: { schema: RestartAgentSchema, direction: "down" },
  ack: { schema: AckSchema, direction: "both", requires: "correlation_id" },
  error: { schema: ErrorPayloadSchema, direction: "both" },
} as const satisfies Record<
  MessageKind,
  {
    schema: z.ZodType;
    direction: KindDirection;
    requires?: "correlation_id" | "directive_id";
  }
>;

export type PayloadOf<K extends MessageKind> = z.infer<(typeof KINDS)[K]["schema"]>;

export function isMessageKind(kind: string): kind is MessageKind {
  return Object.hasOwn(KINDS, kind);
}

/** Directives: down-only kinds a Portman answers with `ack`/`error` and `directive_progress`. */
export function isDirective(kind: string): boolean {
  return isMessageKind(kind) && KINDS[kind].direction === "down";
}
