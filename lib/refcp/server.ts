/**
 * The reference control plane: a real HTTP server implementing contract v1 for tests, `labman
 * dev` and the README's first command. It assigns WireGuard addresses from a pool, records
 * heartbeats and lets tests steer it (desired state, slug pushes, injected latency, failures,
 * going offline).
 *
 * @module
 */
import type { DesiredState, HeartbeatRequest, SlugEntry } from "../control/mod.ts";
import { abortableSleep } from "../timing/mod.ts";
import { AddressPool } from "./address_pool.ts";
import { createHandler, errorResponse, type HandlerOptions } from "./handler.ts";
import { RelayHub, type RelayHubOptions } from "./relay_hub.ts";
import { ReferenceStore, type RefNode } from "./store.ts";
import { bracketHost } from "../net/mod.ts";

export type { RefNode };

export interface ReferenceControlPlaneOptions {
  /** @default "127.0.0.1" */
  hostname?: string;
  /** 0 picks a free port. @default 0 */
  port?: number;
  /** Accepted node tokens. */
  tokens: string[];
  /** IPv4 pool for node addresses (`/32` each). @default "10.90.0.0/24" */
  addressPool?: string;
  /** See HandlerOptions. */
  wireguard: HandlerOptions["wireguard"];
  rosenpass?: HandlerOptions["rosenpass"];
  /** Sets up the control plane's tunnel side for a newly registered node (see HandlerOptions). */
  onRegister?: HandlerOptions["onRegister"];
  /** May be fractional (tests). @default 15 */
  heartbeatIntervalS?: number;
  /** @default `ws://{host}:{port}/api/v1/ws` */
  websocketUrl?: string;
  /** Heartbeats kept per node. @default 100 */
  historyLimit?: number;
  /** Called after every answered request. */
  onRequest?: (entry: RequestLogEntry) => void;
  /** Relay protocol options (docs/protocol.md). */
  relay?: RelayHubOptions;
}

/**
 * Failure injection. Each {@linkcode ReferenceControlPlane.setMode} call replaces the whole
 * mode: `setMode({})` is back to normal and online.
 */
export interface ReferenceControlPlaneMode {
  /** Delay before each answer. */
  latencyMs?: number;
  /** Answer this status (with the error body) instead of handling the request. */
  failStatus?: number;
  /** Only the next N matching requests fail; then the mode clears `failStatus`. */
  failCount?: number;
  /** Sent as `Retry-After` and `error.retry_after_s` with `failStatus`. */
  retryAfterS?: number;
  /** Which calls fail. @default "all" */
  failOn?: "all" | "register" | "heartbeat" | "deregister";
  /** Stop listening (connections are refused) until a mode without `offline` is set. */
  offline?: boolean;
}

export interface RequestLogEntry {
  method: string;
  path: string;
  status: number;
  nodeId?: string;
}

export interface ReferenceControlPlane extends AsyncDisposable {
  /** `http://host:port` (no trailing slash): the nodes' `control_plane.base_url`. */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
  nodes(): RefNode[];
  heartbeats(nodeId: string): HeartbeatRequest[];
  setDesiredState(nodeId: string | "*", state: DesiredState): void;
  setSlugs(nodeId: string | "*", entries: SlugEntry[]): void;
  setMode(mode: ReferenceControlPlaneMode): Promise<void>;
  /** Forgets a node as if the control plane lost its state: the next heartbeat gets 404. */
  forgetNode(nodeId: string): boolean;
  /** Every answered request, oldest first (bounded to the last 1000). */
  requests(): RequestLogEntry[];
  /** The relay protocol endpoint: received messages, directives to send, link control. */
  readonly relay: RelayHub;
}

const FAIL_CODES: Record<number, string> = {
  400: "bad_request",
  401: "unauthorized",
  403: "forbidden",
  404: "not_found",
  409: "conflict",
  429: "rate_limited",
  500: "internal",
  502: "bad_gateway",
  503: "unavailable",
  504: "gateway_timeout",
};

