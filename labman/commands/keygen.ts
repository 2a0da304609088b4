/**
 * `labman keygen [--dir DIR] [--force]`: create the node's key pairs. Each key type has its own
 * exported step (`keygenWireGuard` here; Rosenpass adds `keygenRosenpass` next to it and a line
 * in {@linkcode KEY_STEPS}), so the command stays one loop over steps.
 *
 * @module
 */
import {
  encodeKey,
  generateKeyPair,
  type KeyPaths,
  keyPathsIn,
  writeKeyPair,
} from "../../lib/wireguard/mod.ts";
import { generateRosenpassKeys } from "../../lib/rosenpass/mod.ts";
import { join } from "node:path";
import { mayAccess, outsideReason } from "../../lib/ops/mod.ts";
import { commandArgs } from "./_args.ts";

/** Where the command writes; replaced in tests. */
export interface KeygenOutput {
  out(text: string): void;
  err(text: string): void;
}

const consoleOutput: KeygenOutput = {
  out: (text) => console.log(text),
  err: (text) => console.error(text),
};

export const DEFAULT_STATE_DIR = "/var/lib/labman";

const USAGE = `Usage: labman keygen [--dir DIR] [--force] [--no-rosenpass] [--rosenpass-binary PATH]

Creates the node's key pairs, each secret key mode 0600 in a mode 0700 directory:
  WireGuard  DIR/wireguard/private.key, DIR/wireguard/public.key (the public key is printed)
  Rosenpass  DIR/rosenpass/pqsk, DIR/rosenpass/pqpk (524,160 bytes; sent at registration)
These are the default paths of wireguard.private_key_path and rosenpass.secret_key_path.

Options:
      --dir DIR                 state directory (default: ${DEFAULT_STATE_DIR})
      --force                   replace existing keys (the old ones are lost)
      --no-rosenpass            only create the WireGuard key pair
      --rosenpass-binary PATH   rosenpass executable (default: found on PATH)
  -h, --help                    show this help

Exit status: 0 created, 1 error (e.g. a key already exists), 2 usage error.`;

export interface KeygenStepOptions {
  /** Directory for this key type's files. */
  dir: string;
  /** rosenpass executable. @default "rosenpass" */
  rosenpassBinary?: string;
  /** @default false */
  force?: boolean;
}

export interface KeygenStepResult {
  /** Shown to the operator (e.g. "WireGuard"). */
  label: string;
  /** Public key as the operator registers it. */
  publicKey: string;
  files: string[];
}

/** Creates the WireGuard pair in `dir`; throws if a private key exists and `force` is unset. */
export async function keygenWireGuard(options: KeygenStepOptions): Promise<KeygenStepResult> {
  const paths: KeyPaths = keyPathsIn(options.dir);
  const pair = await generateKeyPair();
  await writeKeyPair(paths, pair, { force: options.force ?? false });
  return {
    label: "WireGuard",
    publicKey: encodeKey(pair.publicKey),
    files: [paths.privatePath, paths.publicPath],
  };
}

/** Creates the Rosenpass pair in `dir` with `rosenpass gen-keys`. */
export async function keygenRosenpass(options: KeygenStepOptions): Promise<KeygenStepResult> {
  const secretKeyPath = join(options.dir, "pqsk");
  const publicKeyPath = join(options.dir, "pqpk");
  const r = await generateRosenpassKeys({
    secretKeyPath,
    publicKeyPath,
    binary: options.rosenpassBinary ?? "rosenpass",
    force: options.force ?? false,
  });
  if (!r.created) {
    throw new Error(
      `Cannot create a Rosenpass key pair: one already exists at ${secretKeyPath} — pass --force to replace it`,
    );
  }
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", await Deno.readFile(publicKeyPath)),
  );
  const fingerprint = Array.from(digest.slice(0, 16), (b) => b.toString(16).padStart(2, "0"))
    .join("");
  return {
    label: "Rosenpass",
    publicKey: `rosenpass public key ${publicKeyPath} (sha256 ${fingerprint}…)`,
    files: [secretKeyPath, publicKeyPath],
  };
}

/** The key types `labman keygen` creates, in order, with their subdirectory of `--dir`. */
export const KEY_STEPS: {
  name: string;
  run: (o: KeygenStepOptions) => Promise<KeygenStepResult>;
}[] = [
  { name: "wireguard", run: keygenWireGuard },
  { name: "rosenpass", run: keygenRosenpass },
];

/** Runs `labman keygen` with the arguments after `keygen`. Returns the exit code; never throws. */
export async function keygen(
  args: string[],
  output: KeygenOutput = consoleOutput,
): Promise<number> {
  const parsed = commandArgs("keygen", args, {
    options: {
      dir: { type: "string" },
      force: { type: "boolean", default: false },
      "no-rosenpass": { type: "boolean", default: false },
      "rosenpass-binary": { type: "string" },
    },
    usage: USAGE,
  }, output);
  if (typeof parsed === "number") return parsed;
  const { values } = parsed;
  const base = values.dir ?? DEFAULT_STATE_DIR;
  if (!mayAccess(base, "write")) {
    output.err(
      `labman keygen: Cannot write keys to ${base}: ${outsideReason(base, "write")} — ` +
        `use the default (${DEFAULT_STATE_DIR}) or a --dir below it`,
    );
    return 1;
  }
  for (const step of KEY_STEPS) {
    if (step.name === "rosenpass" && values["no-rosenpass"]) continue;
    try {
      const r = await step.run({
        dir: join(base, step.name),
        force: values.force,
        ...(values["rosenpass-binary"] ? { rosenpassBinary: values["rosenpass-binary"] } : {}),
      });
      output.err(`${r.label} key pair written: ${r.files.join(", ")}`);
      output.out(r.publicKey);
    } catch (e) {
      output.err(`labman keygen: ${(e as Error).message}`);
      return 1;
    }
  }
  return 0;
}
