/**
 * A minimal Chrome DevTools Protocol client for a labmand started with `--inspect` on loopback:
 * the main isolate's session, and the data-plane Worker's through flat `Target` sessions. Used by
 * `_heap_snapshot.ts` (heap snapshots) and `soak.ts` (V8 heap per isolate over time).
 *
 * @module
 */

export interface CdpEvent {
  method: string;
  params: unknown;
  sessionId?: string;
}

/** One inspector connection; a `sessionId` addresses the Worker's flat session. */
export class Inspector {
  #ws: WebSocket;
  #id = 0;
  #pending = new Map<number, (m: { result?: unknown; error?: unknown }) => void>();
  #listeners = new Set<(m: CdpEvent) => void>();

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.onmessage = (e) => {
      const msg = JSON.parse(String(e.data));
      if (msg.id !== undefined) {
        this.#pending.get(msg.id)?.(msg);
        this.#pending.delete(msg.id);
      } else for (const l of this.#listeners) l(msg);
    };
  }

  /** Connects to the first target (the main isolate) of the inspector on `port`. */
  static async connectPort(port: number): Promise<Inspector> {
    const list = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
    return await Inspector.connect(list[0].webSocketDebuggerUrl);
  }

  static async connect(url: string): Promise<Inspector> {
    const ws = new WebSocket(url);
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = reject;
    });
    return new Inspector(ws);
  }

  on(fn: (m: CdpEvent) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  send<T = unknown>(method: string, params: unknown = {}, sessionId?: string): Promise<T> {
    const id = ++this.#id;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${method}: no answer in 60 s`)), 60_000);
      this.#pending.set(id, (m) => {
        clearTimeout(timer);
        if (m.error) reject(new Error(`${method}: ${JSON.stringify(m.error)}`));
        else resolve(m.result as T);
      });
      this.#ws.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
    });
  }

  close(): Promise<void> {
    const closed = new Promise<void>((r) => this.#ws.onclose = () => r());
    this.#ws.close();
    return closed;
  }
}

/** Auto-attaches to the process's Worker (labmand has exactly one) and returns its session id. */
export async function attachWorker(ins: Inspector, timeoutMs = 10_000): Promise<string> {
  let off = () => {};
  let timer: ReturnType<typeof setTimeout> | undefined;
  const attached = new Promise<string>((resolve, reject) => {
    off = ins.on((m) => {
      if (m.method === "Target.attachedToTarget") {
        resolve((m.params as { sessionId: string }).sessionId);
      }
    });
    timer = setTimeout(() => reject(new Error("no Worker to attach to")), timeoutMs);
  });
  try {
    await ins.send("Target.setAutoAttach", {
      autoAttach: true,
      waitForDebuggerOnStart: false,
      flatten: true,
    });
    return await attached;
  } finally {
    off();
    clearTimeout(timer);
  }
}

/** V8 heap of one isolate: bytes in use and committed. */
export function heapUsage(
  ins: Inspector,
  session?: string,
): Promise<{ usedSize: number; totalSize: number }> {
  return ins.send("Runtime.getHeapUsage", {}, session);
}
