/**
 * The reference control plane's side of the relay protocol (`docs/protocol.md`): accepts node
 * WebSockets on `/api/v1/ws` (bearer node token), validates every frame with the shared codec,
 * de-duplicates by `msg_id`, acknowledges each upstream message (cumulative confirmation), and
 * lets tests and `labman dev` send directives and wait for answers.
 *
 * @module
 */
import {
  decodeEnvelope,
  encodeEnvelope,
  type Envelope,
  errorEnvelope,
  makeEnvelope,
  ProtocolError,
} from "../protocol/mod.ts";

export interface RelayHubOptions {
  /** Acknowledge every upstream message (labman then drops it from its replay buffer). @default true */
  ackUpstream?: boolean;
  /** Received messages kept. @default 10000 */
  historyLimit?: number;
  /** @default 262144 */
  maxFrameBytes?: number;
  /** Called for each accepted upstream message (CLI output). */
  onMessage?: (env: Envelope, tokenIndex: number) => void;
}

export interface RelayHubMessage {
  tokenIndex: number;
  envelope: Envelope;
}

interface Conn {
  socket: WebSocket;
  tokenIndex: number;
}

export class RelayHub {
  readonly #o: RelayHubOptions;
  readonly #conns = new Set<Conn>();
  readonly #messages: RelayHubMessage[] = [];
  readonly #seen = new Set<string>();
  readonly #waiters = new Set<() => void>();
  /** Duplicates received (same msg_id again, e.g. replayed after a reconnect). */
  duplicates = 0;
  /** Frames refused with an `error`. */
  rejected = 0;
  connections = 0;

  constructor(options: RelayHubOptions = {}) {
    this.#o = options;
  }

  get connected(): number {
    return this.#conns.size;
  }

  /** Upgrades an authenticated request. */
  accept(req: Request, tokenIndex: number): Response {
    const { socket, response } = Deno.upgradeWebSocket(req, { idleTimeout: 30 });
    const conn: Conn = { socket, tokenIndex };
    socket.onopen = () => {
      this.#conns.add(conn);
      this.connections++;
      this.#wake();
    };
    socket.onmessage = (ev) => {
      if (typeof ev.data === "string") this.#receive(conn, ev.data);
    };
    socket.onerror = () => {};
    socket.onclose = () => {
      this.#conns.delete(conn);
      this.#wake();
    };
    return response;
  }

  #receive(conn: Conn, text: string): void {
    let env: Envelope;
    try {
      env = decodeEnvelope(text, { maxFrameBytes: this.#o.maxFrameBytes, expect: "up" });
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      this.rejected++;
      this.#send(
        conn,
        errorEnvelope("down", err.code, err.message, {
          ...(err.correlationId ? { correlationId: err.correlationId } : {}),
        }),
      );
      return;
    }
    if (this.#o.ackUpstream ?? true) {
      this.#send(
        conn,
        makeEnvelope("ack", {}, {
          direction: "down",
          correlation_id: env.msg_id,
          agent_id: "labman",
        }),
      );
    }
    if (this.#seen.has(env.msg_id)) {
      this.duplicates++;
      return;
    }
    this.#seen.add(env.msg_id);
    this.#messages.push({ tokenIndex: conn.tokenIndex, envelope: env });
    const limit = this.#o.historyLimit ?? 10_000;
    if (this.#messages.length > limit) {
      const gone = this.#messages.splice(0, this.#messages.length - limit);
      for (const g of gone) this.#seen.delete(g.envelope.msg_id);
    }
    this.#o.onMessage?.(env, conn.tokenIndex);
    this.#wake();
  }

  #send(conn: Conn, env: Envelope): void {
    if (conn.socket.readyState === WebSocket.OPEN) conn.socket.send(encodeEnvelope(env));
  }

  #wake(): void {
    for (const w of this.#waiters) w();
  }

  /** Every accepted upstream message, oldest first. */
  messages(): RelayHubMessage[] {
    return [...this.#messages];
  }

  /**
   * Sends a downstream envelope (a directive) to every connected node, or to those registered
   * with token `tokenIndex`. Returns how many connections it went to.
   */
  send(env: Envelope, tokenIndex?: number): number {
    let n = 0;
    for (const c of this.#conns) {
      if (tokenIndex !== undefined && c.tokenIndex !== tokenIndex) continue;
      this.#send(c, env);
      n++;
    }
    return n;
  }

  /** Sends raw text (tests of the node's validation). */
  sendRaw(text: string): void {
    for (const c of this.#conns) {
      if (c.socket.readyState === WebSocket.OPEN) c.socket.send(text);
    }
  }

  /** Closes every node connection as a network failure would (code 1012, "service restart"). */
  dropConnections(): void {
    for (const c of this.#conns) c.socket.close(1012, "dropped by the reference control plane");
  }

  /** Waits until a message matching `pred` arrived (bounded); `what` names it in the error. */
  waitFor(
    pred: (env: Envelope) => boolean,
    timeoutMs = 10_000,
    what = "a message",
  ): Promise<Envelope> {
    return this.#until(
      () => this.#messages.find((m) => pred(m.envelope))?.envelope,
      timeoutMs,
      what,
    );
  }

  /** Waits until at least `n` node connections are open. */
  waitForConnections(n = 1, timeoutMs = 10_000): Promise<number> {
    return this.#until(
      () => this.#conns.size >= n ? this.#conns.size : undefined,
      timeoutMs,
      `${n} connection(s)`,
    );
  }

  #until<T>(probe: () => T | undefined, timeoutMs: number, what = "condition"): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const v = probe();
        if (v !== undefined) {
          done();
          resolve(v);
        }
      };
      const timer = setTimeout(() => {
        done();
        const kinds = this.#messages.slice(-20).map((m) =>
          `${m.envelope.kind}${m.envelope.correlation_id ? `(${m.envelope.correlation_id})` : ""}`
        );
        reject(
          new Error(
            `Cannot wait for ${what} at the relay hub: it did not arrive within ${timeoutMs} ms; last: ${
              kinds.join(", ")
            }`,
          ),
        );
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
      this.#waiters.add(check);
      check();
    });
  }

  close(): void {
    for (const c of this.#conns) c.socket.close(1001, "control plane stopping");
  }
}
