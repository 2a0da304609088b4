/**
 * A test Portman: a real WebSocket client on `/agent` (or `/observe`) that records every frame
 * and waits for matching ones, bounded in time.
 */
import type { Envelope } from "../../lib/protocol/mod.ts";

export interface TestPortman extends AsyncDisposable {
  readonly socket: WebSocket;
  readonly received: Envelope[];
  send(value: unknown): void;
  sendRaw(text: string): void;
  waitFor(pred: (env: Envelope) => boolean, timeoutMs?: number): Promise<Envelope>;
  closed: Promise<CloseEvent>;
  close(): Promise<void>;
}

/** Connects; rejects with the HTTP refusal (e.g. 401) when the upgrade fails. */
export function connectPortman(
  url: string,
  secret: string | null,
  timeoutMs = 5000,
): Promise<TestPortman> {
  const socket = new WebSocket(
    url,
    // Deno extends the constructor with `headers`.
    (secret ? { headers: { authorization: `Bearer ${secret}` } } : {}) as unknown as string[],
  );
  const received: Envelope[] = [];
  const waiters = new Set<() => void>();
  const closed = new Promise<CloseEvent>((resolve) => {
    socket.addEventListener("close", (ev) => {
      resolve(ev);
      for (const w of waiters) w();
    });
  });
  socket.onmessage = (ev) => {
    try {
      received.push(JSON.parse(String(ev.data)));
    } catch {
      received.push({ raw: String(ev.data) } as unknown as Envelope);
    }
    for (const w of waiters) w();
  };
  const client: TestPortman = {
    socket,
    received,
    closed,
    send: (value) => socket.send(JSON.stringify(value)),
    sendRaw: (text) => socket.send(text),
    waitFor(pred, wait = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const hit = received.find(pred);
          if (hit) {
            done();
            resolve(hit);
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(
            new Error(`no matching frame within ${wait} ms; got ${JSON.stringify(received)}`),
          );
        }, wait);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    async close() {
      if (socket.readyState === WebSocket.OPEN || socket.readyState === WebSocket.CONNECTING) {
        socket.close(1000);
      }
      await closed;
    },
    [Symbol.asyncDispose]() {
      return client.close();
    },
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error("Portman connect timed out"));
    }, timeoutMs);
    socket.onopen = () => {
      clearTimeout(timer);
      resolve(client);
    };
    socket.onerror = (ev) => {
      clearTimeout(timer);
      reject(new Error(`Portman connect failed: ${(ev as ErrorEvent).message ?? "error"}`));
    };
  });
}

let seq = 0;
/** An upstream envelope as Portman would write it. */
export function up(
  kind: string,
  payload: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): Envelope {
  return {
    msg_id: `pm-${Date.now().toString(36)}-${++seq}`,
    agent_id: "portman-1",
    direction: "up",
    kind,
    ts: new Date().toISOString(),
    payload,
    ...extra,
  };
}
