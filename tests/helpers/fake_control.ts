/**
 * A scripted control-plane client for unit tests of labmand's parts: records every call (with
 * the heartbeat `state`) and answers each operation from a queue of outcomes (a status to fail
 * with, or success), so a real `ControlSession` can run against it without a server.
 */
import { Buffer } from "node:buffer";
import {
  type CallOptions,
  type ControlPlaneApi,
  ControlPlaneError,
  type HeartbeatRequest,
  type HeartbeatResponse,
  type RegisterRequest,
  type RegisterResponse,
} from "../../lib/control/mod.ts";

export type FakeCall =
  | { op: "register"; body: RegisterRequest }
  | { op: "heartbeat"; state: string; body: HeartbeatRequest }
  | { op: "deregister" };

/** A status code to fail with, or "ok". */
export type Outcome = number | "ok";

function failure(op: string, status: number): ControlPlaneError {
  const kind = status === 401 || status === 403
    ? "auth"
    : status >= 500 || status === 429 || status === 408
    ? "transient"
    : "fatal";
  return new ControlPlaneError(`${op} answered ${status}`, { kind, status });
}

export class FakeControlClient implements ControlPlaneApi {
  readonly calls: FakeCall[] = [];
  readonly script: Record<"register" | "heartbeat" | "deregister", Outcome[]> = {
    register: [],
    heartbeat: [],
    deregister: [],
  };
  /** Resolves the pending `waitFor`s on every call. */
  #waiters = new Set<() => void>();

  #next(op: keyof FakeControlClient["script"], options?: CallOptions): void {
    if (options?.signal?.aborted) throw failure(op, 504);
    const o = this.script[op].shift() ?? "ok";
    for (const w of [...this.#waiters]) w();
    if (o !== "ok") throw failure(op, o);
  }

  register(body: RegisterRequest, options?: CallOptions): Promise<RegisterResponse> {
    this.calls.push({ op: "register", body });
    try {
      this.#next("register", options);
    } catch (err) {
      return Promise.reject(err);
    }
    return Promise.resolve({
      node_id: "node-1",
      wireguard: {
        address: "10.90.0.7/32",
        peer: {
          public_key: Buffer.alloc(32, 1).toString("base64"),
          endpoint: "192.0.2.1:51820",
          allowed_ips: ["10.90.0.1/32"],
        },
      },
      // Long: tests drive heartbeats with beatNow() and stop(), never by the clock.
      heartbeat_interval_s: 3600,
      websocket_url: "ws://127.0.0.1:1/api/v1/ws",
    });
  }

  heartbeat(
    _nodeId: string,
    body: HeartbeatRequest,
    options?: CallOptions,
  ): Promise<HeartbeatResponse> {
    this.calls.push({ op: "heartbeat", state: body.state, body });
    try {
      this.#next("heartbeat", options);
    } catch (err) {
      return Promise.reject(err);
    }
    return Promise.resolve({ desired_state: "active" });
  }

  deregister(_nodeId: string, options?: CallOptions): Promise<void> {
    this.calls.push({ op: "deregister" });
    try {
      this.#next("deregister", options);
    } catch (err) {
      return Promise.reject(err);
    }
    return Promise.resolve();
  }

  /** `op` or `op:state` per call, for order assertions. */
  trace(): string[] {
    return this.calls.map((c) => c.op === "heartbeat" ? `heartbeat:${c.state}` : c.op);
  }

  /** Resolves once `pred` holds after some call (bounded). */
  async waitFor(pred: (c: FakeControlClient) => boolean, what: string, ms = 5_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!pred(this)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; calls: ${this.trace()}`);
      let w: () => void = () => {};
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        w = resolve;
        this.#waiters.add(w);
        timer = setTimeout(resolve, Math.min(left, 50));
      });
      clearTimeout(timer);
      this.#waiters.delete(w);
    }
  }
}

/** Log lines a `ControlSession` writes, kept (not printed) so tests can read them. */
export function quietLogger() {
  const lines: string[] = [];
  const keep = (level: string) => (m: string, p?: Record<string, unknown>) =>
    void lines.push(`${level} ${m} ${p ? JSON.stringify(p) : ""}`);
  return {
    lines,
    debug: keep("debug"),
    info: keep("info"),
    warning: keep("warning"),
    error: keep("error"),
  };
}
