/**
 * Reads a key that rosenpass wrote to `key_out`. rosenpass truncates and rewrites the file in
 * place (no rename), so it is read only after its stdout line, and strictly validated: a torn
 * or foreign file must never reach WireGuard.
 *
 * @module
 */

export type KeyResult = { ok: true; psk: string } | { ok: false; error: string };

const B64_32 = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

/**
 * Validates key file content (pure): exactly 44 chars of standard padded base64 decoding to
 * 32 bytes. Only one trailing `\n` is forgiven; nothing else is trimmed.
 */
export function parseRosenpassKey(content: string): KeyResult {
  const text = content.endsWith("\n") ? content.slice(0, -1) : content;
  if (text.length === 0) return { ok: false, error: "key file is empty" };
  if (text.length !== 44) {
    return { ok: false, error: `key is ${text.length} chars, expected 44 (base64 of 32 bytes)` };
  }
  // The class on char 43 only allows the 16 symbols whose unused low bits are zero, so every
  // accepted text is the canonical encoding of its bytes.
  if (!B64_32.test(text)) return { ok: false, error: "key is not padded standard base64" };
  if (atob(text).length !== 32) return { ok: false, error: "key does not decode to 32 bytes" };
  return { ok: true, psk: text };
}

/** Longest file worth reading; anything larger is not a key. */
const MAX_READ = 128;

/** Reads and validates the key file at `path`; never throws. */
export async function readRosenpassKey(path: string): Promise<KeyResult> {
  let file: Deno.FsFile | undefined;
  try {
    file = await Deno.open(path, { read: true });
    const buf = new Uint8Array(MAX_READ + 1);
    let n = 0;
    while (n < buf.length) {
      const got = await file.read(buf.subarray(n));
      if (got === null) break;
      n += got;
    }
    if (n > MAX_READ) return { ok: false, error: `key file is longer than ${MAX_READ} bytes` };
    let text: string;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(buf.subarray(0, n));
    } catch {
      return { ok: false, error: "key file is not text" };
    }
    return parseRosenpassKey(text);
  } catch (err) {
    return { ok: false, error: `cannot read key file: ${(err as Error).message}` };
  } finally {
    file?.close();
  }
}
