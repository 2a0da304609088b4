/**
 * Test helpers for the proxy: a raw TCP HTTP/1.1 server that writes exactly the bytes a test
 * asks for, and small promise gates. Not exported from `mod.ts`.
 *
 * @module
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A promise that a test resolves by hand, to order events without timing. */
export interface Gate<T = void> {
  promise: Promise<T>;
  open(value: T): void;
}

export function gate<T = void>(): Gate<T> {
  const { promise, resolve } = Promise.withResolvers<T>();
  return { promise, open: resolve };
}

/** One parsed request as the raw server saw it. */
export interface RawRequest {
  method: string;
  path: string;
  headers: Map<string, string>;
  body: Uint8Array;
  /** The head as text, for asserting what went over the wire. */
  head: string;
}

/** Reads requests off one accepted connection, keeping leftover bytes between them. */
export class RawConn {
  #buf = new Uint8Array(0);
  #closed = false;
  constructor(readonly conn: Deno.TcpConn, readonly index: number) {}

  async #fill(): Promise<boolean> {
    const chunk = new Uint8Array(16 * 1024);
    let n: number | null;
    try {
      n = await this.conn.read(chunk);
    } catch {
      return false;
    }
    if (n === null) return false;
    const merged = new Uint8Array(this.#buf.length + n);
    merged.set(this.#buf);
    merged.set(chunk.subarray(0, n), this.#buf.length);
    this.#buf = merged;
    return true;
  }

  /** The next request, or null when the peer closed the connection. */
  async readRequest(): Promise<RawRequest | null> {
    for (let i = 0; i < 10_000; i++) {
      const text = decoder.decode(this.#buf);
      const end = text.indexOf("\r\n\r\n");
      if (end !== -1) {
        const head = text.slice(0, end);
        const [requestLine, ...lines] = head.split("\r\n");
        const [method, path] = requestLine.split(" ");
        const headers = new Map<string, string>();
        for (const line of lines) {
          const colon = line.indexOf(":");
          headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
        }
        const length = Number(headers.get("content-length") ?? 0);
        const headBytes = encoder.encode(head).length + 4;
        while (this.#buf.length < headBytes + length) {
          if (!(await this.#fill())) return null;
        }
        const body = this.#buf.slice(headBytes, headBytes + length);
        this.#buf = this.#buf.slice(headBytes + length);
        return { method, path, headers, body, head };
      }
      if (!(await this.#fill())) return null;
    }
    throw new Error("readRequest: too many reads");
  }

  /** Resolves true when the peer closed (EOF or reset) without sending more data. */
  async waitClosed(): Promise<boolean> {
    return !(await this.#fill());
  }

  async write(data: string | Uint8Array): Promise<void> {
    const bytes = typeof data === "string" ? encoder.encode(data) : data;
    let off = 0;
    while (off < bytes.length) off += await this.conn.write(bytes.subarray(off));
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.conn.close();
    } catch {
      // already closed
    }
  }
}

export interface RawServer {
  port: number;
  origin: string;
  /** Connections accepted so far. */
  readonly connections: number;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1:0 and runs `onConn` for each accepted connection. */
export function rawServer(onConn: (conn: RawConn) => Promise<void>): RawServer {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const conns = new Set<RawConn>();
  const tasks: Promise<void>[] = [];
  let count = 0;
  const loop = (async () => {
    for (;;) {
      let tcp: Deno.TcpConn;
      try {
        tcp = await listener.accept();
      } catch {
        return;
      }
      const conn = new RawConn(tcp, count++);
      conns.add(conn);
      tasks.push(
        onConn(conn).catch(() => {}).finally(() => {
          conn.close();
          conns.delete(conn);
        }),
      );
    }
  })();
  return {
    port,
    origin: `http://127.0.0.1:${port}`,
    get connections() {
      return count;
    },
    async close() {
      listener.close();
      await loop;
      for (const conn of conns) conn.close();
      await Promise.all(tasks);
    },
  };
}

/** Reads a whole body stream as text, one entry per chunk. */
export async function readChunks(body: ReadableStream<Uint8Array>): Promise<string[]> {
  const chunks: string[] = [];
  for await (const chunk of body) chunks.push(decoder.decode(chunk));
  return chunks;
}

export function text(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}
