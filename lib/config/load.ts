/**
 * Loading a config: find the file, parse the TOML, check it against the zod schema, apply the
 * cross-field rules and (optionally) the key-file checks, and return either the normalised
 * config or every problem at once, each tied to a file and line.
 *
 * @module
 */
import { resolve } from "node:path";
import { parse as parseToml, TomlError } from "smol-toml";
import { fromZodIssues, valueAt } from "./_zod_issues.ts";
import type { ConfigIssue, FieldIssue } from "./issue.ts";
import { checkKeyFiles, type KeyFileStat, statKeyFile } from "./key_files.ts";
import { checkPathAccess, outsideMessage, type PathAccess } from "./path_access.ts";
import { formatPath, indexKeys, lineIn, type PathSegment } from "./locate_key.ts";
import { type LabmanConfig, LabmanConfigSchema } from "./schema.ts";
import { validateConfig } from "./validate.ts";
import { mayExistSync } from "../files/mod.ts";

/** The outcome of loading a config: the config, or every error found. */
export type LoadResult =
  | { ok: true; config: LabmanConfig; file: string; warnings: ConfigIssue[] }
  | { ok: false; file: string | null; errors: ConfigIssue[]; warnings: ConfigIssue[] };

/** Options for {@link parseConfigText}. */
export interface ParseOptions {
  /**
   * Check that secret files exist with mode 0600 (touches the file system).
   * @default {false}
   */
  checkKeyFiles?: boolean;
  /**
   * How secret files are inspected; for tests.
   * @default {statKeyFile}
   */
  stat?: (path: string) => KeyFileStat;
  /**
   * Check that every file and directory the config names lies where labmand may reach it
   * (lib/config/path_access.ts); relative paths count from `cwd`. Off when absent.
   */
  pathAccess?: PathAccess;
  /** @default Deno.cwd() */
  cwd?: string;
}

/** Options for {@link loadConfig}. */
export interface LoadOptions {
  /** An explicit config file (`--config`); when set, no other location is tried. */
  path?: string;
  /**
   * Check that secret files exist with mode 0600.
   * @default {true}
   */
  checkKeyFiles?: boolean;
  /** Check the config file and the paths it names against a program's permissions. */
  pathAccess?: PathAccess;
}

/** Where labman looks for its config when `--config` is not given, in order. */
export const DEFAULT_CONFIG_PATHS: readonly string[] = ["/etc/labman/labman.toml", "./labman.toml"];

/** The files to try: only the explicit path when there is one, else the defaults. */
export function configCandidates(explicit?: string): string[] {
  return explicit !== undefined ? [explicit] : [...DEFAULT_CONFIG_PATHS];
}

/** The first candidate that exists. Pure apart from `exists`. */
export function findConfigFile(
  candidates: readonly string[],
  exists: (path: string) => boolean,
): string | undefined {
  return candidates.find((p) => exists(p));
}

/** Fields whose value steers other rules: after repairing them, cross-field results mislead. */
const STEERING = new Set([
  "wireguard.mode",
  "rosenpass.enabled",
  "admin.enabled",
  "portman.enabled",
  "control_plane",
  "wireguard",
]);

function deleteAt(root: unknown, path: readonly PathSegment[]): boolean {
  if (path.length === 0) return false;
  const parent = valueAt(root, path.slice(0, -1));
  const last = path[path.length - 1];
  // Removing an array element would shift the indices in later messages.
  if (typeof last === "number" || parent === null || typeof parent !== "object") return false;
  delete (parent as Record<string, unknown>)[last];
  return true;
}

function startsWith(path: readonly PathSegment[], prefix: readonly PathSegment[]): boolean {
  return prefix.length <= path.length && prefix.every((s, i) => path[i] === s);
}

/**
 * After schema errors, drops the offending values (defaults take their place) so that the
 * cross-field rules can still report their findings in the same run. Returns undefined when the
 * input cannot be repaired safely.
 */
