/**
 * One bounded GET for the side probes of a dialect (health, capacity, fingerprints): a whole-
 * answer deadline, a body cap, no redirects, and never a throw.
 *
 * @module
 */

export interface BoundedGetOptions {
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
  /** @default 3000 */
  timeoutMs?: number;
  /** Largest body read; longer bodies are cut (`truncated`). @default 256 KiB */
  maxBytes?: number;
  signal?: AbortSignal;
  /** Sent as `Authorization: Bearer …`. */
  apiKey?: string;
}

export type BoundedGetResult =
  | {
    readonly ok: true;
    readonly status: number;
    readonly headers: Headers;
    readonly text: string;
    readonly truncated: boolean;
  }
  | { readonly ok: false; readonly error: unknown; readonly timedOut: boolean };

/** GETs `url`; the body is read up to `maxBytes`. */
export async function boundedGet(
  url: string,
  options: BoundedGetOptions = {},
): Promise<BoundedGetResult> {
  const timeoutMs = options.timeoutMs ?? 3000;
  const maxBytes = options.maxBytes ?? 256 * 1024;
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  const headers: Record<string, string> = { accept: "application/json, text/plain;q=0.9" };
  if (options.apiKey) headers.authorization = `Bearer ${options.apiKey}`;
  try {
    const res = await (options.fetch ?? globalThis.fetch)(url, {
      headers,
      signal,
      redirect: "manual",
    });
    const { text, truncated } = await readCapped(res, maxBytes);
    return { ok: true, status: res.status, headers: res.headers, text, truncated };
  } catch (error) {
    return { ok: false, error, timedOut: timeout.aborted };
  }
}

async function readCapped(
  res: Response,
  limit: number,
): Promise<{ text: string; truncated: boolean }> {
  if (!res.body) return { text: "", truncated: false };
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let truncated = false;
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      if (size + value.byteLength > limit) {
        chunks.push(value.subarray(0, limit - size));
        size = limit;
        truncated = true;
        break;
      }
      chunks.push(value);
      size += value.byteLength;
    }
  } finally {
    await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.byteLength;
  }
  return { text: new TextDecoder().decode(all), truncated };
}

/** Parses JSON or gives `undefined`. */
export function jsonOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** `http://h:p/v1` → `http://h:p`: the server root where health and metrics live. */
export function serverRoot(baseUrl: string): string {
  return baseUrl.replace(/\/+$/, "").replace(/\/v1$/, "");
}
