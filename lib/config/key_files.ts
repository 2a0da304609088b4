/**
 * Invariant 7: secret files exist and are not readable by group or others. The file system is
 * reached through an injectable `stat` so that the rules can be tested from tables too.
 *
 * @module
 */
import type { FieldIssue } from "./issue.ts";
import type { LabmanConfig } from "./schema.ts";

/** What the checks need to know about a path. */
export type KeyFileStat =
  | { kind: "file"; mode: number | null }
  | { kind: "other" }
  | { kind: "missing" }
  | { kind: "error"; message: string };

/** `Deno.statSync`, reduced to {@link KeyFileStat}. Never throws. */
export function statKeyFile(path: string): KeyFileStat {
  try {
    const info = Deno.statSync(path);
    return info.isFile ? { kind: "file", mode: info.mode } : { kind: "other" };
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return { kind: "missing" };
    return { kind: "error", message: e instanceof Error ? e.message : String(e) };
  }
}

interface SecretFile {
  path: (string | number)[];
  file: string;
  /** Created by `labman keygen`, so a missing file is only a warning. */
  generated: boolean;
}

function secretFiles(config: LabmanConfig): SecretFile[] {
  const out: SecretFile[] = [];
  // Local mode has no tunnel, so WireGuard and Rosenpass keys are not used.
  if (config.wireguard.mode !== "off") {
    out.push({
      path: ["wireguard", "private_key_path"],
      file: config.wireguard.private_key_path,
      generated: true,
    });
    if (config.rosenpass.enabled) {
      out.push({
        path: ["rosenpass", "secret_key_path"],
        file: config.rosenpass.secret_key_path,
        generated: true,
      });
    }
  }
  const tokenFile = config.control_plane?.node_token_file;
  if (tokenFile !== undefined) {
    out.push({ path: ["control_plane", "node_token_file"], file: tokenFile, generated: false });
  }
  config.endpoints.forEach((ep, i) => {
    if (ep.api_key_file !== undefined) {
      out.push({ path: ["endpoints", i, "api_key_file"], file: ep.api_key_file, generated: false });
    }
  });
  return out;
}

function octal(mode: number): string {
  return "0" + (mode & 0o777).toString(8).padStart(3, "0");
}

/**
 * Checks every secret file named by `config`: it must be a regular file with no group/other
 * permission bits. A missing WireGuard or Rosenpass key is a warning (`labman keygen` creates
 * it); any other missing secret is an error.
 */
export function checkKeyFiles(
  config: LabmanConfig,
  stat: (path: string) => KeyFileStat = statKeyFile,
): { errors: FieldIssue[]; warnings: FieldIssue[] } {
  const errors: FieldIssue[] = [];
  const warnings: FieldIssue[] = [];
  for (const { path, file, generated } of secretFiles(config)) {
    const st = stat(file);
    switch (st.kind) {
      case "missing":
        if (generated) {
          warnings.push({
            path,
            message: `${file} does not exist yet`,
            fix: "it will be created by `labman keygen`",
          });
        } else {
          errors.push({
            path,
            message: `${file} does not exist`,
            fix: `write the secret to it, then run: chmod 600 ${file}`,
          });
        }
        break;
      case "other":
        errors.push({ path, message: `${file} is not a regular file`, fix: "point it at a file" });
        break;
      case "error":
        errors.push({
          path,
          message: `cannot check ${file}: ${st.message}`,
          fix: "run as root, or fix the path",
        });
        break;
      case "file":
        if (st.mode !== null && (st.mode & 0o077) !== 0) {
          errors.push({
            path,
            message: `${file} has mode ${octal(st.mode)}: group or others can access the secret`,
            fix: `run: chmod 600 ${file}`,
          });
        }
        break;
    }
  }
  return { errors, warnings };
}
