/**
 * labman configuration: one TOML file, checked by a zod schema plus cross-field rules, returned
 * typed and normalised, or rejected with every problem listed as `file:line: path: message — fix`.
 *
 * ```ts
 * import { formatIssue, loadConfig } from "../config/mod.ts";
 * const result = await loadConfig({ path: "/etc/labman/labman.toml" });
 * if (!result.ok) for (const issue of result.errors) console.error(formatIssue(issue));
 * ```
 *
 * @module
 */
import { z } from "zod";
import { LabmanConfigSchema } from "./schema.ts";

export {
  type EndpointConfig,
  type EndpointKind,
  type HealthConfig,
  type LabmanConfig,
  LabmanConfigSchema,
  type LoggingConfig,
  type PortmanConfig,
  type ProxyConfig,
  type RosenpassConfig,
} from "./schema.ts";
export { type ConfigIssue, formatIssue } from "./issue.ts";
export {
  configCandidates,
  DEFAULT_CONFIG_PATHS,
  findConfigFile,
  loadConfig,
  type LoadOptions,
  type LoadResult,
  parseConfigText,
  type ParseOptions,
} from "./load.ts";
export { configToToml, redactConfig } from "./redact.ts";
export type { KeyFileStat } from "./key_files.ts";
export {
  checkPathAccess,
  type ConfigPath,
  configPaths,
  type PathAccess,
  type PathAccessKind,
} from "./path_access.ts";
export { normaliseEndpointUrl, proxyListenAddr } from "./validate.ts";

/** JSON Schema (draft 2020-12) of the config file as written (defaulted fields optional). */
export function jsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(LabmanConfigSchema, { io: "input" }) as Record<string, unknown>;
}
