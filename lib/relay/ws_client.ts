/**
 * A small RFC 6455 WebSocket client for the control-plane link, on a TCP socket with
 * `TCP_NODELAY`. Deno's global `WebSocket` leaves Nagle's algorithm on and writes frames over
 * about 1 KB as two segments, so each such frame waited for the peer's delayed ACK (~40 ms per
 * message, measured by `bench/_relay.ts`). Here every frame is one write on a no-delay socket.
 *
 * Scope: text frames (the protocol has no binary ones), ping/pong, close, fragmented messages,
 * `ws://` and `wss://` (TLS via `Deno.startTls`). Every inbound size is bounded.
 *
 * @module
 */
import { Buffer } from "node:buffer";

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

export interface WsClientOptions {
  /** Extra request headers (e.g. `authorization`). */
  headers?: Record<string, string>;
  /** Largest message accepted; larger closes the connection with 1009. @default 262144 */
  maxMessageBytes?: number;
  /** Handshake deadline. @default 10000 */
  timeoutMs?: number;
  /** Ping after this much silence; close when the next ping finds none answered. @default 20000 */
  pingIntervalMs?: number;
  /** Extra CA certificates (PEM) for `wss://`. */
  caCerts?: string[];
}

export interface WsClient {
  /** Sends one text message (one frame, one write). */
  send(text: string): void;
  /** Bytes handed to `send` and not yet written to the socket. */
  readonly bufferedAmount: number;
  close(code?: number, reason?: string): void;
  onmessage: ((text: string) => void) | null;
  /** Settles once with the close code and reason (1006 for an abnormal end). */
  readonly closed: Promise<{ code: number; reason: string }>;
}

