/**
 * The reference control plane's HTTP routes as a plain `(Request) => Promise<Response>`,
 * validating every body with the same zod schemas the client uses.
 *
 * @module
 */
import { timingSafeEqual } from "node:crypto";
import {
  API_PREFIX,
  type ErrorBody,
  formatIssues,
  HeartbeatRequestSchema,
  type HeartbeatResponse,
  PROTOCOL_VERSION,
  type RegisterRequest,
  RegisterRequestSchema,
  type RegisterResponse,
} from "../control/mod.ts";
import type { RelayHub } from "./relay_hub.ts";
import type { ReferenceStore, RefNode } from "./store.ts";
import { BodyTooLargeError, readCappedText } from "../http/mod.ts";

export interface HandlerOptions {
  tokens: readonly string[];
  /** The control plane's own WireGuard peer as nodes should configure it. */
  wireguard: {
    publicKey: string;
    endpoint: string;
    allowedIps: string[];
    /** @default 25 */
    persistentKeepaliveS?: number;
  };
  /** The control plane's Rosenpass key and endpoint; sent to nodes that sent theirs. */
  rosenpass?: { publicKeyB64: string; endpoint?: string };
  /**
   * Called after a node registered and before it is answered, so the control plane's side of
   * the tunnel (its WireGuard peer and Rosenpass responder) can be set up for that node.
   */
  onRegister?: (request: RegisterRequest, node: RefNode) => void | Promise<void>;
  heartbeatIntervalS: number;
  /** Serves the relay protocol on `/api/v1/ws`; without it that path answers 501. */
  relay?: RelayHub;
  /** Returns the WebSocket URL handed to nodes (depends on the bound port). */
  websocketUrl: () => string;
  /** Largest accepted request body. @default 2 MiB (a Rosenpass key is ~700 kB of base64) */
  maxBodyBytes?: number;
  /** Called after each answered request (request log, CLI output). */
  onRequest?: (entry: { method: string; path: string; status: number; nodeId?: string }) => void;
}

const encoder = new TextEncoder();

/** Builds an error answer in the contract's error body shape. */
export function errorResponse(
  status: number,
  code: string,
  message: string,
  extra: { retryAfterS?: number; headers?: Record<string, string> } = {},
): Response {
  const body: ErrorBody = {
    error: {
      code,
      message,
      ...(extra.retryAfterS !== undefined ? { retry_after_s: extra.retryAfterS } : {}),
    },
  };
  const headers: Record<string, string> = { "content-type": "application/json", ...extra.headers };
  if (extra.retryAfterS !== undefined) headers["retry-after"] = String(extra.retryAfterS);
  return new Response(JSON.stringify(body), { status, headers });
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json" },
  });
}

/** Index of the matching token, or -1. Compares every token in constant time per token. */
function tokenIndex(header: string | null, tokens: readonly string[]): number {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
  if (!m) return -1;
  const given = encoder.encode(m[1]);
  let found = -1;
  tokens.forEach((t, i) => {
    const want = encoder.encode(t);
    if (want.length === given.length && timingSafeEqual(want, given)) found = i;
  });
  return found;
}

async function readJson(
  req: Request,
  maxBytes: number,
): Promise<{ ok: true; value: unknown } | { ok: false; res: Response }> {
  const declared = Number(req.headers.get("content-length") ?? "0");
  if (declared > maxBytes) {
    await req.body?.cancel();
    return {
      ok: false,
      res: errorResponse(413, "payload_too_large", `body over ${maxBytes} bytes`),
    };
  }
  let text: string;
  try {
    ({ text } = await readCappedText(req.body, maxBytes));
  } catch (err) {
    if (!(err instanceof BodyTooLargeError)) throw err;
    return {
      ok: false,
      res: errorResponse(413, "payload_too_large", `body over ${maxBytes} bytes`),
    };
  }
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    return {
      ok: false,
      res: errorResponse(400, "bad_request", `body is not JSON: ${(err as Error).message}`),
    };
  }
}

const HEARTBEAT_PATH = new RegExp(`^${API_PREFIX}/nodes/([^/]+)/heartbeat$`);
const NODE_PATH = new RegExp(`^${API_PREFIX}/nodes/([^/]+)$`);

