/**
 * JSON Schemas of the v1 control-plane messages, generated from the zod types in `schema.ts`.
 * `docs/schemas/` holds a committed copy; `gen_schemas.ts` rewrites it and
 * `tests/control_plane_contract_test.ts` fails when the two drift apart.
 *
 * @module
 */
import { z } from "zod";
import {
  ErrorBodySchema,
  HeartbeatRequestSchema,
  HeartbeatResponseSchema,
  RegisterRequestSchema,
  RegisterResponseSchema,
} from "./schema.ts";

/** File name (under `docs/schemas/`) → zod schema. File names carry the version. */
export const CONTROL_PLANE_SCHEMAS = {
  "register_request.v1.json": RegisterRequestSchema,
  "register_response.v1.json": RegisterResponseSchema,
  "heartbeat_request.v1.json": HeartbeatRequestSchema,
  "heartbeat_response.v1.json": HeartbeatResponseSchema,
  "error.v1.json": ErrorBodySchema,
} as const;

export type SchemaFileName = keyof typeof CONTROL_PLANE_SCHEMAS;

/**
 * The JSON Schema of every message, keyed by file name. `io: "input"` describes what a parser
 * accepts, so response schemas stay open to fields added within v1.
 */
export function controlPlaneJsonSchemas(): Record<SchemaFileName, Record<string, unknown>> {
  const out = {} as Record<SchemaFileName, Record<string, unknown>>;
  for (const [file, schema] of Object.entries(CONTROL_PLANE_SCHEMAS)) {
    out[file as SchemaFileName] = z.toJSONSchema(schema, { io: "input" }) as Record<
      string,
      unknown
    >;
  }
  return out;
}

/** The exact text written to a schema file (2-space JSON, trailing newline, `deno fmt` stable). */
export function renderJsonSchema(schema: Record<string, unknown>): string {
  return JSON.stringify(schema, null, 2) + "\n";
}
