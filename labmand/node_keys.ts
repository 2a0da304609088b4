/**
 * The node's WireGuard identity. The control plane keys nodes on the WireGuard public key, so it
 * must survive restarts: the key pair is generated once into `wireguard.private_key_path` (mode
 * 0600, directory 0700) when absent, in every mode, and `wireguard.public_key_path` is kept
 * holding its public half (what registration sends).
 *
 * @module
 */
import { dirname } from "node:path";
import type { LabmanConfig } from "../lib/config/mod.ts";
import { getLogger } from "../lib/telemetry/mod.ts";
import {
  type Base64Key,
  encodeKey,
  generateKeyPair,
  publicKeyFromPrivate,
  readPrivateKey,
} from "../lib/wireguard/mod.ts";

const log = getLogger("labmand");

export interface NodeKeys {
  /** Null only in local mode when the key could not be stored (identity is then per run). */
  privateKey: Base64Key | null;
  publicKey: Base64Key;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

async function generate(privatePath: string): Promise<Base64Key> {
  const pair = await generateKeyPair();
  const dir = dirname(privatePath);
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  await Deno.chmod(dir, 0o700);
  const text = encodeKey(pair.privateKey);
  // createNew: two starts racing must not both win; the loser reads the winner's key.
  const tmp = `${privatePath}.tmp-${crypto.randomUUID()}`;
  try {
    await Deno.writeTextFile(tmp, text + "\n", { mode: 0o600, createNew: true });
    await Deno.chmod(tmp, 0o600);
    await Deno.link(tmp, privatePath);
  } finally {
    await Deno.remove(tmp).catch(() => {});
  }
  return text;
}

/** Reads the node key, generating it on first start; keeps `public_key_path` in step. */
export async function loadNodeKeys(config: LabmanConfig): Promise<NodeKeys> {
  const wg = config.wireguard;
  let privateKey: Base64Key;
  try {
    if (!(await exists(wg.private_key_path))) {
      try {
        await generate(wg.private_key_path);
        log.info("generated the node's WireGuard key in {path} (kept across restarts)", {
          path: wg.private_key_path,
        });
      } catch (err) {
        if (!(err instanceof Deno.errors.AlreadyExists)) throw err;
      }
    }
    privateKey = await readPrivateKey(wg.private_key_path);
  } catch (err) {
    const message = (err as Error).message;
    if (wg.mode !== "off") {
      throw new Error(
        `Cannot read wireguard.private_key_path: ${message} — fix the path or its permissions, or create the key with "labman keygen"`,
      );
    }
    // Local mode: the key is only an identity for registration; serving must not depend on it.
    log.warn(
      "Cannot use wireguard.private_key_path ({message}): registering with a key for this run only — the control plane will see a new node after each restart",
      { message },
    );
    return { privateKey: null, publicKey: encodeKey((await generateKeyPair()).publicKey) };
  }
  const publicKey = encodeKey(await publicKeyFromPrivate(privateKey));
  await syncPublicKeyFile(wg.public_key_path, publicKey);
  return { privateKey, publicKey };
}

async function syncPublicKeyFile(path: string, publicKey: Base64Key): Promise<void> {
  try {
    const current = await Deno.readTextFile(path).catch(() => null);
    if (current?.trim() === publicKey) return;
    await Deno.mkdir(dirname(path), { recursive: true });
    await Deno.writeTextFile(path, publicKey + "\n", { mode: 0o644 });
    if (current !== null) {
      log.warn("wireguard.public_key_path {path} did not match the private key: rewrote it", {
        path,
      });
    }
  } catch (err) {
    log.warn("Cannot write wireguard.public_key_path {path}: {message}", {
      path,
      message: (err as Error).message,
    });
  }
}
