/**
 * A small stand-in for Portman, for `labman dev`: it connects to labmand's `/agent` with the
 * shared secret, registers, sends a heartbeat and metrics every few seconds, and answers each
 * directive with `directive_progress` and an `ack`, so a newcomer sees every kind of flow.
 * It runs no workloads.
 *
 * @module
 */
import {
  decodeEnvelope,
  encodeEnvelope,
  type Envelope,
  isDirective,
  makeEnvelope,
} from "../protocol/mod.ts";

export interface FakePortmanOptions {
  /** `ws://127.0.0.1:<port>/agent` */
  url: string;
  secret: string;
  /** @default "portman-dev" */
  agentId?: string;
  /** @default 5000 */
  heartbeatMs?: number;
  /** Each frame sent or received. */
  onFrame?: (dir: "sent" | "received", env: Envelope) => void;
}

export interface FakePortman extends AsyncDisposable {
  close(): Promise<void>;
}

export function startFakePortman(options: FakePortmanOptions): Promise<FakePortman> {
  const agentId = options.agentId ?? "portman-dev";
  const started = performance.now();
  const ws = new WebSocket(
    options.url,
    // Deno extends the constructor with `headers`.
    { headers: { authorization: `Bearer ${options.secret}` } } as unknown as string[],
  );
  const closed = new Promise<void>((r) => ws.addEventListener("close", () => r()));
  let timer: ReturnType<typeof setInterval> | undefined;
  const send = (env: Envelope) => {
    if (ws.readyState !== WebSocket.OPEN) return;
    ws.send(encodeEnvelope(env));
    options.onFrame?.("sent", env);
  };
  const pulse = () => {
    send(makeEnvelope("heartbeat", {
      status: "ready",
      uptime_s: Math.round((performance.now() - started) / 1000),
      active_workloads: 0,
    }, { agent_id: agentId }));
    send(makeEnvelope("metrics", {
      cpu_pct: Math.round(Math.random() * 400) / 10,
      gpus: [{ index: 0, utilization_pct: Math.round(Math.random() * 1000) / 10 }],
    }, { agent_id: agentId }));
  };
  ws.onmessage = (ev) => {
    let env: Envelope;
    try {
      env = decodeEnvelope(String(ev.data), { expect: "down" });
    } catch {
      return;
    }
    options.onFrame?.("received", env);
    if (!isDirective(env.kind)) return;
    send(makeEnvelope("directive_progress", { state: "running", progress_pct: 50 }, {
      agent_id: agentId,
      directive_id: env.msg_id,
    }));
    send(makeEnvelope("ack", { status: "completed", message: "fake Portman: nothing to do" }, {
      agent_id: agentId,
      correlation_id: env.msg_id,
      direction: "up",
    }));
  };
  const api: FakePortman = {
    async close() {
      clearInterval(timer);
      if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) {
        ws.close(1000, "bye");
      }
      await closed;
    },
    [Symbol.asyncDispose]() {
      return api.close();
    },
  };
  return new Promise((resolve, reject) => {
    ws.onopen = () => {
      send(makeEnvelope("register_agent", {
        agent_version: "fake-0.1",
        hostname: "labman-dev",
        gpus: [{ index: 0, name: "fake GPU", memory_mb: 24_576 }],
      }, { agent_id: agentId }));
      pulse();
      timer = setInterval(pulse, options.heartbeatMs ?? 5000);
      resolve(api);
    };
    ws.onerror = () =>
      reject(
        new Error(
          `Cannot connect the fake Portman to ${options.url}: the WebSocket failed — is the relay listening there?`,
        ),
      );
  });
}
