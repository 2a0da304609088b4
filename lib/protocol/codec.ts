/**
 * Pure codec for relay frames: text → checked envelope, and envelope → text. One straight-line
 * function per direction; every failure names the field and the protocol error code to answer.
 *
 * @module
 */
import type { z } from "zod";
import {
  type Direction,
  type Envelope,
  EnvelopeSchema,
  type ErrorCode,
  isMessageKind,
  KINDS,
  type MessageKind,
  type PayloadOf,
  PROTOCOL_VERSION,
} from "./schema.ts";

/** A frame that cannot be accepted, with the code and text of the `error` to answer it with. */
export class ProtocolError extends Error {
  override readonly name = "ProtocolError";
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** The offending frame's `msg_id` when it could be read: the answer's `correlation_id`. */
    readonly correlationId?: string,
  ) {
    super(message);
  }
}

export interface DecodeOptions {
  /** Frames longer than this (UTF-16 code units ≈ bytes for JSON) are refused. @default 262144 */
  maxFrameBytes?: number;
  /** Direction the frame must travel; `undefined` accepts either. */
  expect?: Direction;
}

function fieldPath(issue: z.core.$ZodIssue, prefix: string): string {
  const p = issue.path.map((s) => typeof s === "number" ? `[${s}]` : `.${String(s)}`).join("");
  return `${prefix}${p}`.replace(/^\./, "");
}

function describe(error: z.ZodError, prefix: string): string {
  return error.issues.slice(0, 3).map((i) => `${fieldPath(i, prefix) || "frame"}: ${i.message}`)
    .join("; ");
}

/** Normalizes the wire aliases `upstream`/`downstream`. */
export function normalizeDirection(d: string): Direction {
  return d === "upstream" || d === "up" ? "up" : "down";
}

/**
 * Decodes and validates one text frame. Throws {@linkcode ProtocolError}; the returned envelope
 * keeps unknown fields (forward compatibility) and has `direction` normalized to `up`/`down`.
 */
export function decodeEnvelope(text: string, options: DecodeOptions = {}): Envelope {
  const max = options.maxFrameBytes ?? 262_144;
  if (text.length > max) {
    throw new ProtocolError("FRAME_TOO_LARGE", `frame of ${text.length} bytes exceeds ${max}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ProtocolError("INVALID_ENVELOPE", `frame is not JSON: ${(err as Error).message}`);
  }
  const msgId = typeof raw === "object" && raw !== null && !Array.isArray(raw) &&
      typeof (raw as Record<string, unknown>).msg_id === "string" &&
      EnvelopeSchema.shape.msg_id.safeParse((raw as Record<string, unknown>).msg_id).success
    ? (raw as Record<string, string>).msg_id
    : undefined;
  const env = EnvelopeSchema.safeParse(raw);
  if (!env.success) {
    throw new ProtocolError("INVALID_ENVELOPE", describe(env.error, ""), msgId);
  }
  const e = env.data as Envelope;
  e.direction = normalizeDirection(env.data.direction);
  if ((e.v ?? 1) > PROTOCOL_VERSION) {
    throw new ProtocolError(
      "UNSUPPORTED_VERSION",
      `v: ${e.v} is newer than this relay's version ${PROTOCOL_VERSION}`,
      e.msg_id,
    );
  }
  if (!isMessageKind(e.kind)) {
    throw new ProtocolError("UNKNOWN_KIND", `kind: unknown kind "${e.kind}"`, e.msg_id);
  }
  const spec: { direction: string; requires?: string; schema: z.ZodType } = KINDS[e.kind];
  if (spec.direction !== "both" && spec.direction !== e.direction) {
    throw new ProtocolError(
      "WRONG_DIRECTION",
      `direction: ${e.kind} travels only "${spec.direction}", got "${e.direction}"`,
      e.msg_id,
    );
  }
  if (options.expect && e.direction !== options.expect) {
    throw new ProtocolError(
      "WRONG_DIRECTION",
      `direction: this link accepts only "${options.expect}", got "${e.direction}"`,
      e.msg_id,
    );
  }
  if (spec.requires && e[spec.requires as "correlation_id"] === undefined) {
    throw new ProtocolError(
      "INVALID_ENVELOPE",
      `${spec.requires}: required on ${e.kind}`,
      e.msg_id,
    );
  }
  const payload = spec.schema.safeParse(e.payload);
  if (!payload.success) {
    throw new ProtocolError("INVALID_PAYLOAD", describe(payload.error, "payload"), e.msg_id);
  }
  e.payload = payload.data as Record<string, unknown>;
  return e;
}

/** Encodes an envelope as one text frame. Throws TypeError for an envelope that would not decode. */
export function encodeEnvelope(envelope: Envelope): string {
  const env = EnvelopeSchema.safeParse(envelope);
  if (!env.success) {
    throw new TypeError(`Cannot encode envelope: ${describe(env.error, "")}`);
  }
  if (isMessageKind(envelope.kind)) {
    const schema: z.ZodType = KINDS[envelope.kind].schema;
    const p = schema.safeParse(envelope.payload);
    if (!p.success) {
      throw new TypeError(`Cannot encode ${envelope.kind}: ${describe(p.error, "payload")}`);
    }
  }
  return JSON.stringify(envelope);
}

let counter = 0;
/** A fresh, unique `msg_id` (random prefix + counter: unique across restarts and within one). */
export function newMsgId(prefix = "lm"): string {
  counter = (counter + 1) % 0x1_0000_0000;
  return `${prefix}-${crypto.randomUUID()}-${counter.toString(36)}`;
}

/** Envelope fields other than `kind` and `payload`, all optional. */
export interface EnvelopeFields {
  msg_id?: string;
  site_id?: string;
  agent_id?: string;
  direction?: Direction;
  ts?: string;
  v?: number;
  correlation_id?: string;
  directive_id?: string;
}

/** Builds a typed envelope with a fresh `msg_id` and `ts`. */
export function makeEnvelope<K extends MessageKind>(
  kind: K,
  payload: PayloadOf<K>,
  fields: EnvelopeFields = {},
): Envelope {
  const direction: Direction = fields.direction ??
    (KINDS[kind].direction === "down" ? "down" : "up");
  return {
    msg_id: newMsgId(),
    ts: new Date().toISOString(),
    ...fields,
    direction,
    kind,
    payload: payload as Record<string, unknown>,
  };
}

/** The `error` envelope answering a failed frame (or directive). */
export function errorEnvelope(
  direction: Direction,
  code: ErrorCode,
  message: string,
  fields: { correlationId?: string; agentId?: string; siteId?: string; retryable?: boolean } = {},
): Envelope {
  return makeEnvelope("error", {
    code,
    message: message.slice(0, 4096),
    ...(fields.retryable !== undefined ? { retryable: fields.retryable } : {}),
  }, {
    direction,
    ...(fields.correlationId ? { correlation_id: fields.correlationId } : {}),
    ...(fields.agentId ? { agent_id: fields.agentId } : {}),
    ...(fields.siteId ? { site_id: fields.siteId } : {}),
  });
}
