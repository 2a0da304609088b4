/**
 * The Portman-facing WebSocket server: loopback only, `/agent` for Portman and `/observe` for
 * local observers. Clients authenticate with the shared secret from `portman.secret_file`
 * (`Authorization: Bearer <secret>`); a credential-less client is let in only when the operator
 * opted in with `portman.allow_unauthenticated` (a single-user node).
 *
 * @module
 */
import { timingSafeEqual } from "node:crypto";
import { Buffer } from "node:buffer";
import { type Envelope, ProtocolError } from "../protocol/mod.ts";
import { getLogger } from "../telemetry/mod.ts";
import type { AgentLink, RelayRouter } from "./router.ts";

const log = getLogger("relay", "portman");

export interface PortmanServerOptions {
  hostname: string;
  port: number;
  router: RelayRouter;
  /** Shared secret; null only with `allowUnauthenticated`. */
  secret: string | null;
  /** @default false */
  allowUnauthenticated?: boolean;
  /** Idle connections are pinged after this and closed when the pong does not come. @default 20 */
  pingIntervalS?: number;
  /** Unsent bytes a connection may hold before it counts as a slow consumer. @default 1048576 */
  sendBufferBytes?: number;
  /** Concurrent `/agent` + `/observe` connections. @default 16 */
  maxConnections?: number;
  /** @default 262144 */
  maxFrameBytes?: number;
}

export interface PortmanServer extends AsyncDisposable {
  readonly addr: Deno.NetAddr;
  /** Sends an envelope to every observer subscribed to its kind. */
  observe(env: Envelope): void;
  /** Pushes the agent list to observers that asked for it. */
  agentsChanged(): void;
  shutdown(): Promise<void>;
}

interface Observer {
  socket: WebSocket;
  kinds: Set<string> | null;
  discover: boolean;
  dropped: number;
}

function secretMatches(header: string | null, secret: string): boolean {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
  if (!m) return false;
  const a = Buffer.from(m[1]!);
  const b = Buffer.from(secret);
  // Length leaks nothing useful here: the secret's length is fixed by labman.
  return a.length === b.length && timingSafeEqual(a, b);
}

function plain(status: number, text: string, headers: Record<string, string> = {}): Response {
  return new Response(text + "\n", {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", ...headers },
  });
}

