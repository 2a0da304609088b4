/**
 * Model discovery: one `GET {base_url}/models` per probe (never a completion — probing must not
 * cost GPU time), parsed leniently enough for Ollama, vLLM, llama.cpp, LM Studio, SGLang and TGI,
 * and every failure turned into one actionable sentence for `labman status` and the logs.
 *
 * @module
 */
import { BodyTooLargeError, readCappedText } from "../http/mod.ts";
import { modelIdsOf, parseModelList } from "./model_list.ts";

/** Why a probe failed, for metrics labels and for callers that react differently. */
export type ProbeFailureKind =
  | "refused"
  | "dns"
  | "unreachable"
  | "reset"
  | "tls"
  | "timeout"
  | "aborted"
  | "not_permitted"
  | "http"
  | "bad_json"
  | "bad_shape"
  | "too_large"
  | "network";

export interface ProbeFailure {
  readonly kind: ProbeFailureKind;
  /** One sentence naming the endpoint, the URL, what went wrong and what to check. */
  readonly message: string;
  /** HTTP status for `kind: "http"`. */
  readonly status?: number;
}

export type ProbeResult =
  | { readonly ok: true; readonly models: string[] }
  | { readonly ok: false; readonly error: ProbeFailure };

export interface ProbeOptions {
  /** Endpoint name used in messages. @default the URL's host */
  name?: string;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
  /** Whole probe (headers and body). @default 5000 */
  timeoutMs?: number;
  /** Sent as `Authorization: Bearer …`; never appears in messages. */
  apiKey?: string;
  /** Stops the probe early (shutdown, reconfigure). */
  signal?: AbortSignal;
  /** Largest model-list body accepted. @default 8 MiB */
  maxBodyBytes?: number;
}

export { modelIdsOf, type ModelList, parseModelList } from "./model_list.ts";

const DEFAULT_MAX_BODY = 8 * 1024 * 1024;

/** `GET ${baseUrl}/models` and parse the model list. Never throws; failures come back classified. */
export async function probeEndpoint(
  baseUrl: string,
  options: ProbeOptions = {},
): Promise<ProbeResult> {
  const url = `${baseUrl.replace(/\/+$/, "")}/models`;
  const name = options.name ?? hostOf(baseUrl);
  const timeoutMs = options.timeoutMs ?? 5000;
  const doFetch = options.fetch ?? globalThis.fetch;
  const fail = (kind: ProbeFailureKind, message: string, status?: number): ProbeResult => ({
    ok: false,
    error: status === undefined ? { kind, message } : { kind, message, status },
  });
  const where = `endpoint "${name}" at ${url}`;

  if (options.signal?.aborted) return fail("aborted", `Cannot probe ${where}: aborted`);
  const timeout = new AbortController();
  const timer = setTimeout(
    () => timeout.abort(new DOMException("probe timed out", "TimeoutError")),
    timeoutMs,
  );
  const signal = options.signal
    ? AbortSignal.any([options.signal, timeout.signal])
    : timeout.signal;
  const interrupted = (): ProbeResult | undefined => {
    if (options.signal?.aborted) return fail("aborted", `Cannot probe ${where}: aborted`);
    if (timeout.signal.aborted) {
      return fail(
        "timeout",
        `Cannot reach ${where}: no complete answer within ${timeoutMs} ms — ` +
          `is the server overloaded, still loading, or is the address wrong?`,
      );
    }
    return undefined;
  };

  try {
    let res: Response;
    try {
      const headers: Record<string, string> = { accept: "application/json" };
      if (options.apiKey) headers.authorization = `Bearer ${options.apiKey}`;
      res = await doFetch(url, { headers, signal, redirect: "manual" });
    } catch (err) {
      return interrupted() ?? classifyNetworkError(err, where);
    }

    if (res.status < 200 || res.status > 299) {
      let snippet = "";
      try {
        snippet = (await readCappedText(res.body, 300, { overflow: "truncate" })).text.trim()
          .replace(/\s+/g, " ");
      } catch {
        // The status alone is the useful part.
      }
      return fail("http", httpMessage(where, res, snippet), res.status);
    }

    let text: string;
    try {
      ({ text } = await readCappedText(res.body, options.maxBodyBytes ?? DEFAULT_MAX_BODY));
    } catch (err) {
      if (err instanceof BodyTooLargeError) {
        return fail(
          "too_large",
          `Cannot read the model list of ${where}: body exceeds ${err.limit} bytes — ` +
            `is base_url pointing at the API root (…/v1)?`,
        );
      }
      return interrupted() ?? classifyNetworkError(err, where);
    }

    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      return fail(
        "bad_json",
        `Cannot parse the model list of ${where}: invalid JSON (${(err as Error).message}) — ` +
          `is this an OpenAI-compatible server, and base_url its API root (…/v1)?`,
      );
    }
    const parsed = parseModelList(json);
    if (!parsed.ok) {
      return fail(
        "bad_shape",
        `Cannot parse the model list of ${where}: ${parsed.problem} — ` +
          `expected OpenAI list format {"object":"list","data":[{"id":…}]}`,
      );
    }
    return { ok: true, models: modelIdsOf(parsed.list) };
  } finally {
    clearTimeout(timer);
  }
}

