/**
 * One bounded GET for the side probes of a dialect (health, capacity, fingerprints): a whole-
 * answer deadline, a body cap, no redirects, and never a throw.
 *
 * @module
 */
import { readCappedText } from "../http/mod.ts";

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
    const { text, truncated } = await readCappedText(res.body, maxBytes, {
      overflow: "truncate",
    });
    return { ok: true, status: res.status, headers: res.headers, text, truncated };
  } catch (error) {
    return { ok: false, error, timedOut: timeout.aborted };
  }
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
