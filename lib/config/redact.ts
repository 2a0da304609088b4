/**
 * Printing a config safely: secrets replaced by `***` (invariant 7), then TOML.
 *
 * @module
 */
import { stringify } from "smol-toml";
import type { LabmanConfig } from "./schema.ts";

/** What replaces a secret value. */
export const REDACTED = "***";

function redactUrl(raw: string): string {
  try {
    const url = new URL(raw);
    if (url.username === "" && url.password === "") return raw;
    url.username = REDACTED;
    url.password = "";
    return url.href;
  } catch {
    return raw;
  }
}

/**
 * A copy of `config` that is safe to print or log: the inline node token becomes `***`, and so
 * does any user name or password embedded in a URL. Paths of secret files are kept: they are
 * not secret, and the operator needs them.
 */
export function redactConfig(config: LabmanConfig): LabmanConfig {
  const copy = structuredClone(config);
  if (copy.control_plane) {
    if (copy.control_plane.node_token !== undefined) copy.control_plane.node_token = REDACTED;
    copy.control_plane.base_url = redactUrl(copy.control_plane.base_url);
  }
  for (const ep of copy.endpoints) ep.base_url = redactUrl(ep.base_url);
  return copy;
}

/** Drops `undefined` fields, which TOML cannot represent. */
function defined(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(defined);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).filter(([, v]) => v !== undefined).map(([k, v]) => [k, defined(v)]),
    );
  }
  return value;
}

/** The config as TOML text (pass it through {@link redactConfig} first to print it). */
export function configToToml(config: LabmanConfig): string {
  return stringify(defined(config));
}