function repair(input: unknown, issues: readonly FieldIssue[]): LabmanConfig | undefined {
  const copy = structuredClone(input);
  for (const issue of issues) {
    if (STEERING.has(formatPath(issue.path))) return undefined;
    if (!deleteAt(copy, issue.path)) return undefined;
  }
  const again = LabmanConfigSchema.safeParse(copy);
  if (again.success) return again.data;
  // A required field has no default to fall back on: stand a placeholder in for it, so one bad
  // endpoint name does not hide every other problem in the file.
  for (const issue of again.error.issues) {
    const path = issue.path as PathSegment[];
    const placeholder = requiredPlaceholder(path);
    if (placeholder === undefined || !issues.some((i) => formatPath(i.path) === formatPath(path))) {
      return undefined;
    }
    const parent = valueAt(copy, path.slice(0, -1));
    if (parent === null || typeof parent !== "object") return undefined;
    (parent as Record<string, unknown>)[path[path.length - 1] as string] = placeholder;
  }
  const third = LabmanConfigSchema.safeParse(copy);
  return third.success ? third.data : undefined;
}

/** Stand-ins for required fields without defaults (their own error is already reported). */
function requiredPlaceholder(path: readonly PathSegment[]): string | undefined {
  if (path.length !== 3 || path[0] !== "endpoints" || typeof path[1] !== "number") return undefined;
  if (path[2] === "name") return `invalid-endpoint-${path[1]}`;
  if (path[2] === "base_url") return "http://invalid.invalid/v1";
  return undefined;
}

function syntaxIssue(e: TomlError, file: string): ConfigIssue {
  const first = e.message.split("\n")[0].replace(/^Invalid TOML document:\s*/, "");
  return {
    file,
    line: e.line,
    column: e.column,
    path: "",
    message: `invalid TOML: ${first}`,
    fix: "check the syntax at this position",
  };
}

function byLine(a: ConfigIssue, b: ConfigIssue): number {
  return (a.line ?? Infinity) - (b.line ?? Infinity);
}