function hostOf(baseUrl: string): string {
  try {
    return new URL(baseUrl).host;
  } catch {
    return baseUrl;
  }
}

/** Walks `cause` chains: Deno wraps the socket error in `TypeError("fetch failed")`. */
function errorText(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; depth < 5 && e !== undefined && e !== null; depth++) {
    parts.push(e instanceof Error ? `${e.name}: ${e.message}` : String(e));
    e = e instanceof Error ? e.cause : undefined;
  }
  return parts.join(" / ");
}

/** Classifies a fetch/body error into one actionable message. */
export function classifyNetworkError(err: unknown, where: string): ProbeResult {
  const text = errorText(err);
  const out = (kind: ProbeFailureKind, why: string): ProbeResult => ({
    ok: false,
    error: { kind, message: `Cannot reach ${where}: ${why}` },
  });
  if (err instanceof Deno.errors.NotCapable) {
    return out(
      "not_permitted",
      `not allowed by the data-plane sandbox (${err.message}) — only configured endpoint ` +
        `host:port pairs are reachable; check base_url`,
    );
  }
  if (/connection refused/i.test(text)) {
    return out("refused", "connection refused — is the server running and listening on that port?");
  }
  if (/dns error|failed to lookup|name or service not known|no address associated/i.test(text)) {
    return out("dns", "host name not found — check the host in base_url");
  }
  if (/network is unreachable|no route to host|host is unreachable/i.test(text)) {
    return out("unreachable", "no route to the host — check the address and the LAN");
  }
  if (/timed out/i.test(text)) {
    return out("timeout", "the connection timed out — is the host up and the port open?");
  }
  if (/certificate|tls|ssl|handshake/i.test(text)) {
    return out("tls", `TLS failed (${lastLine(text)}) — check http:// vs https:// in base_url`);
  }
  if (
    /connection reset|broken pipe|connection closed|unexpected eof|incomplete message/i.test(text)
  ) {
    return out("reset", "the server closed the connection — is it an HTTP server on that port?");
  }
  return out("network", `${lastLine(text)} — check base_url and that the server is up`);
}

function lastLine(text: string): string {
  const parts = text.split(" / ");
  return parts[parts.length - 1] ?? text;
}

function httpMessage(where: string, res: Response, snippet: string): string {
  const said = snippet ? ` (${snippet.slice(0, 200)})` : "";
  const head = `Cannot list models of ${where}: HTTP ${res.status}${said}`;
  const s = res.status;
  if (s >= 300 && s < 400) {
    const loc = res.headers.get("location");
    return `${head} — redirected${loc ? ` to ${loc}` : ""}; set base_url to the final API root`;
  }
  if (s === 401 || s === 403) return `${head} — the endpoint wants an API key; check api_key_file`;
  if (s === 404) return `${head} — base_url must be the OpenAI API root, usually ending in /v1`;
  if (s >= 500) return `${head} — the server is failing; check its logs`;
  return `${head} — is this an OpenAI-compatible server?`;
}
