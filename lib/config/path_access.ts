/**
 * Whether the files and directories a config names lie where labmand may reach them. labmand's
 * Deno flags name its own directories only (lib/permissions/flags.ts), so a key at /root/wg.key
 * would otherwise surface as a NotCapable error deep in start-up; here it becomes one line naming
 * the file, the field and the fix. The decision itself is injected ({@link PathAccess}): labmand
 * asks its own permissions, the CLI asks the shared definition of labmand's set.
 *
 * @module
 */
import { resolve } from "node:path";
import type { FieldIssue } from "./issue.ts";
import type { LabmanConfig } from "./schema.ts";

/** What a program does with a path. */
export type PathAccessKind = "read" | "write";

/** Answers whether a program may read or write a path, and names its directories. */
export interface PathAccess {
  /** The program whose permissions count, for messages, e.g. `labmand`. */
  readonly program: string;
  /** True when the program may `access` the absolute `path`. */
  allowed(path: string, access: PathAccessKind): boolean;
  /** The directories the program may `access`, as the message lists them. */
  dirs(access: PathAccessKind): readonly string[];
}

/** A path a config names, what labmand does with it, and where it belongs. */
export interface ConfigPath {
  path: (string | number)[];
  file: string;
  access: readonly PathAccessKind[];
  /** The directory the fix suggests. */
  home: string;
}

const READ: readonly PathAccessKind[] = ["read"];
const READ_WRITE: readonly PathAccessKind[] = ["read", "write"];

/** Every file or directory `config` makes labmand read or write (only those in use). */
export function configPaths(config: LabmanConfig): ConfigPath[] {
  const out: ConfigPath[] = [];
  const tokenFile = config.control_plane?.node_token_file;
  if (tokenFile !== undefined) {
    out.push({
      path: ["control_plane", "node_token_file"],
      file: tokenFile,
      access: READ,
      home: "/etc/labman",
    });
  }
  const wg = config.wireguard;
  // labmand generates the node key on first start and keeps the public key file in step.
  out.push(
    {
      path: ["wireguard", "private_key_path"],
      file: wg.private_key_path,
      access: READ_WRITE,
      home: "/var/lib/labman/wireguard",
    },
    {
      path: ["wireguard", "public_key_path"],
      file: wg.public_key_path,
      access: READ_WRITE,
      home: "/var/lib/labman/wireguard",
    },
  );
  const rp = config.rosenpass;
  if (wg.mode !== "off" && rp.enabled) {
    const keys: [string, string | undefined][] = [
      ["secret_key_path", rp.secret_key_path],
      ["public_key_path", rp.public_key_path],
      ["peer_public_key_path", rp.peer_public_key_path],
    ];
    for (const [field, file] of keys) {
      if (file === undefined) continue;
      out.push({
        path: ["rosenpass", field],
        file,
        access: READ,
        home: "/var/lib/labman/rosenpass",
      });
    }
    out.push({
      path: ["rosenpass", "state_dir"],
      file: rp.state_dir,
      access: READ_WRITE,
      home: "/run/labman",
    });
  }
  if (config.portman.enabled) {
    out.push({
      path: ["portman", "secret_file"],
      file: config.portman.secret_file,
      access: READ_WRITE,
      home: "/var/lib/labman",
    });
  }
  config.endpoints.forEach((ep, i) => {
    if (ep.api_key_file === undefined) return;
    out.push({
      path: ["endpoints", i, "api_key_file"],
      file: ep.api_key_file,
      access: READ,
      home: "/etc/labman",
    });
  });
  return out;
}

/** The message for a path outside a program's directories. */
export function outsideMessage(
  file: string,
  access: PathAccessKind,
  pathAccess: PathAccess,
): string {
  return `${file} is outside the directories ${pathAccess.program} may ${access} (${
    pathAccess.dirs(access).join(", ")
  })`;
}

/**
 * One error per config path labmand could not reach. Relative paths count from `cwd`, as
 * labmand opens them.
 */
export function checkPathAccess(
  config: LabmanConfig,
  pathAccess: PathAccess,
  cwd: string,
): FieldIssue[] {
  const issues: FieldIssue[] = [];
  for (const p of configPaths(config)) {
    const abs = resolve(cwd, p.file);
    const denied = p.access.find((a) => !pathAccess.allowed(abs, a));
    if (denied === undefined) continue;
    issues.push({
      path: p.path,
      message: outsideMessage(p.file, denied, pathAccess),
      fix: `move it under ${p.home} and set the field to the new path`,
    });
  }
  return issues;
}
