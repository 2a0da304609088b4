/**
 * Regenerates `docs/schemas/*.json` from the zod types:
 * `deno run -A lib/control/gen_schemas.ts [--check]`. With `--check` it writes nothing and exits
 * 1 when a file is missing or differs.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { controlPlaneJsonSchemas, renderJsonSchema } from "./schemas_json.ts";

/** Absolute path of `docs/schemas/` in this checkout. */
export const SCHEMAS_DIR = fileURLToPath(new URL("../../docs/schemas/", import.meta.url));

/** Writes every schema file; returns the paths written. */
export async function writeSchemas(dir: string = SCHEMAS_DIR): Promise<string[]> {
  await Deno.mkdir(dir, { recursive: true });
  const written: string[] = [];
  for (const [file, schema] of Object.entries(controlPlaneJsonSchemas())) {
    const path = `${dir.replace(/\/$/, "")}/${file}`;
    await Deno.writeTextFile(path, renderJsonSchema(schema));
    written.push(path);
  }
  return written;
}

if (import.meta.main) {
  if (Deno.args.includes("--check")) {
    let stale = 0;
    for (const [file, schema] of Object.entries(controlPlaneJsonSchemas())) {
      let onDisk: unknown;
      try {
        onDisk = JSON.parse(await Deno.readTextFile(`${SCHEMAS_DIR}${file}`));
      } catch {
        onDisk = undefined;
      }
      if (JSON.stringify(onDisk) !== JSON.stringify(schema)) {
        console.error(
          `docs/schemas/${file} is stale — run: deno run -A lib/control/gen_schemas.ts`,
        );
        stale++;
      }
    }
    Deno.exit(stale ? 1 : 0);
  }
  for (const path of await writeSchemas()) console.log(`wrote ${path}`);
}
