/**
 * The control-plane side of the relay: one WebSocket to `websocket_url`, authenticated with the
 * node token, reconnecting with jittered exponential backoff.
 *
 * Delivery is at-least-once within a bound: every upstream frame stays in the outbox until the
 * control plane confirms it with an `ack` whose `correlation_id` names it (cumulative: frames on
 * one connection arrive in order, so an ack confirms everything sent before it). After a
 * reconnect the unconfirmed frames are sent again in their original order; the control plane
 * drops duplicates by `msg_id`. The outbox is bounded by count and bytes, dropping the oldest.
 *
 * @module
 */
import { backoffDelayMs } from "../timing/mod.ts";
import { getLogger } from "../telemetry/mod.ts";
import { BoundedQueue } from "./bounded_queue.ts";
import { connectWs, type WsClient, WsHandshakeError } from "./ws_client.ts";

const log = getLogger("relay", "upstream");

/** Bytes written to the control-plane socket and not yet accepted by the kernel. */
const WRITE_QUEUE_BYTES = 1024 * 1024;

export interface UpstreamLinkOptions {
  /** `ws://` or `wss://` URL from registration; may also come later with {@linkcode UpstreamLink.start}. */
  url?: string;
  /** Node token, sent as `Authorization: Bearer …`. */
  token?: string;
  /** Unconfirmed frames kept for replay. @default 1000 */
  maxMessages?: number;
  /** @default 4194304 */
  maxBytes?: number;
  /** Longest inbound frame accepted from the control plane. @default 262144 */
  maxFrameBytes?: number;
  /** @default 500 */
  retryInitialMs?: number;
  /** @default 30000 */
  retryMaxMs?: number;
  /** A connection attempt that has not opened within this is abandoned. @default 10000 */
  connectTimeoutMs?: number;
  /** Ping the control plane after this much silence. @default 20000 */
  pingIntervalMs?: number;
  /** Inbound text frame from the control plane. */
  onFrame: (text: string) => void;
  /** Connection state changes (for logs, metrics and observers). */
  onState?: (state: "connected" | "disconnected") => void;
}

interface Outgoing {
  seq: number;
  msgId: string;
  text: string;
  bytes: number;
}

export interface UpstreamStats {
  connected: boolean;
  queued: number;
  queuedBytes: number;
  dropped: number;
  sent: number;
  reconnects: number;
}

export class UpstreamLink {
  readonly #o: UpstreamLinkOptions;
  readonly #outbox: BoundedQueue<Outgoing>;
  #ws: WsClient | null = null;
  #open = false;
  #seq = 0;
  /** Lowest `seq` not yet written to the current connection. */
  #nextToSend = 0;
  #attempt = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stopped = true;
  #sent = 0;
  #reconnects = 0;
  #closed = Promise.resolve();
  #flushTimer: ReturnType<typeof setTimeout> | undefined;

  #url: string | undefined;
  #token: string | undefined;

