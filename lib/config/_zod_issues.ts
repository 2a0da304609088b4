/**
 * Turns zod issues into operator-facing {@link FieldIssue}s: "must be a number (got "5s")",
 * "unknown field 'listen_prot'" with a suggestion, and so on.
 *
 * @module
 */
import type { z } from "zod";
import { closest } from "./_suggest.ts";
import { fieldsAt } from "./_schema_paths.ts";
import type { FieldIssue } from "./issue.ts";
import type { PathSegment } from "./locate_key.ts";

/** The raw value at `path` in the parsed TOML, or undefined. */
export function valueAt(root: unknown, path: readonly PathSegment[]): unknown {
  let v: unknown = root;
  for (const seg of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<string | number, unknown>)[seg];
  }
  return v;
}

function describe(v: unknown): string {
  if (typeof v === "string") return `the string ${JSON.stringify(v)}`;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (Array.isArray(v)) return "an array";
  if (v instanceof Date) return "a date";
  if (v !== null && typeof v === "object") return "a table";
  return String(v);
}

const EXPECTED: Record<string, string> = {
  int: "an integer",
  number: "a number",
  string: "a string",
  boolean: "true or false",
  array: "an array",
  object: "a table",
};

function bound(v: unknown): string {
  return typeof v === "bigint" ? v.toString() : String(v);
}

function convert(issue: z.core.$ZodIssue, input: unknown, root: z.ZodType): FieldIssue[] {
  const path = issue.path.filter((p): p is string | number => typeof p !== "symbol");
  const raw = valueAt(input, path);
  switch (issue.code) {
    case "unrecognized_keys": {
      const allowed = fieldsAt(root, path);
      return issue.keys.map((key) => {
        const guess = closest(key, allowed);
        return {
          path: [...path, key],
          message: `unknown field '${key}'`,
          fix: guess ? `did you mean '${guess}'?` : `allowed here: ${allowed.join(", ")}`,
        };
      });
    }
    case "invalid_type": {
      if (raw === undefined) return [{ path, message: "is required" }];
      const want = EXPECTED[issue.expected] ?? issue.expected;
      return [{ path, message: `must be ${want} (got ${describe(raw)})` }];
    }
    case "invalid_value": {
      const values = issue.values.map((v) => JSON.stringify(v));
      const guess = typeof raw === "string"
        ? closest(raw, issue.values.filter((v): v is string => typeof v === "string"))
        : undefined;
      return [{
        path,
        message: `must be one of ${values.join(", ")} (got ${describe(raw)})`,
        ...(guess ? { fix: `did you mean "${guess}"?` } : {}),
      }];
    }
    case "too_small": {
      if (issue.origin === "string") return [{ path, message: "must not be empty" }];
      if (issue.origin === "array") {
        return [{ path, message: `must have at least ${bound(issue.minimum)} entries` }];
      }
      const op = issue.inclusive ? "≥" : ">";
      return [{ path, message: `must be ${op} ${bound(issue.minimum)} (got ${describe(raw)})` }];
    }
    case "too_big": {
      if (issue.origin === "string") {
        return [{ path, message: `must be at most ${bound(issue.maximum)} characters` }];
      }
      if (issue.origin === "array") {
        return [{ path, message: `must have at most ${bound(issue.maximum)} entries` }];
      }
      const op = issue.inclusive ? "≤" : "<";
      const message = `must be ${op} ${bound(issue.maximum)} (got ${describe(raw)})`;
      // Durations: say why the ceiling exists (schema.ts sets a custom message for them).
      if (issue.message.includes("timers cannot wait longer")) {
        return [{
          path,
          message: `${message}: timers cannot wait longer than 2^31-1 ms (about 24.8 days)`,
          fix: "use a shorter duration",
        }];
      }
      return [{ path, message }];
    }
    case "invalid_format": {
      // Custom messages are set in schema.ts; zod's default names the raw pattern.
      const message = issue.message.startsWith("Invalid")
        ? `has an invalid format (got ${describe(raw)})`
        : `${issue.message} (got ${describe(raw)})`;
      return [{ path, message }];
    }
    default:
      return [{ path, message: issue.message }];
  }
}

/** Converts every zod issue; one zod issue may become several (one per unknown key). */
export function fromZodIssues(
  issues: readonly z.core.$ZodIssue[],
  input: unknown,
  root: z.ZodType,
): FieldIssue[] {
  return issues.flatMap((i) => convert(i, input, root));
}