/** A WebSocket handshake that the server refused (status other than 101). */
export class WsHandshakeError extends Error {
  override readonly name = "WsHandshakeError";
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

function mask(payload: Uint8Array, opcode: number): Uint8Array {
  const len = payload.byteLength;
  const head = len < 126 ? 2 : len < 65_536 ? 4 : 10;
  const out = new Uint8Array(head + 4 + len);
  out[0] = 0x80 | opcode;
  if (len < 126) out[1] = 0x80 | len;
  else if (len < 65_536) {
    out[1] = 0x80 | 126;
    out[2] = len >> 8;
    out[3] = len & 0xff;
  } else {
    out[1] = 0x80 | 127;
    new DataView(out.buffer).setBigUint64(2, BigInt(len));
  }
  const key = crypto.getRandomValues(new Uint8Array(4));
  out.set(key, head);
  const body = head + 4;
  for (let i = 0; i < len; i++) out[body + i] = payload[i]! ^ key[i & 3]!;
  return out;
}

async function acceptKey(key: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-1", encoder.encode(key + GUID));
  return Buffer.from(digest).toString("base64");
}

/** Opens a WebSocket to `url` (`ws://` or `wss://`). */
export async function connectWs(url: string, options: WsClientOptions = {}): Promise<WsClient> {
  const u = new URL(url);
  if (u.protocol !== "ws:" && u.protocol !== "wss:") {
    throw new TypeError(`Cannot connect to ${url}: not a ws:// or wss:// URL`);
  }
  const tls = u.protocol === "wss:";
  const hostname = u.hostname.replace(/^\[|\]$/g, "");
  const port = Number(u.port || (tls ? 443 : 80));
  const timeoutMs = options.timeoutMs ?? 10_000;
  const signal = AbortSignal.timeout(timeoutMs);
  const tcp = await Deno.connect({ hostname, port, signal });
  tcp.setNoDelay(true);
  let conn: Deno.Conn = tcp;
  try {
    if (tls) {
      conn = await Deno.startTls(tcp, {
        hostname,
        ...(options.caCerts ? { caCerts: options.caCerts } : {}),
      });
    }
    const key = Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("base64");
    const lines = [
      `GET ${u.pathname}${u.search} HTTP/1.1`,
      `Host: ${u.host}`,
      "Upgrade: websocket",
      "Connection: Upgrade",
      `Sec-WebSocket-Key: ${key}`,
      "Sec-WebSocket-Version: 13",
      ...Object.entries(options.headers ?? {}).map(([k, v]) => `${k}: ${v}`),
    ];
    await writeAll(conn, encoder.encode(lines.join("\r\n") + "\r\n\r\n"));
    const { head, rest } = await readHead(conn, signal);
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
    if (status !== 101) {
      throw new WsHandshakeError(status, `Cannot connect to ${url}: the server answered ${status}`);
    }
    const accept = /^sec-websocket-accept:\s*(\S+)\s*$/im.exec(head)?.[1];
    if (accept !== await acceptKey(key)) {
      throw new WsHandshakeError(status, `Cannot connect to ${url}: bad Sec-WebSocket-Accept`);
    }
    return open(conn, rest, options);
  } catch (err) {
    try {
      conn.close();
    } catch { /* closed */ }
    throw err;
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.byteLength) off += await conn.write(bytes.subarray(off));
}

async function readHead(
  conn: Deno.Conn,
  signal: AbortSignal,
): Promise<{ head: string; rest: Uint8Array }> {
  const buf = new Uint8Array(16_384);
  let len = 0;
  while (len < buf.byteLength) {
    if (signal.aborted) throw new Error("Cannot open the WebSocket: the handshake timed out");
    const n = await conn.read(buf.subarray(len));
    if (n === null) {
      throw new Error("Cannot open the WebSocket: the connection closed during the handshake");
    }
    len += n;
    const text = new TextDecoder().decode(buf.subarray(0, len));
    const end = text.indexOf("\r\n\r\n");
    if (end >= 0) {
      const headBytes = encoder.encode(text.slice(0, end + 4)).byteLength;
      return { head: text.slice(0, end), rest: buf.slice(headBytes, len) };
    }
  }
  throw new Error("Cannot open the WebSocket: the response headers exceed 16 KiB");
}

function open(conn: Deno.Conn, initial: Uint8Array, options: WsClientOptions): WsClient {
  const maxMessage = options.maxMessageBytes ?? 262_144;
  const pingMs = options.pingIntervalMs ?? 20_000;
  let buffered = 0;
  let writing = Promise.resolve();
  let closing = false;
  let ended = false;
  let heardSince = true;
  let closeTimer: ReturnType<typeof setTimeout> | undefined;
  const done = Promise.withResolvers<{ code: number; reason: string }>();

  const end = (code: number, reason: string) => {
    if (ended) return;
    ended = true;
    clearInterval(pinger);
    clearTimeout(closeTimer);
    try {
      conn.close();
    } catch { /* closed */ }
    done.resolve({ code, reason });
  };
  const write = (frame: Uint8Array) => {
    if (ended) return;
    buffered += frame.byteLength;
    writing = writing.then(() => writeAll(conn, frame)).then(
      () => void (buffered -= frame.byteLength),
      () => end(1006, "write failed"),
    );
  };
  const sendClose = (code: number, reason: string) => {
    if (closing) return;
    closing = true;
    const r = encoder.encode(reason.slice(0, 120));
    const p = new Uint8Array(2 + r.byteLength);
    p[0] = code >> 8;
    p[1] = code & 0xff;
    p.set(r, 2);
    write(mask(p, 0x8));
    // The server answers with its close frame; don't wait for it forever.
    closeTimer = setTimeout(() => end(code, reason), 2000);
  };
  /** A protocol failure: say why, then drop the connection without waiting for an answer. */
  const fail = (code: number, reason: string) => {
    sendClose(code, reason);
    writing.then(() => end(code, reason));
  };
  const pinger = setInterval(() => {
    if (!heardSince) {
      sendClose(1001, "no answer to ping");
      return;
    }
    heardSince = false;
    write(mask(new Uint8Array(0), 0x9));
  }, pingMs);

  const client: WsClient = {
    send(text) {
      if (ended || closing) throw new Error("Cannot send: the WebSocket is closed");
      write(mask(encoder.encode(text), 0x1));
    },
    get bufferedAmount() {
      return buffered;
    },
    close(code = 1000, reason = "") {
      sendClose(code, reason);
    },
    // Frames that came with the handshake answer arrive before the caller could set a handler:
    // they wait here (bounded by the message size limit times 16) and go out when it is set.
    get onmessage() {
      return handler;
    },
    set onmessage(fn) {
      handler = fn;
      while (fn && early.length) fn(early.shift()!);
    },
    closed: done.promise,
  };
  let handler: ((text: string) => void) | null = null;
  const early: string[] = [];
  const deliver = (text: string) => {
    if (handler) handler(text);
    else if (early.length < 16) early.push(text);
    else fail(1008, "too many messages before the handler was set");
  };

  (async () => {
    let buf = initial;
    let fragments: Uint8Array[] = [];
    let fragmentBytes = 0;
    const chunk = new Uint8Array(65_536);
    for (;;) {
      // Parse every complete frame in `buf`.
      for (;;) {
        if (buf.byteLength < 2) break;
        const b0 = buf[0]!, b1 = buf[1]!;
        if (b1 & 0x80) return fail(1002, "masked frame from server");
        let len = b1 & 0x7f;
        let off = 2;
        if (len === 126) {
          if (buf.byteLength < 4) break;
          len = (buf[2]! << 8) | buf[3]!;
          off = 4;
        } else if (len === 127) {
          if (buf.byteLength < 10) break;
          const big = new DataView(buf.buffer, buf.byteOffset + 2, 8).getBigUint64(0);
          if (big > BigInt(maxMessage)) return fail(1009, "message too big");
          len = Number(big);
          off = 10;
        }
        if (len > maxMessage) return fail(1009, "message too big");
        if (buf.byteLength < off + len) break;
        const payload = buf.slice(off, off + len);
        buf = buf.subarray(off + len);
        heardSince = true;
        const opcode = b0 & 0x0f, fin = (b0 & 0x80) !== 0;
        if (opcode === 0x8) {
          const code = payload.byteLength >= 2 ? (payload[0]! << 8) | payload[1]! : 1005;
          const reason = new TextDecoder().decode(payload.subarray(2));
          sendClose(code === 1005 ? 1000 : code, reason);
          await writing;
          return end(code, reason);
        }
        if (opcode === 0x9) {
          write(mask(payload, 0xa));
          continue;
        }
        if (opcode === 0xa) continue;
        if (opcode === 0x1 || opcode === 0x2 || opcode === 0x0) {
          fragmentBytes += payload.byteLength;
          if (fragmentBytes > maxMessage) return fail(1009, "message too big");
          fragments.push(payload);
          if (!fin) continue;
          const all = fragments.length === 1 ? fragments[0]! : Buffer.concat(fragments);
          fragments = [];
          fragmentBytes = 0;
          let text: string;
          try {
            text = decoder.decode(all);
          } catch {
            return fail(1007, "invalid UTF-8");
          }
          if (!closing) deliver(text);
          continue;
        }
        return fail(1002, `unknown opcode ${opcode}`);
      }
      let n: number | null;
      try {
        n = await conn.read(chunk);
      } catch {
        n = null;
      }
      if (n === null) return end(closing ? 1000 : 1006, "connection closed");
      const next = new Uint8Array(buf.byteLength + n);
      next.set(buf);
      next.set(chunk.subarray(0, n), buf.byteLength);
      buf = next;
    }
  })().catch(() => end(1006, "read failed"));

  return client;
}
