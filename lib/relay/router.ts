/**
 * Routing and correlation between Portman connections and the control-plane link. No sockets
 * here: connections are {@linkcode AgentLink}s and the control plane is a `sendUp` callback, so
 * every rule of docs/protocol.md §6 is testable in-process.
 *
 * @module
 */
import {
  decodeEnvelope,
  encodeEnvelope,
  type Envelope,
  type ErrorCode,
  errorEnvelope,
  isDirective,
  makeEnvelope,
  ProtocolError,
} from "../protocol/mod.ts";
import type { SlugEntry } from "../control/mod.ts";
import { getLogger } from "../telemetry/mod.ts";
import { BoundedQueue } from "./bounded_queue.ts";

const log = getLogger("relay");

/** `agent_id` labman uses for its own messages and answers; no Portman may register with it. */
export const LABMAN_AGENT_ID = "labman";

/** One Portman connection as the router sees it. */
export interface AgentLink {
  readonly connId: number;
  /** Writes a frame; false when the connection's send buffer is over its bound (slow reader). */
  send(text: string): boolean;
  close(code: number, reason: string): void;
}

export interface RouterOptions {
  /** Hands an envelope to the control-plane link (which queues while disconnected). */
  sendUp: (env: Envelope, text: string) => void;
  /** `update_registry` addressed to labman: replace the data plane's slug table. */
  onUpdateRegistry?: (slugs: SlugEntry[]) => Promise<void>;
  /** `drain` addressed to labman: drive the daemon's drain. */
  onDrain?: (reason: string) => Promise<void>;
  /** Every envelope that passes the relay, either way (observers). */
  onRelayed?: (env: Envelope) => void;
  /** Agents appeared or left (observers). */
  onAgentsChanged?: () => void;
  /** Added to upstream envelopes that carry none. */
  siteId?: string;
  /** @default 262144 */
  maxFrameBytes?: number;
  /** Directives held per absent agent. @default 100 */
  directiveQueueMax?: number;
  /** How long a held directive waits for its agent. @default 60000 */
  directiveTtlMs?: number;
  /** Distinct agents directives may be held for. @default 64 */
  maxHeldAgents?: number;
  /** Bytes of held directives across all agents. @default 4194304 */
  maxHeldBytes?: number;
  /** Invalid frames tolerated per connection before it is closed. @default 20 */
  maxInvalidFrames?: number;
  /** @default Date.now */
  now?: () => number;
}

interface AgentState {
  link: AgentLink | null;
  agentId: string;
  registeredAt: number;
  lastSeen: number;
  register: Record<string, unknown>;
  lastHeartbeat?: Record<string, unknown>;
}

interface HeldDirective {
  env: Envelope;
  bytes: number;
  expiresAt: number;
}

interface ConnState {
  link: AgentLink;
  agentId: string | null;
  invalid: number;
}

export interface AgentInfo {
  agent_id: string;
  connected: boolean;
  registered_at: string;
  last_seen: string;
  agent_version?: string;
  queued_directives: number;
}

export class RelayRouter {
  readonly #o: RouterOptions;
  readonly #now: () => number;
  readonly #conns = new Map<number, ConnState>();
  readonly #agents = new Map<string, AgentState>();
  /** Directives waiting for an agent; key "" = any agent (none was named). */
  readonly #held = new Map<string, BoundedQueue<HeldDirective>>();
  /** Directive msg_id → agent it went to (bounded, oldest evicted). */
  readonly #inflight = new Map<string, string>();
  /** Upstream msg_id → agent that sent it, so control-plane acks find their way back. */
  readonly #recentUp = new Map<string, string>();
  /** Downstream msg_ids already handled: the control plane may resend after a reconnect. */
  readonly #seenDown = new Map<string, true>();
  readonly counters = {
    up: 0,
    down: 0,
    rejected: 0,
    expired: 0,
    duplicates: 0,
  };

  /** Stamped on upstream envelopes that carry none (the node id, known after registration). */
  siteId: string | undefined;

  constructor(options: RouterOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.siteId = options.siteId;
  }

