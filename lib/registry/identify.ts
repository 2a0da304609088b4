/**
 * Asks one server root the fingerprint questions (a handful of bounded GETs, in parallel) and
 * returns what it is. Never throws.
 *
 * @module
 */
import { boundedGet } from "../http/mod.ts";
import {
  type Fingerprint,
  fingerprint,
  FINGERPRINT_PATHS,
  type Observations,
} from "./fingerprint.ts";

export interface IdentifyOptions {
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
  /** Per request. @default 2000 */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Sent as a bearer key (servers started with `--api-key`). */
  apiKey?: string;
}

/** Model lists can be long (Ollama with many pulls); the other answers are small. */
const MODELS_MAX = 4 * 1024 * 1024;
const OTHER_MAX = 256 * 1024;

/** Fingerprints the server at `root` (`http://host:port`, no path). */
export async function identifyServer(
  root: string,
  options: IdentifyOptions = {},
): Promise<Fingerprint | undefined> {
  const base = root.replace(/\/+$/, "");
  const answers = await Promise.all(FINGERPRINT_PATHS.map(async (path) => {
    const r = await boundedGet(`${base}${path}`, {
      timeoutMs: options.timeoutMs ?? 2000,
      maxBytes: path === "/v1/models" ? MODELS_MAX : OTHER_MAX,
      ...(options.fetch ? { fetch: options.fetch } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.apiKey ? { apiKey: options.apiKey } : {}),
    });
    return [path, r] as const;
  }));
  const obs: Observations = {};
  for (const [path, r] of answers) {
    if (r.ok && !r.truncated) obs[path] = { status: r.status, text: r.text };
  }
  return fingerprint(obs);
}
