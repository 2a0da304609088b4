/**
 * One active check of an endpoint, in its own dialect: the kind's readiness probe (telling
 * "loading the model" from "down"), the model list, and the server's capacity signals
 * ("overloaded" when it reports itself full). Never throws.
 *
 * @module
 */
import type { BoundedGetOptions } from "../http/mod.ts";
import { boundedGet, serverRoot } from "../http/mod.ts";
import type { Capacity } from "./capacity.ts";
import { type Dialect, dialectOf, type ServerKind } from "./dialects.ts";
import {
  classifyNetworkError,
  probeEndpoint,
  type ProbeFailure,
  type ProbeOptions,
} from "./discovery.ts";

/**
 * - `ready`: answers, lists models, has room.
 * - `overloaded`: answers and lists models but reports itself full; routable again once it
 *   has room, and nothing is sent to it meanwhile.
 * - `loading`: up but still loading its model (llama.cpp and SGLang 503 on /health).
 * - `down`: does not answer, or answers wrongly.
 */
export type EndpointCondition = "ready" | "overloaded" | "loading" | "down";

export type EndpointCheck =
  | {
    readonly ok: true;
    readonly condition: "ready" | "overloaded";
    readonly models: string[];
    readonly capacity?: Capacity;
  }
  | { readonly ok: false; readonly condition: "loading" | "down"; readonly error: ProbeFailure };

export interface CheckOptions extends ProbeOptions {
  /**
   * Called right before the capacity signals are read, so the caller can note its own
   * in-flight count at the moment the server counts its running requests.
   */
  beforeCapacity?: () => void;
}

/** Checks `baseUrl` (ending in `/v1`) as a server of `kind`. */
export async function checkEndpoint(
  baseUrl: string,
  kind: ServerKind,
  options: CheckOptions = {},
): Promise<EndpointCheck> {
  const dialect = dialectOf(kind);
  const root = serverRoot(baseUrl);
  const name = options.name ?? root;
  const get: BoundedGetOptions = {
    timeoutMs: options.timeoutMs ?? 5000,
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.apiKey !== undefined ? { apiKey: options.apiKey } : {}),
  };
  if (dialect.healthPath) {
    const health = await healthOf(root, dialect, name, get);
    if (health) return health;
  }
  const probe = await probeEndpoint(baseUrl, options);
  if (!probe.ok) return { ok: false, condition: "down", error: probe.error };
  let capacity: Capacity | undefined;
  if (dialect.capacity) {
    options.beforeCapacity?.();
    try {
      capacity = await dialect.capacity(root, get);
    } catch {
      // A capacity reader never throws by design; a bug here must not fail the check.
    }
  }
  return {
    ok: true,
    condition: capacity?.full ? "overloaded" : "ready",
    models: probe.models,
    ...(capacity ? { capacity } : {}),
  };
}

async function healthOf(
  root: string,
  dialect: Dialect,
  name: string,
  get: BoundedGetOptions,
): Promise<EndpointCheck | undefined> {
  const url = `${root}${dialect.healthPath}`;
  const where = `endpoint "${name}" (${dialect.label}) at ${url}`;
  const r = await boundedGet(url, { ...get, maxBytes: 4096 });
  if (!r.ok) {
    if (get.signal?.aborted) {
      return down({ kind: "aborted", message: `Cannot probe ${where}: aborted` });
    }
    if (r.timedOut) {
      return down({
        kind: "timeout",
        message: `Cannot reach ${where}: no complete answer within ${get.timeoutMs} ms — ` +
          `is the server overloaded, still loading, or is the address wrong?`,
      });
    }
    const failed = classifyNetworkError(r.error, where);
    return failed.ok ? undefined : down(failed.error);
  }
  if (r.status >= 200 && r.status < 300) return undefined;
  const said = r.text.trim().replace(/\s+/g, " ").slice(0, 200);
  if (r.status === 503 && dialect.loadingOn503) {
    return {
      ok: false,
      condition: "loading",
      error: {
        kind: "http",
        status: 503,
        message: `${where} is still loading its model (HTTP 503${said ? `: ${said}` : ""}) — ` +
          `it becomes routable when loading finishes`,
      },
    };
  }
  if (r.status === 401 || r.status === 403) {
    return down({
      kind: "http",
      status: r.status,
      message: `Cannot check health of ${where}: HTTP ${r.status} — ` +
        `the endpoint wants an API key; check api_key_file`,
    });
  }
  return down({
    kind: "http",
    status: r.status,
    message: `Cannot check health of ${where}: HTTP ${r.status}${said ? ` (${said})` : ""} — ` +
      (r.status === 404
        ? `is kind = "${dialect.kind}" right for this server? Try kind = "auto"`
        : "the server reports a problem; check its logs"),
  });
}

function down(error: ProbeFailure): EndpointCheck {
  return { ok: false, condition: "down", error };
}
