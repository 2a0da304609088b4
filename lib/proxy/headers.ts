/**
 * Which headers cross the proxy. Both directions use an allowlist: the control plane's
 * credentials stay on this hop, and an upstream's own fields (`Server`, `Set-Cookie`,
 * `Location`, `X-*` internals) never leave the node (invariant 9); only what an OpenAI client
 * needs passes back.
 *
 * @module
 */

/**
 * Request fields forwarded to the endpoint. A fixed list rather than an `openai-*` scan: iterating
 * a `Headers` sorts and combines every field and costs tens of µs per request in Deno, while a
 * handful of `get` calls costs a few. These are the `OpenAI-*` fields the SDKs send.
 */
const FORWARDED_REQUEST_FIELDS = [
  "content-type",
  "accept",
  "user-agent",
  "openai-organization",
  "openai-project",
  "openai-beta",
  "openai-version",
] as const;

/** Field names listed in `Connection`, which are hop-by-hop for this message only. */
function connectionListed(headers: Headers): Set<string> | null {
  const value = headers.get("connection");
  if (value === null) return null;
  const names = new Set<string>();
  for (const part of value.split(",")) {
    const name = part.trim().toLowerCase();
    if (name.length > 0) names.add(name);
  }
  return names;
}

/**
 * Fields for the upstream request, as pairs: content-type, accept, user-agent and the OpenAI
 * fields from the client; `x-request-id`; `authorization` only as the endpoint's own key. No
 * accept-encoding: the upstream answers uncompressed, so streams pass through untouched.
 */
export function upstreamRequestHeaders(
  incoming: Headers,
  requestId: string,
  apiKey: string | undefined,
): [string, string][] {
  const out: [string, string][] = [];
  const listed = connectionListed(incoming);
  for (const name of FORWARDED_REQUEST_FIELDS) {
    const value = incoming.get(name);
    if (value !== null && (listed === null || !listed.has(name))) out.push([name, value]);
  }
  out.push(["x-request-id", requestId]);
  if (apiKey !== undefined && apiKey.length > 0) out.push(["authorization", `Bearer ${apiKey}`]);
  return out;
}

/** Upstream response fields a client may see: framing, caching and what the OpenAI SDKs read. */
const RESPONSE_FIELDS = new Set([
  "content-type",
  "content-length",
  "content-encoding",
  "cache-control",
  "retry-after",
]);

/**
 * Whether an upstream response field may reach the client: {@linkcode RESPONSE_FIELDS}, the
 * `openai-*` fields (processing time, model, version) and the `x-ratelimit-*` fields the SDKs
 * use for backoff. Everything else — `Server`, `Set-Cookie`, `Location`, `Via`, other `X-*`
 * fields — stays on the node.
 */
export function isForwardedResponseField(lower: string): boolean {
  return RESPONSE_FIELDS.has(lower) || lower.startsWith("openai-") ||
    lower.startsWith("x-ratelimit-");
}

/**
 * Turns upstream response headers into the client's, in place: only allowlisted fields stay
 * (hop-by-hop and `Connection`-listed ones go too), our `x-request-id` comes in. In place
 * because copying a `Headers` means iterating it (slow).
 */
export function toClientResponseHeaders(headers: Headers, requestId: string): Headers {
  const listed = connectionListed(headers);
  // With Transfer-Encoding present, Content-Length is meaningless (RFC 9112 §6.3).
  const chunked = headers.has("transfer-encoding");
  const drop: string[] = [];
  for (const [name] of headers) {
    if (
      !isForwardedResponseField(name) || (listed !== null && listed.has(name)) ||
      (chunked && name === "content-length")
    ) drop.push(name);
  }
  for (const name of drop) headers.delete(name);
  headers.set("x-request-id", requestId);
  return headers;
}

/**
 * {@linkcode toClientResponseHeaders} over header pairs, without building a `Headers`: the same
 * fields pass (allowlisted, not `Connection`-listed, no `Content-Length` beside
 * `Transfer-Encoding`) and ours is added. Names keep the upstream's spelling.
 */
export function toClientResponseFields(
  fields: readonly (readonly [string, string])[],
  requestId: string,
): [string, string][] {
  let listed: Set<string> | null = null;
  let chunked = false;
  for (const [name, value] of fields) {
    // Only these two names matter here; checking the length first skips most lowercasing.
    if (name.length === 10 && name.toLowerCase() === "connection") {
      listed ??= new Set();
      for (const part of value.split(",")) {
        const listedName = part.trim().toLowerCase();
        if (listedName.length > 0) listed.add(listedName);
      }
    } else if (name.length === 17 && name.toLowerCase() === "transfer-encoding") {
      chunked = true;
    }
  }
  const out: [string, string][] = [];
  for (const field of fields) {
    const lower = field[0].toLowerCase();
    if (!isForwardedResponseField(lower)) continue;
    if (chunked && lower === "content-length") continue;
    if (listed !== null && listed.has(lower)) continue;
    out.push(field as [string, string]);
  }
  out.push(["x-request-id", requestId]);
  return out;
}

/** A client-supplied request id is kept when short and printable; otherwise a UUID. */
export function pickRequestId(value: string | null): string {
  if (value !== null && value.length > 0 && value.length <= 128) {
    let ok = true;
    for (let i = 0; i < value.length; i++) {
      const c = value.charCodeAt(i);
      if (c < 33 || c > 126) {
        ok = false;
        break;
      }
    }
    if (ok) return value;
  }
  return crypto.randomUUID();
}
