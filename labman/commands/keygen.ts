/**
 * `labman keygen [--dir DIR] [--force]`: create the node's key pairs. Each key type has its own
 * exported step (`keygenWireGuard` here; Rosenpass adds `keygenRosenpass` next to it and a line
 * in {@linkcode KEY_STEPS}), so the command stays one loop over steps.
 *
 * @module
 */
import { parseArgs } from "node:util";
import {
  encodeKey,
  generateKeyPair,
  type KeyPaths,
  keyPathsIn,
  writeKeyPair,
} from "../../lib/wireguard/mod.ts";

/** Where the command writes; replaced in tests. */
export interface KeygenOutput {
  out(text: string): void;
  err(text: string): void;
}

const consoleOutput: KeygenOutput = {
  out: (text) => console.log(text),
  err: (text) => console.error(text),
};

export const DEFAULT_WIREGUARD_DIR = "/var/lib/labman/wireguard";

const USAGE = `Usage: labman keygen [--dir DIR] [--force]

Creates the node's WireGuard key pair: DIR/private.key (mode 0600, DIR mode 0700) and
DIR/public.key, and prints the public key.

Options:
      --dir DIR  key directory (default: ${DEFAULT_WIREGUARD_DIR})
      --force    replace an existing key (the old one is lost)
  -h, --help     show this help

Exit status: 0 created, 1 error (e.g. a key already exists), 2 usage error.`;

export interface KeygenStepOptions {
  /** Directory for this key type's files. */
  dir: string;
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

/**
 * The key types `labman keygen` creates, in order. Hook for Rosenpass: append
 * `{ name: "rosenpass", run: (o) => keygenRosenpass({ ...o, dir: <rosenpass dir> }) }`.
 */
export const KEY_STEPS: {
  name: string;
  run: (o: KeygenStepOptions) => Promise<KeygenStepResult>;
}[] = [
  { name: "wireguard", run: keygenWireGuard },
];

/** Runs `labman keygen` with the arguments after `keygen`. Returns the exit code; never throws. */
export async function keygen(
  args: string[],
  output: KeygenOutput = consoleOutput,
): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        dir: { type: "string" },
        force: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    output.err(`labman keygen: ${(e as Error).message}`);
    output.err(USAGE);
    return 2;
  }
  if (values.help) {
    output.out(USAGE);
    return 0;
  }
  const dir = values.dir ?? DEFAULT_WIREGUARD_DIR;
  for (const step of KEY_STEPS) {
    try {
      const r = await step.run({ dir, force: values.force });
      output.err(`${r.label} key pair written: ${r.files.join(", ")}`);
      output.out(r.publicKey);
    } catch (e) {
      output.err(`labman keygen: ${(e as Error).message}`);
      return 1;
    }
  }
  return 0;
}
