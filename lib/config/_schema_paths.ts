/**
 * Walks the zod config schema by field path: which keys a table allows (for "did you mean"),
 * and the full list of field paths (for the example-file and docs drift tests).
 *
 * @module
 */
import { z } from "zod";
import type { PathSegment } from "./locate_key.ts";

/** Strips optional/default/nullable wrappers. */
function unwrap(schema: z.ZodType): z.ZodType {
  let s = schema;
  for (let i = 0; i < 16; i++) {
    if (s instanceof z.ZodOptional || s instanceof z.ZodDefault || s instanceof z.ZodNullable) {
      s = s.unwrap() as z.ZodType;
    } else {
      return s;
    }
  }
  return s;
}

/** The schema of the field at `path`, or undefined when the path leaves the schema. */
export function schemaAt(root: z.ZodType, path: readonly PathSegment[]): z.ZodType | undefined {
  let s: z.ZodType = unwrap(root);
  for (const seg of path) {
    if (typeof seg === "number") {
      if (!(s instanceof z.ZodArray)) return undefined;
      s = unwrap(s.element as z.ZodType);
    } else {
      if (!(s instanceof z.ZodObject)) return undefined;
      const next = (s.shape as Record<string, z.ZodType>)[seg];
      if (!next) return undefined;
      s = unwrap(next);
    }
  }
  return s;
}

/** The field names a table at `path` accepts. */
export function fieldsAt(root: z.ZodType, path: readonly PathSegment[]): string[] {
  const s = schemaAt(root, path);
  return s instanceof z.ZodObject ? Object.keys(s.shape) : [];
}

/**
 * Every field path of the schema: tables, their fields and (for arrays of tables) the fields of
 * the element written as `endpoints[].name`.
 */
export function schemaKeyPaths(root: z.ZodType): string[] {
  const out: string[] = [];
  const walk = (s: z.ZodType, prefix: string): void => {
    const u = unwrap(s);
    if (u instanceof z.ZodObject) {
      for (const [k, v] of Object.entries(u.shape as Record<string, z.ZodType>)) {
        const p = prefix === "" ? k : `${prefix}.${k}`;
        out.push(p);
        walk(v, p);
      }
    } else if (u instanceof z.ZodArray) {
      const el = unwrap(u.element as z.ZodType);
      if (el instanceof z.ZodObject) walk(el, `${prefix}[]`);
    }
  };
  walk(root, "");
  return out;
}
