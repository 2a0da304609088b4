/**
 * {@linkcode ControlPlaneError} and the pure mapping from an HTTP answer (or a failed fetch) to
 * one of four kinds that decide what the session does next:
 *
 * | kind        | when                                       | session reaction               |
 * |-------------|--------------------------------------------|--------------------------------|
 * | `auth`      | 401, 403                                   | state `error`, stop            |
 * | `not_found` | 404 on heartbeat                           | register again                 |
 * | `transient` | 408, 409, 425, 429, 5xx, network, timeout  | retry with backoff/Retry-After |
 * | `fatal`     | 400, other 4xx, 404 on register, bad reply | don't retry the same request   |
 *
 * @module
 */
import { ErrorBodySchema } from "./schema.ts";

export type ControlPlaneErrorKind = "auth" | "transient" | "fatal" | "not_found";
/** The call that failed; messages and the 404 meaning depend on it. */
export type ControlPlaneOperation = "register" | "heartbeat" | "deregister";

export interface ControlPlaneErrorInit {
  kind: ControlPlaneErrorKind;
  status?: number;
  /** Seconds the server asked us to wait (`Retry-After` header or `error.retry_after_s`). */
  retryAfterS?: number;
  /** `error.code` from the server's body. */
  code?: string;
  cause?: unknown;
}

/** A failed control-plane call; `kind` says whether and how to retry. */
export class ControlPlaneError extends Error {
  readonly kind: ControlPlaneErrorKind;
  readonly status?: number;
  readonly retryAfterS?: number;
  readonly code?: string;

  constructor(message: string, init: ControlPlaneErrorInit) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = "ControlPlaneError";
    this.kind = init.kind;
    if (init.status !== undefined) this.status = init.status;
    if (init.retryAfterS !== undefined) this.retryAfterS = init.retryAfterS;
    if (init.code !== undefined) this.code = init.code;
  }
}

const VERB: Record<ControlPlaneOperation, string> = {
  register: "register with the control plane",
  heartbeat: "send a heartbeat to the control plane",
  deregister: "deregister from the control plane",
};

const TOKEN_HINT = "check control_plane.node_token_file; get a new token from the control plane";

/**
 * Parses a `Retry-After` value: delay-seconds or an HTTP date (RFC 9110 §10.2.3).
 * Returns seconds (≥ 0), or `undefined` when absent or unparseable.
 */
export function parseRetryAfter(
  value: string | null,
  nowMs: number = Date.now(),
): number | undefined {
  if (value === null) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v);
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil((at - nowMs) / 1000));
}

/** Server-supplied text goes into log lines: keep it short and on one line. */
function clip(text: string, max = 200): string {
  const one = text.replace(/\s+/g, " ").trim();
  return one.length > max ? `${one.slice(0, max)}…` : one;
}

/**
 * Maps a non-2xx answer to an error. `bodyText` is the raw body (may be anything: a proxy in
 * front of the control plane can answer HTML).
 */
export function errorFromResponse(
  op: ControlPlaneOperation,
  status: number,
  bodyText: string,
  retryAfterHeader: string | null,
  nowMs: number = Date.now(),
): ControlPlaneError {
  let code: string | undefined;
  let serverMessage = "";
  let bodyRetryAfter: number | undefined;
  try {
    const parsed = ErrorBodySchema.safeParse(JSON.parse(bodyText));
    if (parsed.success) {
      code = parsed.data.error.code;
      serverMessage = clip(parsed.data.error.message);
      bodyRetryAfter = parsed.data.error.retry_after_s;
    }
  } catch {
    // Not JSON: keep a short excerpt below.
  }
  if (!serverMessage && bodyText) serverMessage = clip(bodyText, 120);
  const retryAfterS = parseRetryAfter(retryAfterHeader, nowMs) ?? bodyRetryAfter;
  const said = serverMessage ? `: ${code ? `${code}: ` : ""}${serverMessage}` : "";
  const base = { status, ...(code ? { code } : {}) };

  if (status === 401) {
    return new ControlPlaneError(
      `Cannot ${VERB[op]}: it rejected the node token (401)${said} — ${TOKEN_HINT}`,
      { kind: "auth", ...base },
    );
  }
  if (status === 403) {
    return new ControlPlaneError(
      `Cannot ${VERB[op]}: it refused this node (403)${said} — ${TOKEN_HINT}`,
      { kind: "auth", ...base },
    );
  }
  if (status === 404 && op === "heartbeat") {
    return new ControlPlaneError(
      `Cannot ${
        VERB[op]
      }: the control plane does not know this node (404)${said} — registering again`,
      { kind: "not_found", ...base },
    );
  }
  if (status === 404) {
    return new ControlPlaneError(
      `Cannot ${
        VERB[op]
      }: HTTP 404${said} — check control_plane.base_url (the API lives under /api/v1/)`,
      { kind: "fatal", ...base },
    );
  }
  if (status === 408 || status === 409 || status === 425 || status === 429 || status >= 500) {
    const wait = retryAfterS !== undefined ? ` after ${retryAfterS} s` : "";
    return new ControlPlaneError(`Cannot ${VERB[op]}: HTTP ${status}${said} — will retry${wait}`, {
      kind: "transient",
      ...base,
      ...(retryAfterS !== undefined ? { retryAfterS } : {}),
    });
  }
  const hint = status === 400 || status === 422
    ? " — the control plane rejected the request; check that labman and the control plane speak the same protocol version"
    : "";
  return new ControlPlaneError(`Cannot ${VERB[op]}: HTTP ${status}${said}${hint}`, {
    kind: "fatal",
    ...base,
  });
}

/** Maps a fetch that threw (DNS, refused, reset, timeout) to a transient error. */
export function errorFromFetchFailure(
  op: ControlPlaneOperation,
  baseUrl: string,
  cause: unknown,
  timeoutMs: number,
): ControlPlaneError {
  const isTimeout = cause instanceof DOMException && cause.name === "TimeoutError";
  const why = isTimeout
    ? `no answer within ${timeoutMs} ms (control_plane.request_timeout_ms)`
    : clip(cause instanceof Error ? cause.message : String(cause));
  return new ControlPlaneError(
    `Cannot ${
      VERB[op]
    } at ${baseUrl}: ${why} — check control_plane.base_url and the network; will retry`,
    { kind: "transient", cause },
  );
}