export function startPortmanServer(options: PortmanServerOptions): Promise<PortmanServer> {
  const router = options.router;
  const sendBuffer = options.sendBufferBytes ?? 1024 * 1024;
  const maxConns = options.maxConnections ?? 16;
  const maxFrame = options.maxFrameBytes ?? 262_144;
  const sockets = new Set<WebSocket>();
  const observers = new Set<Observer>();
  let nextConn = 1;
  let warnedUnauthenticated = false;

  function handler(req: Request, info: Deno.ServeHandlerInfo<Deno.NetAddr>): Response {
    const path = new URL(req.url).pathname;
    if (path !== "/agent" && path !== "/observe") {
      return plain(404, `no route ${path}; Portman connects to /agent, observers to /observe`);
    }
    if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return plain(426, `${path} speaks WebSocket only`, { upgrade: "websocket" });
    }
    const auth = req.headers.get("authorization");
    if (auth !== null || !options.allowUnauthenticated) {
      if (options.secret === null || !secretMatches(auth, options.secret)) {
        log.warn("refused a {path} connection from {peer}: missing or wrong Portman secret", {
          path,
          peer: `${info.remoteAddr.hostname}:${info.remoteAddr.port}`,
        });
        return plain(
          401,
          "missing or wrong credential — send Authorization: Bearer <contents of portman.secret_file>",
          { "www-authenticate": 'Bearer realm="labman-portman"' },
        );
      }
    } else if (!warnedUnauthenticated) {
      warnedUnauthenticated = true;
      log.warn(
        "accepted a Portman connection without a credential (portman.allow_unauthenticated = true): any local user can impersonate Portman",
      );
    }
    if (sockets.size >= maxConns) {
      return plain(503, `too many connections (limit ${maxConns})`, { "retry-after": "5" });
    }
    const { socket, response } = Deno.upgradeWebSocket(req, {
      idleTimeout: options.pingIntervalS ?? 20,
    });
    sockets.add(socket);
    if (path === "/agent") attachAgent(socket);
    else attachObserver(socket);
    return response;
  }

  function attachAgent(socket: WebSocket): void {
    const connId = nextConn++;
    const link: AgentLink = {
      connId,
      send(text) {
        if (socket.readyState !== WebSocket.OPEN) return false;
        if (socket.bufferedAmount + text.length > sendBuffer) {
          // A Portman that stops reading would pin memory: cut it off; directives addressed to
          // it are held (bounded, with a TTL) until it reconnects.
          log.warn("Portman connection {connId} is not reading ({n} bytes unsent); closing it", {
            connId,
            n: socket.bufferedAmount,
          });
          socket.close(1008, "slow consumer: send buffer full");
          return false;
        }
        socket.send(text);
        return true;
      },
      close(code, reason) {
        if (socket.readyState === WebSocket.OPEN) socket.close(code, reason);
      },
    };
    socket.onopen = () => router.connected(link);
    socket.onmessage = (ev) => {
      if (typeof ev.data !== "string") {
        const size = ev.data instanceof Blob ? ev.data.size : (ev.data as ArrayBuffer).byteLength;
        router.rejectFrame(
          connId,
          new ProtocolError(
            size > maxFrame ? "FRAME_TOO_LARGE" : "INVALID_ENVELOPE",
            `frame: binary frames are not part of the protocol (${size} bytes); send JSON text`,
          ),
        );
        return;
      }
      router.fromAgent(connId, ev.data);
    };
    socket.onerror = () => {};
    socket.onclose = () => {
      sockets.delete(socket);
      router.disconnected(connId);
    };
  }

  function sendObserver(o: Observer, value: unknown): void {
    if (o.socket.readyState !== WebSocket.OPEN) return;
    const text = JSON.stringify(value);
    // Observers are best effort: a slow one misses messages rather than holding memory.
    if (o.socket.bufferedAmount + text.length > sendBuffer) {
      o.dropped++;
      return;
    }
    o.socket.send(text);
  }

  function attachObserver(socket: WebSocket): void {
    const o: Observer = { socket, kinds: null, discover: false, dropped: 0 };
    socket.onmessage = (ev) => {
      let cmd: { command?: unknown; kinds?: unknown };
      try {
        if (typeof ev.data !== "string" || ev.data.length > 65_536) {
          throw new Error("Cannot parse the command: not text or too large");
        }
        cmd = JSON.parse(ev.data);
      } catch {
        sendObserver(o, { event: "error", code: "INVALID_COMMAND", message: "send JSON commands" });
        return;
      }
      if (cmd.command === "subscribe") {
        const kinds = Array.isArray(cmd.kinds)
          ? cmd.kinds.filter((k): k is string => typeof k === "string").slice(0, 64)
          : [];
        o.kinds = kinds.length ? new Set(kinds) : null;
        observers.add(o);
        sendObserver(o, { event: "subscribed", kinds: kinds.length ? kinds : "all" });
      } else if (cmd.command === "discover") {
        o.discover = true;
        sendObserver(o, { event: "agents", agents: router.agents() });
      } else {
        sendObserver(o, {
          event: "error",
          code: "INVALID_COMMAND",
          message: 'commands: {"command":"subscribe","kinds":[…]} or {"command":"discover"}',
        });
      }
    };
    socket.onerror = () => {};
    socket.onclose = () => {
      sockets.delete(socket);
      observers.delete(o);
    };
  }

  return new Promise((resolve, reject) => {
    let server: Deno.HttpServer<Deno.NetAddr>;
    try {
      server = Deno.serve({
        hostname: options.hostname,
        port: options.port,
        onListen: () => {},
        onError: () => plain(500, "internal error"),
      }, handler);
    } catch (err) {
      reject(
        new Error(
          `Cannot listen for Portman on ${options.hostname}:${options.port}: ${
            (err as Error).message
          } — free the port or change portman.listen_port`,
        ),
      );
      return;
    }
    const api: PortmanServer = {
      addr: server.addr,
      observe(env) {
        for (const o of observers) if (!o.kinds || o.kinds.has(env.kind)) sendObserver(o, env);
      },
      agentsChanged() {
        for (const o of observers) {
          if (o.discover) sendObserver(o, { event: "agents", agents: router.agents() });
        }
      },
      async shutdown() {
        for (const s of sockets) {
          if (s.readyState === WebSocket.OPEN) s.close(1001, "labmand stopping");
        }
        await server.shutdown();
        await server.finished;
      },
      [Symbol.asyncDispose]() {
        return api.shutdown();
      },
    };
    resolve(api);
  });
}