  constructor(options: UpstreamLinkOptions) {
    this.#o = options;
    this.#url = options.url;
    this.#token = options.token;
    this.#outbox = new BoundedQueue({
      maxItems: options.maxMessages ?? 1000,
      maxBytes: options.maxBytes ?? 4 * 1024 * 1024,
      policy: "drop_oldest",
    });
  }

  get connected(): boolean {
    return this.#open;
  }

  stats(): UpstreamStats {
    return {
      connected: this.#open,
      queued: this.#outbox.length,
      queuedBytes: this.#outbox.bytes,
      dropped: this.#outbox.dropped,
      sent: this.#sent,
      reconnects: this.#reconnects,
    };
  }

  /**
   * Connects (and keeps reconnecting). With a `target` different from the current one (a new
   * registration), the open connection is dropped and the new URL dialled; the outbox is kept.
   */
  start(target?: { url: string; token: string }): void {
    if (target) {
      const changed = target.url !== this.#url || target.token !== this.#token;
      this.#url = target.url;
      this.#token = target.token;
      if (changed && !this.#stopped) {
        this.#attempt = 0;
        this.#ws?.close(1000, "control plane moved");
        return;
      }
    }
    if (!this.#stopped) return;
    if (!this.#url || !this.#token) {
      throw new TypeError("Cannot start the relay link: no websocket_url or node token yet");
    }
    this.#stopped = false;
    this.#connect();
  }

  /** Queues one encoded envelope; sends it now when connected. */
  send(msgId: string, text: string): void {
    const item = { seq: this.#seq++, msgId, text, bytes: text.length };
    for (const lost of this.#outbox.push(item)) {
      if (lost.seq >= this.#nextToSend || !this.#open) {
        log.warn("control-plane outbox full: dropped unsent message {msgId}", {
          msgId: lost.msgId,
        });
      }
    }
    this.#flush();
  }

  /** The control plane acknowledged `msgId`: it and everything queued before it are delivered. */
  confirm(msgId: string): boolean {
    let target = -1;
    for (const it of this.#outbox) {
      if (it.seq >= this.#nextToSend) break;
      if (it.msgId === msgId) {
        target = it.seq;
        break;
      }
    }
    if (target < 0) return false;
    while (this.#outbox.length && this.#outbox.peek()!.seq <= target) this.#outbox.shift();
    return true;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#flushTimer);
    this.#ws?.close(1000, "labmand stopping");
    await this.#closed;
  }

  /** Drops the current connection as a network failure would (tests, link health checks). */
  reset(): void {
    this.#ws?.close(4000, "reset");
  }

  #flush(): void {
    const ws = this.#ws;
    if (!this.#open || !ws) return;
    for (const it of this.#outbox) {
      if (it.seq < this.#nextToSend) continue;
      // A control plane that stops reading must not pile frames up in the socket's write queue:
      // they stay in the (bounded) outbox and go once the queue drained.
      if (ws.bufferedAmount > WRITE_QUEUE_BYTES) {
        this.#flushTimer ??= setTimeout(() => {
          this.#flushTimer = undefined;
          this.#flush();
        }, 50);
        return;
      }
      try {
        ws.send(it.text);
      } catch {
        return;
      }
      this.#nextToSend = it.seq + 1;
      this.#sent++;
    }
  }

  #connect(): void {
    if (this.#stopped) return;
    const url = this.#url!;
    const attempt = connectWs(url, {
      headers: { authorization: `Bearer ${this.#token}` },
      maxMessageBytes: this.#o.maxFrameBytes ?? 262_144,
      timeoutMs: this.#o.connectTimeoutMs ?? 10_000,
      ...(this.#o.pingIntervalMs ? { pingIntervalMs: this.#o.pingIntervalMs } : {}),
    });
    const closed = Promise.withResolvers<void>();
    this.#closed = closed.promise;
    attempt.then((ws) => {
      if (this.#stopped) {
        ws.close(1000, "labmand stopping");
        ws.closed.then(() => closed.resolve());
        return;
      }
      this.#ws = ws;
      this.#open = true;
      if (this.#attempt > 0) this.#reconnects++;
      this.#attempt = 0;
      // Everything still unconfirmed goes again, oldest first.
      this.#nextToSend = this.#outbox.peek()?.seq ?? this.#seq;
      log.info("relay connected to the control plane at {url}", { url });
      ws.onmessage = (text) => this.#o.onFrame(text);
      this.#o.onState?.("connected");
      this.#flush();
      ws.closed.then(({ code, reason }) => {
        this.#open = false;
        if (this.#ws === ws) this.#ws = null;
        closed.resolve();
        log.warn("relay link to the control plane closed ({code} {reason})", { code, reason });
        this.#o.onState?.("disconnected");
        this.#retry();
      });
    }, (err: Error) => {
      closed.resolve();
      if (this.#attempt === 0 || err instanceof WsHandshakeError) {
        log.warn("Cannot connect the relay to {url}: {message}", {
          url,
          message: err.message,
        });
      }
      this.#retry();
    });
  }

  #retry(): void {
    if (this.#stopped) return;
    const delay = backoffDelayMs(this.#attempt++, {
      initialMs: this.#o.retryInitialMs ?? 500,
      maxMs: this.#o.retryMaxMs ?? 30_000,
    });
    if (this.#attempt === 5 || this.#attempt % 20 === 0) {
      log.warn("relay: {n} failed attempts to reach {url}; retrying in {delay} ms", {
        n: this.#attempt,
        url: this.#url,
        delay,
      });
    }
    this.#timer = setTimeout(() => this.#connect(), delay);
  }
}
