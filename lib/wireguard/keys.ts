/**
 * Curve25519 keys for WireGuard with WebCrypto: generation (clamped like `wg genkey`), public
 * key derivation, strict base64/hex codecs, and secret files kept at mode 0600 in a 0700
 * directory (invariant 7).
 *
 * @module
 */
import { dirname, join } from "node:path";
import type { Base64Key } from "./types.ts";

export const KEY_LEN = 32;
/** DER prefix of a PKCS#8 X25519 private key; the 32 raw key bytes follow. */
const PKCS8_X25519_PREFIX = Uint8Array.from([
  0x30,
  0x2e,
  0x02,
  0x01,
  0x00,
  0x30,
  0x05,
  0x06,
  0x03,
  0x2b,
  0x65,
  0x6e,
  0x04,
  0x22,
  0x04,
  0x20,
]);

export interface KeyPair {
  privateKey: Uint8Array;
  publicKey: Uint8Array;
}

/** Applies the X25519 clamp (RFC 7748 §5) on a copy, as `wg genkey` and the kernel do. */
export function clampPrivateKey(raw: Uint8Array): Uint8Array {
  assertKeyBytes(raw, "private key");
  const k = raw.slice();
  k[0] &= 248;
  k[31] = (k[31] & 127) | 64;
  return k;
}

/** A new clamped keypair. Clamping leaves the public key unchanged. */
export async function generateKeyPair(): Promise<KeyPair> {
  const kp = await crypto.subtle.generateKey({ name: "X25519" }, true, [
    "deriveBits",
  ]) as CryptoKeyPair;
  const publicKey = new Uint8Array(await crypto.subtle.exportKey("raw", kp.publicKey));
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", kp.privateKey));
  return { privateKey: clampPrivateKey(pkcs8.slice(PKCS8_X25519_PREFIX.length)), publicKey };
}

/** 32 random bytes, like `wg genpsk`. */
export function generatePresharedKey(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(KEY_LEN));
}

/** Derives the public key of a raw or base64 private key (clamped first, as WireGuard does). */
export async function publicKeyFromPrivate(
  privateKey: Uint8Array | Base64Key,
): Promise<Uint8Array> {
  const raw = typeof privateKey === "string" ? decodeKey(privateKey, "private key") : privateKey;
  const der = new Uint8Array(PKCS8_X25519_PREFIX.length + KEY_LEN);
  der.set(PKCS8_X25519_PREFIX);
  der.set(clampPrivateKey(raw), PKCS8_X25519_PREFIX.length);
  const key = await crypto.subtle.importKey("pkcs8", der, { name: "X25519" }, true, ["deriveBits"]);
  const jwk = await crypto.subtle.exportKey("jwk", key);
  if (!jwk.x) throw new Error("Cannot derive public key: WebCrypto returned no JWK x");
  return base64UrlDecode(jwk.x);
}

function assertKeyBytes(k: Uint8Array, what: string): void {
  if (k.length !== KEY_LEN) {
    throw new RangeError(`Cannot use ${what}: ${k.length} bytes, a WireGuard key is 32 bytes`);
  }
}

/** Standard base64 (44 chars) of a 32-byte key. */
export function encodeKey(k: Uint8Array): Base64Key {
  assertKeyBytes(k, "key");
  let s = "";
  for (const b of k) s += String.fromCharCode(b);
  return btoa(s);
}

const B64_KEY = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

/**
 * Decodes a base64 key strictly: exactly 44 characters, padding present, and no stray bits in
 * the last character, so that two spellings of the same key cannot exist.
 */
export function decodeKey(text: string, what = "key"): Uint8Array {
  if (!B64_KEY.test(text)) {
    throw new SyntaxError(
      `Cannot decode ${what}: expected 44 characters of base64 for 32 bytes (as \`wg genkey\` prints)`,
    );
  }
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

function base64UrlDecode(s: string): Uint8Array {
  const b64 = s.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(s.length / 4) * 4, "=");
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

/** Lowercase 64-hex (UAPI form) of a base64 key. */
export function keyToHex(key: Base64Key): string {
  return Array.from(decodeKey(key), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Base64 key from 64 hex characters (either case). */
export function hexToKey(hex: string, what = "key"): Base64Key {
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) {
    throw new SyntaxError(`Cannot decode ${what}: expected 64 hex characters`);
  }
  const b = new Uint8Array(KEY_LEN);
  for (let i = 0; i < KEY_LEN; i++) b[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return encodeKey(b);
}

export const ZERO_KEY: Base64Key = encodeKey(new Uint8Array(KEY_LEN));

export interface KeyPaths {
  privatePath: string;
  publicPath: string;
}

/** `private.key`/`public.key` inside `dir`, matching the config defaults. */
export function keyPathsIn(dir: string): KeyPaths {
  return { privatePath: join(dir, "private.key"), publicPath: join(dir, "public.key") };
}

async function ensureSecretDir(dir: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  // mkdir's mode is filtered by umask and leaves an existing directory alone: set it outright.
  await Deno.chmod(dir, 0o700);
}

/** Writes a secret with mode 0600 whatever the umask, via a temp file renamed into place. */
export async function writeSecretFile(path: string, data: string): Promise<void> {
  const tmp = `${path}.tmp-${crypto.randomUUID()}`;
  try {
    await Deno.writeTextFile(tmp, data, { mode: 0o600, createNew: true });
    await Deno.chmod(tmp, 0o600);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

/**
 * Writes the pair as base64 lines: the private key 0600 in a 0700 directory, the public key
 * 0644. Refuses to replace an existing private key unless `force`.
 */
export async function writeKeyPair(
  paths: KeyPaths,
  pair: KeyPair,
  options: { force?: boolean } = {},
): Promise<void> {
  if (!options.force && await exists(paths.privatePath)) {
    throw new Error(
      `Cannot write ${paths.privatePath}: a key already exists — pass --force to replace it`,
    );
  }
  await ensureSecretDir(dirname(paths.privatePath));
  await writeSecretFile(paths.privatePath, encodeKey(pair.privateKey) + "\n");
  await Deno.mkdir(dirname(paths.publicPath), { recursive: true });
  await Deno.writeTextFile(paths.publicPath, encodeKey(pair.publicKey) + "\n", { mode: 0o644 });
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

const octal = (mode: number) => (mode & 0o777).toString(8).padStart(4, "0");

/** Throws unless `path` is a regular file no one but its owner can read or write. */
export async function checkSecretFileMode(path: string): Promise<void> {
  const st = await Deno.stat(path);
  if (!st.isFile) throw new Error(`Cannot use secret ${path}: not a regular file`);
  const mode = st.mode ?? 0;
  if (mode & 0o077) {
    throw new Error(`Cannot use secret ${path}: it is mode ${octal(mode)}; run: chmod 600 ${path}`);
  }
}

/** Throws unless `dir` is a directory closed to group and others. */
export async function checkSecretDirMode(dir: string): Promise<void> {
  const st = await Deno.stat(dir);
  if (!st.isDirectory) throw new Error(`Cannot use secret directory ${dir}: not a directory`);
  const mode = st.mode ?? 0;
  if (mode & 0o077) {
    throw new Error(
      `Cannot use secret directory ${dir}: it is mode ${octal(mode)}; run: chmod 700 ${dir}`,
    );
  }
}

/** Reads a base64 private key after checking the file (and its directory) modes. */
export async function readPrivateKey(path: string): Promise<Base64Key> {
  await checkSecretDirMode(dirname(path));
  await checkSecretFileMode(path);
  const text = (await Deno.readTextFile(path)).trim();
  decodeKey(text, `private key in ${path}`);
  return text;
}