  agents(): AgentInfo[] {
    return [...this.#agents.values()].map((a) => ({
      agent_id: a.agentId,
      connected: a.link !== null,
      registered_at: new Date(a.registeredAt).toISOString(),
      last_seen: new Date(a.lastSeen).toISOString(),
      ...(typeof a.register.agent_version === "string"
        ? { agent_version: a.register.agent_version }
        : {}),
      queued_directives: this.#held.get(a.agentId)?.length ?? 0,
    }));
  }

  get connectedAgents(): number {
    return [...this.#agents.values()].filter((a) => a.link).length;
  }

  // --- Portman side ------------------------------------------------------------------------

  connected(link: AgentLink): void {
    this.#conns.set(link.connId, { link, agentId: null, invalid: 0 });
  }

  disconnected(connId: number): void {
    const c = this.#conns.get(connId);
    this.#conns.delete(connId);
    if (!c?.agentId) return;
    const a = this.#agents.get(c.agentId);
    if (!a || a.link?.connId !== connId) return;
    a.link = null;
    log.info("Portman agent {agentId} disconnected", { agentId: a.agentId });
    // Forget the oldest departed agents beyond a bound (a restarting Portman may change its id).
    for (const [id, other] of this.#agents) {
      if (this.#agents.size <= 64) break;
      if (!other.link && !this.#held.has(id)) this.#agents.delete(id);
    }
    // The control plane learns of it as a heartbeat labman sends on the agent's behalf.
    this.#up(makeEnvelope("heartbeat", { status: "disconnected", source: "labman" }, {
      agent_id: a.agentId,
    }));
    this.#o.onAgentsChanged?.();
  }

  /** One text frame from a Portman connection. */
  fromAgent(connId: number, text: string): void {
    const c = this.#conns.get(connId);
    if (!c) return;
    let env: Envelope;
    try {
      env = decodeEnvelope(text, { maxFrameBytes: this.#o.maxFrameBytes, expect: "up" });
      this.#checkAgent(c, env);
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      this.#rejectFromAgent(c, err);
      return;
    }
    const a = this.#agents.get(c.agentId!)!;
    a.lastSeen = this.#now();
    if (env.kind === "heartbeat") a.lastHeartbeat = env.payload;
    if ((env.kind === "ack" || env.kind === "error") && env.correlation_id) {
      this.#inflight.delete(env.correlation_id);
    }
    if (
      env.kind === "directive_progress" &&
      (env.payload.state === "done" || env.payload.state === "failed")
    ) this.#inflight.delete(env.directive_id!);
    this.#remember(this.#recentUp, env.msg_id, a.agentId, 4096);
    this.#up(env, true);
  }

  /** Rules that need connection state: register first, one stable agent id, correlation. */
  #checkAgent(c: ConnState, env: Envelope): void {
    if (!c.agentId) {
      if (env.kind !== "register_agent") {
        throw new ProtocolError(
          "NOT_REGISTERED",
          `kind: the first message on a connection must be register_agent, got ${env.kind}`,
          env.msg_id,
        );
      }
      const id = env.agent_id;
      if (!id) {
        throw new ProtocolError(
          "INVALID_ENVELOPE",
          "agent_id: required on register_agent",
          env.msg_id,
        );
      }
      if (id === LABMAN_AGENT_ID) {
        throw new ProtocolError("AGENT_MISMATCH", `agent_id: "${id}" is reserved`, env.msg_id);
      }
      const existing = this.#agents.get(id);
      if (existing?.link && existing.link.connId !== c.link.connId) {
        // The newest connection wins: a restarted Portman reconnects before the old socket times
        // out. Only an authenticated local client gets here.
        log.warn("Portman agent {agentId} reconnected; closing its previous connection", {
          agentId: id,
        });
        const old = existing.link;
        existing.link = null;
        this.#conns.delete(old.connId);
        old.close(4409, "replaced by a newer connection");
      }
      c.agentId = id;
      const now = this.#now();
      this.#agents.set(id, {
        link: c.link,
        agentId: id,
        registeredAt: now,
        lastSeen: now,
        register: env.payload,
      });
      log.info("Portman agent {agentId} registered", { agentId: id });
      this.#o.onAgentsChanged?.();
      queueMicrotask(() => this.#deliverHeld(id));
      return;
    }
    if (env.agent_id && env.agent_id !== c.agentId) {
      throw new ProtocolError(
        "AGENT_MISMATCH",
        `agent_id: this connection registered as "${c.agentId}", got "${env.agent_id}"`,
        env.msg_id,
      );
    }
    env.agent_id = c.agentId;
    const corr = env.kind === "directive_progress" ? env.directive_id : env.correlation_id;
    const target = corr ? this.#inflight.get(corr) : undefined;
    if (target !== undefined && target !== c.agentId) {
      throw new ProtocolError(
        "AGENT_MISMATCH",
        `${
          env.kind === "directive_progress" ? "directive_id" : "correlation_id"
        }: directive ${corr} was sent to another agent`,
        env.msg_id,
      );
    }
  }

  /** Rejects a frame the server could not even hand over as text (binary, oversize). */
  rejectFrame(connId: number, err: ProtocolError): void {
    const c = this.#conns.get(connId);
    if (c) this.#rejectFromAgent(c, err);
  }

  #rejectFromAgent(c: ConnState, err: ProtocolError): void {
    this.counters.rejected++;
    c.invalid++;
    log.warn("rejected a frame from Portman connection {connId}: {code} {message}", {
      connId: c.link.connId,
      code: err.code,
      message: err.message,
    });
    const answer = errorEnvelope("down", err.code, err.message, {
      ...(err.correlationId ? { correlationId: err.correlationId } : {}),
      ...(c.agentId ? { agentId: c.agentId } : {}),
    });
    c.link.send(encodeEnvelope(answer));
    const max = this.#o.maxInvalidFrames ?? 20;
    if (err.code === "FRAME_TOO_LARGE") c.link.close(1009, "frame too large");
    else if (c.invalid >= max) c.link.close(1008, `more than ${max} invalid frames`);
  }

  // --- control-plane side ------------------------------------------------------------------

  /** One text frame from the control plane. Returns the confirmed upstream msg_id, if any. */
  async fromControlPlane(text: string): Promise<string | undefined> {
    let env: Envelope;
    try {
      env = decodeEnvelope(text, { maxFrameBytes: this.#o.maxFrameBytes, expect: "down" });
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      this.counters.rejected++;
      log.warn("rejected a frame from the control plane: {code} {message}", {
        code: err.code,
        message: err.message,
      });
      this.#up(errorEnvelope("up", err.code, err.message, {
        ...(err.correlationId ? { correlationId: err.correlationId } : {}),
        agentId: LABMAN_AGENT_ID,
      }));
      return undefined;
    }
    if (this.#seenDown.has(env.msg_id)) {
      this.counters.duplicates++;
      return env.kind === "ack" ? env.correlation_id : undefined;
    }
    this.#remember(this.#seenDown, env.msg_id, true, 4096);
    this.counters.down++;
    this.#o.onRelayed?.(env);

    if (env.kind === "ack" || env.kind === "error") {
      // Answers to upstream messages: back to the agent that sent the original, if any.
      const to = env.agent_id ?? (env.correlation_id && this.#recentUp.get(env.correlation_id));
      if (to && to !== LABMAN_AGENT_ID) this.#toAgentNow(to, env);
      return env.kind === "ack" ? env.correlation_id : undefined;
    }
    if (!isDirective(env.kind)) return undefined;

    if (env.kind === "update_registry" && this.#forLabman(env)) {
      await this.#local(env, async () => {
        if (!this.#o.onUpdateRegistry) {
          throw new Error("Cannot apply update_registry: this node does not route by slug");
        }
        await this.#o.onUpdateRegistry(env.payload.slugs as SlugEntry[]);
      });
      return undefined;
    }
    if (env.kind === "drain" && this.#forLabman(env)) {
      await this.#local(env, async () => {
        if (!this.#o.onDrain) throw new Error("Cannot drain: draining is not wired on this node");
        await this.#o.onDrain(String(env.payload.reason ?? "requested by the control plane"));
      });
      // Portman drains too: it runs the workloads behind the proxy.
      if (env.agent_id === undefined) {
        for (const a of this.#agents.values()) {
          if (a.link) this.#deliver(a, { ...env, agent_id: a.agentId });
        }
      }
      return undefined;
    }
    this.#route(env);
    return undefined;
  }

  #forLabman(env: Envelope): boolean {
    return env.agent_id === undefined || env.agent_id === LABMAN_AGENT_ID;
  }

  async #local(env: Envelope, run: () => Promise<void>): Promise<void> {
    try {
      await run();
      this.#up(makeEnvelope("ack", { status: "completed" }, {
        agent_id: LABMAN_AGENT_ID,
        correlation_id: env.msg_id,
        direction: "up",
      }));
    } catch (err) {
      log.error("Cannot apply {kind} from the control plane: {message}", {
        kind: env.kind,
        message: (err as Error).message,
      });
      this.#up(errorEnvelope("up", "INTERNAL", `${env.kind} failed on the node`, {
        correlationId: env.msg_id,
        agentId: LABMAN_AGENT_ID,
      }));
    }
  }

  #route(env: Envelope): void {
    let target: AgentState | undefined;
    if (env.agent_id) {
      target = this.#agents.get(env.agent_id);
    } else {
      const live = [...this.#agents.values()].filter((a) => a.link);
      if (live.length === 1) target = live[0];
    }
    if (target?.link && this.#deliver(target, env)) return;
    this.#hold(env.agent_id ?? "", env);
  }

  /** Sends a directive now; false when the agent's connection cannot take it. */
  #deliver(a: AgentState, env: Envelope): boolean {
    if (!a.link) return false;
    // Decoded (validated) on arrival: serialize without checking it a second time.
    const text = JSON.stringify({ ...env, agent_id: a.agentId });
    if (!a.link.send(text)) return false;
    this.#remember(this.#inflight, env.msg_id, a.agentId, 4096);
    return true;
  }

  #toAgentNow(agentId: string, env: Envelope): void {
    const a = this.#agents.get(agentId);
    if (a?.link) a.link.send(JSON.stringify({ ...env, agent_id: agentId }));
  }

  #hold(key: string, env: Envelope): void {
    const text = JSON.stringify(env);
    let q = this.#held.get(key);
    // Agent ids in directives are control-plane input: bound the number of queues and the bytes
    // held across all of them, not just per queue (invariant 9).
    let heldBytes = 0;
    for (const h of this.#held.values()) heldBytes += h.bytes;
    if (
      (!q && this.#held.size >= (this.#o.maxHeldAgents ?? 64)) ||
      heldBytes + text.length > (this.#o.maxHeldBytes ?? 4 * 1024 * 1024)
    ) {
      this.#answerDirective(env, "QUEUE_FULL", "the relay holds as many directives as it may");
      return;
    }
    if (!q) {
      q = new BoundedQueue<HeldDirective>({
        maxItems: this.#o.directiveQueueMax ?? 100,
        maxBytes: 16 * (this.#o.maxFrameBytes ?? 262_144),
        policy: "reject",
      });
      this.#held.set(key, q);
    }
    const item = {
      env,
      bytes: text.length,
      expiresAt: this.#now() + (this.#o.directiveTtlMs ?? 60_000),
    };
    const refused = q.push(item);
    if (refused.length) {
      this.#answerDirective(env, "QUEUE_FULL", "directive queue for the agent is full");
      return;
    }
    log.info("holding {kind} {msgId} for agent {agentId} (not connected)", {
      kind: env.kind,
      msgId: env.msg_id,
      agentId: key || "(any)",
    });
    this.#up(makeEnvelope("ack", {
      status: "queued",
      message: "agent not connected; held until it connects or the directive expires",
    }, { agent_id: key || LABMAN_AGENT_ID, correlation_id: env.msg_id, direction: "up" }));
  }

  #deliverHeld(agentId: string): void {
    const a = this.#agents.get(agentId);
    if (!a?.link) return;
    this.expire();
    for (const key of [agentId, ""]) {
      const q = this.#held.get(key);
      if (!q) continue;
      while (q.length) {
        const it = q.peek()!;
        if (!this.#deliver(a, it.env)) return;
        q.shift();
      }
      this.#held.delete(key);
    }
    this.#o.onAgentsChanged?.();
  }

  /** Answers held directives whose TTL passed with `AGENT_UNAVAILABLE`. Call periodically. */
  expire(): void {
    const now = this.#now();
    for (const [key, q] of this.#held) {
      for (const it of q.removeWhere((h) => h.expiresAt <= now)) {
        this.counters.expired++;
        this.#answerDirective(
          it.env,
          "AGENT_UNAVAILABLE",
          `agent ${key || "(any)"} did not connect within the directive TTL`,
        );
      }
      if (q.length === 0) this.#held.delete(key);
    }
  }

  #answerDirective(env: Envelope, code: ErrorCode, message: string): void {
    this.#up(errorEnvelope("up", code, message, {
      correlationId: env.msg_id,
      agentId: env.agent_id ?? LABMAN_AGENT_ID,
      retryable: true,
    }));
  }

  // --- labman's own messages ---------------------------------------------------------------

  /** Sends one of labman's own upstream messages (usage, capacity). */
  sendOwn(env: Envelope): void {
    this.#up({ ...env, agent_id: env.agent_id ?? LABMAN_AGENT_ID });
  }

  /** `decoded`: it passed `decodeEnvelope` on arrival, so it is serialized without a re-check. */
  #up(env: Envelope, decoded = false): void {
    if (!env.site_id && this.siteId) env.site_id = this.siteId;
    this.counters.up++;
    const text = decoded ? JSON.stringify(env) : encodeEnvelope(env);
    this.#o.onRelayed?.(env);
    this.#o.sendUp(env, text);
  }

  #remember<V>(map: Map<string, V>, key: string, value: V, max: number): void {
    map.delete(key);
    map.set(key, value);
    if (map.size > max) map.delete(map.keys().next().value!);
  }
}
