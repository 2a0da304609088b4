/**
 * Regenerates `docs/schemas/protocol/*.json` (the relay protocol's JSON Schemas) from the zod
 * types: `deno run -A lib/protocol/gen_schemas.ts [--check]`. With `--check` it writes nothing
 * and exits 1 when a file is missing or differs (`deno task check` runs it).
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { EnvelopeSchema, KINDS } from "./schema.ts";

export const PROTOCOL_SCHEMAS_DIR = fileURLToPath(
  new URL("../../docs/schemas/protocol/", import.meta.url),
);

/** File name → JSON Schema: the envelope and one payload schema per kind. */
export function protocolJsonSchemas(): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {
    "envelope.v1.json": z.toJSONSchema(EnvelopeSchema, { io: "input" }) as Record<string, unknown>,
  };
  for (const [kind, spec] of Object.entries(KINDS)) {
    const schema = z.toJSONSchema(spec.schema, { io: "input" }) as Record<string, unknown>;
    out[`${kind}.v1.json`] = {
      $id: `urn:labman:protocol:v1:${kind}`,
      title: `${kind} payload`,
      description: `payload of kind "${kind}"; travels ${
        spec.direction === "both" ? "both ways" : spec.direction
      }`,
      ...schema,
    };
  }
  return out;
}

function render(schema: Record<string, unknown>): string {
  return JSON.stringify(schema, null, 2) + "\n";
}

if (import.meta.main) {
  const schemas = protocolJsonSchemas();
  if (Deno.args.includes("--check")) {
    let stale = 0;
    for (const [file, schema] of Object.entries(schemas)) {
      let onDisk: string | undefined;
      try {
        onDisk = await Deno.readTextFile(`${PROTOCOL_SCHEMAS_DIR}${file}`);
      } catch {
        onDisk = undefined;
      }
      if (onDisk !== render(schema)) {
        console.error(
          `docs/schemas/protocol/${file} is stale — run: deno run -A lib/protocol/gen_schemas.ts`,
        );
        stale++;
      }
    }
    Deno.exit(stale ? 1 : 0);
  }
  await Deno.mkdir(PROTOCOL_SCHEMAS_DIR, { recursive: true });
  for (const [file, schema] of Object.entries(schemas)) {
    await Deno.writeTextFile(`${PROTOCOL_SCHEMAS_DIR}${file}`, render(schema));
    console.log(`wrote docs/schemas/protocol/${file}`);
  }
}