export function createHandler(
  store: ReferenceStore,
  options: HandlerOptions,
): (req: Request) => Promise<Response> {
  const maxBody = options.maxBodyBytes ?? 2 * 1024 * 1024;

  async function route(req: Request, path: string): Promise<{ res: Response; nodeId?: string }> {
    if (path === `${API_PREFIX}/ws`) {
      return await websocket(req);
    }
    const isRegister = path === `${API_PREFIX}/nodes/register`;
    const hb = HEARTBEAT_PATH.exec(path);
    const node = isRegister || hb ? null : NODE_PATH.exec(path);
    if (!isRegister && !hb && !node) {
      await req.body?.cancel();
      return { res: errorResponse(404, "not_found", `no route ${req.method} ${path}`) };
    }
    const wantMethod = node ? "DELETE" : "POST";
    if (req.method !== wantMethod) {
      await req.body?.cancel();
      return {
        res: errorResponse(405, "method_not_allowed", `${path} accepts ${wantMethod}`, {
          headers: { allow: wantMethod },
        }),
      };
    }
    const tok = tokenIndex(req.headers.get("authorization"), options.tokens);
    if (tok < 0) {
      await req.body?.cancel();
      return {
        res: errorResponse(401, "unauthorized", "missing or unknown node token", {
          headers: { "www-authenticate": 'Bearer realm="labman"' },
        }),
      };
    }

    if (isRegister) return { res: await register(req, tok) };
    if (hb) {
      const nodeId = decodeURIComponent(hb[1]!);
      return { res: await heartbeat(req, nodeId, tok), nodeId };
    }
    const nodeId = decodeURIComponent(node![1]!);
    await req.body?.cancel();
    const outcome = store.deregister(nodeId, tok);
    if (outcome === "unknown_node") {
      return { res: errorResponse(404, "node_not_found", `unknown node ${nodeId}`), nodeId };
    }
    if (outcome === "wrong_token") {
      return {
        res: errorResponse(403, "forbidden", "node was registered with another token"),
        nodeId,
      };
    }
    return { res: new Response(null, { status: 204 }), nodeId };
  }

  /** The relay protocol endpoint (docs/protocol.md); 501 when no hub is configured. */
  async function websocket(req: Request): Promise<{ res: Response }> {
    if (!options.relay) {
      await req.body?.cancel();
      return {
        res: errorResponse(501, "not_implemented", "this control plane does not serve the relay"),
      };
    }
    if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      await req.body?.cancel();
      return {
        res: errorResponse(426, "upgrade_required", "the relay speaks WebSocket only", {
          headers: { upgrade: "websocket" },
        }),
      };
    }
    const tok = tokenIndex(req.headers.get("authorization"), options.tokens);
    if (tok < 0) {
      return {
        res: errorResponse(401, "unauthorized", "missing or unknown node token", {
          headers: { "www-authenticate": 'Bearer realm="labman"' },
        }),
      };
    }
    return { res: options.relay.accept(req, tok) };
  }

  async function register(req: Request, tok: number): Promise<Response> {
    const body = await readJson(req, maxBody);
    if (!body.ok) return body.res;
    const v = (body.value as { protocol_version?: unknown } | null)?.protocol_version;
    if (v !== undefined && v !== PROTOCOL_VERSION) {
      return errorResponse(
        400,
        "unsupported_protocol_version",
        `protocol_version ${
          String(v)
        } is not supported; this control plane speaks ${PROTOCOL_VERSION}`,
      );
    }
    const parsed = RegisterRequestSchema.safeParse(body.value);
    if (!parsed.success) return errorResponse(400, "bad_request", formatIssues(parsed.error));
    const outcome = store.register(parsed.data, tok);
    if (!outcome.ok) {
      return outcome.reason === "pool_exhausted"
        ? errorResponse(409, "address_pool_exhausted", "no free WireGuard address in the pool", {
          retryAfterS: 60,
        })
        : errorResponse(403, "forbidden", "this WireGuard key belongs to a node of another token");
    }
    await options.onRegister?.(parsed.data, outcome.node);
    const resp: RegisterResponse = {
      node_id: outcome.node.nodeId,
      wireguard: {
        address: outcome.node.address,
        peer: {
          public_key: options.wireguard.publicKey,
          endpoint: options.wireguard.endpoint,
          allowed_ips: options.wireguard.allowedIps,
          persistent_keepalive_s: options.wireguard.persistentKeepaliveS ?? 25,
        },
      },
      heartbeat_interval_s: options.heartbeatIntervalS,
      websocket_url: options.websocketUrl(),
    };
    if (options.rosenpass && outcome.node.hasRosenpassKey) {
      resp.rosenpass = {
        peer_public_key: options.rosenpass.publicKeyB64,
        ...(options.rosenpass.endpoint ? { peer_endpoint: options.rosenpass.endpoint } : {}),
      };
    }
    if (outcome.slugs) resp.slugs = outcome.slugs;
    return json(200, resp);
  }

  async function heartbeat(req: Request, nodeId: string, tok: number): Promise<Response> {
    const body = await readJson(req, maxBody);
    if (!body.ok) return body.res;
    const parsed = HeartbeatRequestSchema.safeParse(body.value);
    if (!parsed.success) return errorResponse(400, "bad_request", formatIssues(parsed.error));
    const outcome = store.heartbeat(nodeId, parsed.data, tok);
    if (!outcome.ok) {
      return outcome.reason === "unknown_node"
        ? errorResponse(404, "node_not_found", `unknown node ${nodeId}; register again`)
        : errorResponse(403, "forbidden", "node was registered with another token");
    }
    const resp: HeartbeatResponse = {
      desired_state: outcome.desiredState,
      heartbeat_interval_s: options.heartbeatIntervalS,
    };
    if (outcome.slugs) resp.slugs = outcome.slugs;
    return json(200, resp);
  }

  return async (req: Request): Promise<Response> => {
    const path = new URL(req.url).pathname;
    let result: { res: Response; nodeId?: string };
    try {
      result = await route(req, path);
    } catch (err) {
      result = { res: errorResponse(500, "internal", `reference control plane bug: ${err}`) };
    }
    options.onRequest?.({
      method: req.method,
      path,
      status: result.res.status,
      ...(result.nodeId !== undefined ? { nodeId: result.nodeId } : {}),
    });
    return result.res;
  };
}