function failure(file: string | null, message: string, fix?: string): LoadResult {
  const issue: ConfigIssue = { file: file ?? "", path: "", message };
  if (fix !== undefined) issue.fix = fix;
  return { ok: false, file, errors: [issue], warnings: [] };
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function parseInner(text: string, file: string, options: ParseOptions): LoadResult {
  let input: unknown;
  try {
    input = parseToml(text);
  } catch (e) {
    if (e instanceof TomlError) {
      return { ok: false, file, errors: [syntaxIssue(e, file)], warnings: [] };
    }
    return failure(file, `invalid TOML: ${errorText(e)}`);
  }
  const index = indexKeys(text);
  const place = (i: FieldIssue): ConfigIssue => {
    const out: ConfigIssue = { file, path: formatPath(i.path), message: i.message };
    const line = lineIn(index, i.path);
    if (line !== undefined) out.line = line;
    if (i.fix !== undefined) out.fix = i.fix;
    return out;
  };

  const parsed = LabmanConfigSchema.safeParse(input);
  let schemaErrors: FieldIssue[] = [];
  let config: LabmanConfig | undefined;
  if (parsed.success) {
    config = parsed.data;
  } else {
    schemaErrors = fromZodIssues(parsed.error.issues, input, LabmanConfigSchema);
    config = repair(input, schemaErrors);
  }

  const errors: FieldIssue[] = [...schemaErrors];
  let warnings: FieldIssue[] = [];
  let normalised: LabmanConfig | undefined;
  if (config) {
    const v = validateConfig(config);
    normalised = v.config;
    // A value already reported by the schema was replaced by its default: say nothing more.
    const fresh = (i: FieldIssue) => !schemaErrors.some((s) => startsWith(i.path, s.path));
    errors.push(...v.errors.filter(fresh));
    warnings = v.warnings.filter(fresh);
    // A path labmand may not reach is reported as such; its stat would only say "cannot check".
    const unreachable = options.pathAccess
      ? checkPathAccess(v.config, options.pathAccess, options.cwd ?? Deno.cwd())
      : [];
    errors.push(...unreachable);
    if (options.checkKeyFiles) {
      const k = checkKeyFiles(v.config, options.stat ?? statKeyFile);
      const reported = (i: FieldIssue) =>
        unreachable.some((u) => formatPath(u.path) === formatPath(i.path));
      errors.push(...k.errors.filter((i) => !reported(i)));
      warnings.push(...k.warnings.filter((i) => !reported(i)));
    }
  }
  const placedWarnings = warnings.map(place).sort(byLine);
  if (errors.length > 0 || !normalised) {
    return { ok: false, file, errors: errors.map(place).sort(byLine), warnings: placedWarnings };
  }
  return { ok: true, config: normalised, file, warnings: placedWarnings };
}

/**
 * Parses and validates config text. Pure unless `options.checkKeyFiles` is set. Never throws:
 * every problem, including TOML syntax errors, comes back as a {@link ConfigIssue}.
 */
export function parseConfigText(
  text: string,
  file: string,
  options: ParseOptions = {},
): LoadResult {
  try {
    return parseInner(text, file, options);
  } catch (e) {
    return failure(file, `Cannot validate config: internal error: ${errorText(e)}`);
  }
}

/**
 * Finds, reads and validates the config: `options.path` (from `--config`) if given, else the
 * first of {@link DEFAULT_CONFIG_PATHS} that exists. No environment variables are consulted.
 * Never throws.
 */
export async function loadConfig(options: LoadOptions = {}): Promise<LoadResult> {
  const checkFiles = options.checkKeyFiles ?? true;
  try {
    const found = findConfigFile(configCandidates(options.path), mayExistSync);
    if (found === undefined) {
      if (options.path !== undefined) {
        return failure(
          options.path,
          "Cannot read config file: it does not exist",
          "check the --config path",
        );
      }
      return failure(
        null,
        `Cannot find a config file: looked in ${DEFAULT_CONFIG_PATHS.join(", ")}`,
        "pass --config PATH, or copy labman.example.toml to /etc/labman/labman.toml",
      );
    }
    const file = options.path !== undefined ? found : resolve(found);
    const access = options.pathAccess;
    if (access && !access.allowed(resolve(file), "read")) {
      return failure(
        file,
        `Cannot read config file: ${outsideMessage(file, "read", access)}`,
        "move it to /etc/labman/labman.toml",
      );
    }
    let text: string;
    try {
      text = await Deno.readTextFile(file);
    } catch (e) {
      if (e instanceof Deno.errors.NotCapable) {
        // This program's own flags refuse it (the CLI's set is wider than labmand's elsewhere).
        return failure(
          file,
          `Cannot read config file: ${file} is outside the directories this program may read`,
          "move it to /etc/labman/labman.toml",
        );
      }
      return failure(
        file,
        `Cannot read config file: ${errorText(e)}`,
        "check the path and its permissions",
      );
    }
    const parseOptions: ParseOptions = { checkKeyFiles: checkFiles };
    if (access) parseOptions.pathAccess = access;
    const result = parseConfigText(text, file, parseOptions);
    if (result.ok && checkFiles && result.config.control_plane?.node_token !== undefined) {
      const st = statKeyFile(file);
      if (st.kind === "file" && st.mode !== null && (st.mode & 0o077) !== 0) {
        result.warnings.push({
          file,
          line: indexKeys(text).get("control_plane.node_token"),
          path: "control_plane.node_token",
          message: "the node token is inline in a config file that group or others can read",
          fix: `move it to control_plane.node_token_file, or run: chmod 600 ${file}`,
        });
      }
    }
    return result;
  } catch (e) {
    return failure(options.path ?? null, `Cannot load config: ${errorText(e)}`);
  }
}