function operationOf(method: string, path: string): ReferenceControlPlaneMode["failOn"] {
  if (path.endsWith("/nodes/register")) return "register";
  if (path.endsWith("/heartbeat")) return "heartbeat";
  if (method === "DELETE") return "deregister";
  return "all";
}

/** Starts the server; resolves once it listens. */
export function startReferenceControlPlane(
  options: ReferenceControlPlaneOptions,
): Promise<ReferenceControlPlane> {
  const hostname = options.hostname ?? "127.0.0.1";
  const pool = new AddressPool(
    options.addressPool ?? "10.90.0.0/24",
    options.wireguard.allowedIps.filter((c) => c.endsWith("/32")),
  );
  const store = new ReferenceStore(pool, { historyLimit: options.historyLimit ?? 100 });
  const log: RequestLogEntry[] = [];
  const record = (entry: RequestLogEntry) => {
    log.push(entry);
    if (log.length > 1000) log.shift();
    options.onRequest?.(entry);
  };
  let port = options.port ?? 0;
  const hostForUrl = bracketHost(hostname);
  const relay = new RelayHub(options.relay);
  const handler = createHandler(store, {
    relay,
    tokens: options.tokens,
    wireguard: options.wireguard,
    ...(options.rosenpass ? { rosenpass: options.rosenpass } : {}),
    ...(options.onRegister ? { onRegister: options.onRegister } : {}),
    heartbeatIntervalS: options.heartbeatIntervalS ?? 15,
    websocketUrl: () => options.websocketUrl ?? `ws://${hostForUrl}:${port}/api/v1/ws`,
    onRequest: record,
  });
  let mode: ReferenceControlPlaneMode = {};
  const closing = new AbortController();
  let server: Deno.HttpServer<Deno.NetAddr> | undefined;

  async function serve(req: Request): Promise<Response> {
    const m = mode;
    if (m.latencyMs) await abortableSleep(m.latencyMs, closing.signal);
    const path = new URL(req.url).pathname;
    const op = operationOf(req.method, path);
    const failOn = m.failOn ?? "all";
    if (m.failStatus !== undefined && (failOn === "all" || failOn === op)) {
      await req.body?.cancel();
      const status = m.failStatus!;
      if (m.failCount !== undefined && --m.failCount <= 0) {
        delete m.failStatus;
        delete m.failCount;
      }
      const res = errorResponse(
        status,
        FAIL_CODES[status] ?? "injected_failure",
        `injected failure (${status})`,
        m.retryAfterS !== undefined ? { retryAfterS: m.retryAfterS } : {},
      );
      record({ method: req.method, path, status });
      return res;
    }
    return handler(req);
  }

  function listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      try {
        server = Deno.serve({
          hostname,
          port,
          onListen: (addr) => {
            port = addr.port;
            resolve();
          },
        }, serve);
      } catch (err) {
        reject(err);
      }
    });
  }

  async function stopListening(): Promise<void> {
    const s = server;
    server = undefined;
    if (s) {
      await s.shutdown();
      await s.finished;
    }
  }

  const cp: ReferenceControlPlane = {
    get url() {
      return `http://${hostForUrl}:${port}`;
    },
    get port() {
      return port;
    },
    relay,
    async close() {
      closing.abort();
      relay.close();
      await stopListening();
    },
    nodes: () => store.nodes(),
    heartbeats: (nodeId) => store.heartbeats(nodeId),
    setDesiredState: (nodeId, state) => store.setDesiredState(nodeId, state),
    setSlugs: (nodeId, entries) => store.setSlugs(nodeId, entries),
    async setMode(next) {
      mode = { ...next };
      if (next.offline && server) {
        relay.dropConnections();
        await stopListening();
      }
      if (!next.offline && !server && !closing.signal.aborted) await listen();
    },
    forgetNode: (nodeId) => store.forget(nodeId),
    requests: () => [...log],
    [Symbol.asyncDispose]() {
      return cp.close();
    },
  };
  return listen().then(() => cp);
}
