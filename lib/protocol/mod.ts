/**
 * The relay protocol v1 between Portman, labman and the control plane (`docs/protocol.md`):
 * zod schemas for the envelope and every payload, the kind ↔ schema ↔ direction table, and a
 * pure codec whose errors name the failing field and the `error` code to answer with.
 *
 * ```ts
 * import { decodeEnvelope, encodeEnvelope, makeEnvelope } from "./lib/protocol/mod.ts";
 * const text = encodeEnvelope(makeEnvelope("heartbeat", { status: "ready" }, { agent_id: "gpu-1" }));
 * decodeEnvelope(text, { expect: "up" }).kind; // "heartbeat"
 * ```
 *
 * @module
 */
export * from "./schema.ts";
export {
  decodeEnvelope,
  type DecodeOptions,
  encodeEnvelope,
  type EnvelopeFields,
  errorEnvelope,
  makeEnvelope,
  newMsgId,
  normalizeDirection,
  ProtocolError,
} from "./codec.ts";
