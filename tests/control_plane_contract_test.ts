/**
 * Keeps the control-plane contract honest: the committed JSON Schemas must equal what the zod
 * types generate, and docs/control-plane.md must name every route, field and enum value and
 * carry examples that the schemas accept.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import {
  CONTROL_PLANE_SCHEMAS,
  controlPlaneJsonSchemas,
  type SchemaFileName,
} from "../lib/control/schemas_json.ts";

const root = (p: string) => fileURLToPath(new URL(`../${p}`, import.meta.url));
const doc = await Deno.readTextFile(root("docs/control-plane.md"));
const generated = controlPlaneJsonSchemas();
const REGEN = "run: deno run -A lib/control/gen_schemas.ts";

type Json = Record<string, unknown>;

Deno.test("docs/schemas/*.json equal what the zod types generate", async () => {
  const onDisk = new Set<string>();
  for await (const e of Deno.readDir(root("docs/schemas"))) if (e.isFile) onDisk.add(e.name);
  assert.deepEqual(
    [...onDisk].sort(),
    Object.keys(generated).sort(),
    `docs/schemas/ has missing or extra files — ${REGEN}`,
  );
  for (const [file, schema] of Object.entries(generated)) {
    const committed = JSON.parse(await Deno.readTextFile(root(`docs/schemas/${file}`)));
    assert.deepEqual(committed, schema, `docs/schemas/${file} is stale — ${REGEN}`);
  }
});

Deno.test("every schema is versioned: v1 in $id and file name", () => {
  for (const [file, schema] of Object.entries(generated)) {
    assert.match(file, /\.v1\.json$/);
    assert.match(String(schema.$id), /^urn:labman:control-plane:v1:/, file);
    assert.equal(schema.$schema, "https://json-schema.org/draft/2020-12/schema");
  }
});

/** Every property name and enum value, walking nested objects, arrays and unions. */
function collect(s: Json, names: Set<string>, enums: Set<string>): void {
  for (const [k, v] of Object.entries((s.properties ?? {}) as Record<string, Json>)) {
    names.add(k);
    collect(v, names, enums);
  }
  if (s.items) collect(s.items as Json, names, enums);
  for (const alt of [...((s.anyOf ?? []) as Json[]), ...((s.allOf ?? []) as Json[])]) {
    collect(alt, names, enums);
  }
  for (const e of (s.enum ?? []) as unknown[]) enums.add(String(e));
}

/** Words inside `backticks`, split on path punctuation (`node.name`, `endpoints[].name`). */
const codeWords = new Set(
  [...doc.matchAll(/`([^`\n]+)`/g)].flatMap((m) => m[1]!.split(/[\s.[\]{}(),:"=]+/)).filter(
    Boolean,
  ),
);

Deno.test("docs/control-plane.md names every field and enum value of every schema", () => {
  const missing: string[] = [];
  for (const [file, schema] of Object.entries(generated)) {
    const names = new Set<string>();
    const enums = new Set<string>();
    collect(schema, names, enums);
    assert.ok(names.size > 0, file);
    for (const n of names) if (!codeWords.has(n)) missing.push(`${file}: field \`${n}\``);
    for (const e of enums) if (!codeWords.has(e)) missing.push(`${file}: value \`${e}\``);
  }
  assert.deepEqual(missing, [], "document these in docs/control-plane.md");
});

Deno.test("docs/control-plane.md names every route, links every schema, covers the retry table", () => {
  for (
    const route of [
      "POST {base_url}/api/v1/nodes/register",
      "POST {base_url}/api/v1/nodes/{node_id}/heartbeat",
      "DELETE {base_url}/api/v1/nodes/{node_id}",
      "GET {base_url}/api/v1/ws",
      "## `POST /api/v1/nodes/register`",
      "## `POST /api/v1/nodes/{node_id}/heartbeat`",
      "## `DELETE /api/v1/nodes/{node_id}`",
    ]
  ) assert.ok(doc.includes(route), route);
  for (const file of Object.keys(generated)) assert.ok(doc.includes(`](schemas/${file})`), file);
  for (const status of ["400", "401", "403", "404", "409", "429", "5xx", "Retry-After"]) {
    assert.ok(doc.includes(status), status);
  }
  for (const kind of ["auth", "transient", "fatal", "not_found"]) {
    assert.ok(codeWords.has(kind), kind);
  }
  assert.match(doc, /Minimal metadata \(invariant 8\)/);
  assert.match(doc, /524,160\s+bytes/);
  assert.match(doc, /698,880\s+characters/);
});

Deno.test("the examples in docs/control-plane.md are valid against the schemas", () => {
  const examples = [...doc.matchAll(/<!-- example: (\w+) -->\s*```json\n([\s\S]*?)\n```/g)];
  const seen = new Set<string>();
  for (const [, name, text] of examples) {
    const file = `${name}.v1.json` as SchemaFileName;
    const schema = CONTROL_PLANE_SCHEMAS[file];
    assert.ok(schema, `example "${name}" names no schema`);
    const parsed = schema.safeParse(JSON.parse(text!));
    assert.ok(parsed.success, `example ${name}: ${parsed.error?.message}`);
    seen.add(file);
  }
  assert.deepEqual([...seen].sort(), Object.keys(generated).sort(), "one example per message");
});
