/**
 * The control-plane loops (after tailscale's `controlclient.Auto`): register with jittered
 * exponential backoff until it works, then heartbeat at the interval the control plane asked for;
 * register again when the control plane forgets the node (404); stop for good on an auth or fatal
 * registration failure (state `error`, one clear log line). Nothing here blocks the data plane:
 * failures only delay the next attempt.
 *
 * Time, randomness and sleeping are injected so tests can run the loops without real waits.
 *
 * @module
 */
import { getLogger } from "../telemetry/mod.ts";
import { abortableSleep, retryDelayMs } from "../timing/mod.ts";
import type { ControlPlaneApi } from "./client.ts";
import { ControlPlaneError } from "./errors.ts";
import {
  type Capabilities,
  type DesiredState,
  type HeartbeatRequest,
  type HeartbeatResponse,
  type NodeInfo,
  type NodeState,
  PROTOCOL_VERSION,
  type RegisterRequest,
  type RegisterResponse,
  type SlugEntry,
} from "./schema.ts";

/** Lifecycle of the session itself (not the node's `state` field in heartbeats). */
export type SessionState =
  | "idle"
  | "registering"
  | "registered"
  | "error"
  | "stopping"
  | "stopped";

/** What the node reports each beat; `capabilities` is always current, the session decides whether to send it. */
export type HeartbeatStatus = Omit<HeartbeatRequest, "capabilities"> & {
  capabilities: Capabilities;
};

/** The logging calls the session makes (a LogTape `Logger` fits). */
export interface SessionLogger {
  debug(message: string, properties?: Record<string, unknown>): void;
  info(message: string, properties?: Record<string, unknown>): void;
  warning(message: string, properties?: Record<string, unknown>): void;
  error(message: string, properties?: Record<string, unknown>): void;
}

/** Waits `ms`; resolves early (without throwing) when `signal` aborts. */
export type SleepFn = (ms: number, signal: AbortSignal) => Promise<void>;

export interface ControlSessionOptions {
  client: ControlPlaneApi;
  node: NodeInfo;
  wireguardPublicKey: string;
  /** Base64 Rosenpass public key; omit when Rosenpass is disabled. */
  rosenpassPublicKey?: string;
  /** Called for every heartbeat (and for capabilities at registration). */
  statusProvider: () => HeartbeatStatus;
  /** Used until the control plane sends its own. @default 15 */
  heartbeatIntervalS?: number;
  /** Floor on any interval the control plane asks for, so a bad answer cannot make the node hammer it. @default 1000 */
  minHeartbeatIntervalMs?: number;
  /** @default 1000 */
  retryInitialMs?: number;
  /** @default 60000 */
  retryMaxMs?: number;
  /** Cap on an honoured `Retry-After`. @default 600000 */
  maxRetryAfterMs?: number;
  /** Bound on the final heartbeat + deregister in {@linkcode ControlSession.stop}. @default 5000 */
  stopTimeoutMs?: number;
  /** @default setTimeout-based, abortable */
  sleep?: SleepFn;
  /** Uniform random in [0, 1) for backoff jitter. @default Math.random */
  random?: () => number;
  /** @default getLogger("control") */
  logger?: SessionLogger;
  onRegistered?: (resp: RegisterResponse) => void;
  /** Called when the desired state differs from the last one received (first time included). */
  onDesiredState?: (state: DesiredState) => void;
  /** Called with the whole slug table whenever the control plane sends one. */
  onSlugs?: (entries: SlugEntry[]) => void;
  onStateChange?: (state: SessionState, error?: ControlPlaneError) => void;
  /** A registration attempt failed and will be retried after `delayMs` (STATUS=, `labman status`). */
  onRegisterRetry?: (error: ControlPlaneError, delayMs: number) => void;
  /** Every heartbeat outcome (metrics: failures, age of the last success). */
  onHeartbeat?: (outcome: { ok: true } | { ok: false; error: ControlPlaneError }) => void;
}

export interface StopOptions {
  /** `state` of the final heartbeat. @default "stopping" */
  finalState?: NodeState;
  /** Send `DELETE /nodes/{id}` after the final heartbeat. @default true */
  deregister?: boolean;
  /** @default the session's stopTimeoutMs */
  timeoutMs?: number;
}

/** Models are a set: order changes alone are not a change. */
function capabilitiesKey(c: Capabilities): string {
  return JSON.stringify([[...c.models].sort(), c.endpoint_count, c.max_concurrent_requests]);
}

export class ControlSession implements AsyncDisposable {
  #o: ControlSessionOptions;
  #log: SessionLogger;
  #sleep: SleepFn;
  #state: SessionState = "idle";
  #abort = new AbortController();
  #loop: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;
  #intervalMs: number;
  #nodeId: string | undefined;
  #registration: RegisterResponse | undefined;
  #desired: DesiredState | undefined;
  #ackedCapabilities: string | undefined;
  #lastError: ControlPlaneError | undefined;
  /** Ends the current wait between heartbeats early ({@linkcode ControlSession.beatNow}). */
  #wake: AbortController = new AbortController();

  constructor(options: ControlSessionOptions) {
    this.#o = options;
    this.#log = options.logger ?? getLogger("control");
    this.#sleep = options.sleep ?? abortableSleep;
    this.#intervalMs = (options.heartbeatIntervalS ?? 15) * 1000;
  }

  get state(): SessionState {
    return this.#state;
  }
  /** Node id from the last successful registration. */
  get nodeId(): string | undefined {
    return this.#nodeId;
  }
  get registration(): RegisterResponse | undefined {
    return this.#registration;
  }
  get desiredState(): DesiredState | undefined {
    return this.#desired;
  }
  get heartbeatIntervalMs(): number {
    return this.#intervalMs;
  }
  /** The error that put the session into state `error`. */
  get lastError(): ControlPlaneError | undefined {
    return this.#lastError;
  }

  /**
   * Sends the next heartbeat now instead of at the end of the interval (the node's state changed
   * in a way the control plane should hear about at once: draining, capabilities discovered).
   */
  beatNow(): void {
    this.#wake.abort();
  }

  /** Starts the loops in the background. Calling it twice is a no-op. */
  start(): void {
    if (this.#loop || this.#stopping) return;
    this.#loop = this.#run().catch((err) => {
      this.#log.error("control-plane session crashed: {error}", { error: String(err) });
      this.#setState("error");
    });
  }

  /** Resolves when the loops have ended (stop, auth failure, fatal registration failure). */
  get finished(): Promise<void> {
    return this.#loop ?? Promise.resolve();
  }

  /**
   * Ends the loops, then (if registered and not in `error`) sends a final heartbeat with
   * `finalState` and deregisters, both bounded by `timeoutMs`. Never throws; idempotent.
   */
  stop(options: StopOptions = {}): Promise<void> {
    this.#stopping ??= this.#stop(options);
    return this.#stopping;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  async #stop(options: StopOptions): Promise<void> {
    const wasError = this.#state === "error";
    if (!wasError) this.#setState("stopping");
    this.#abort.abort();
    await this.#loop;
    const nodeId = this.#nodeId;
    // Also after a rejection: a token fixed on the control plane meanwhile still gets the node
    // removed, and a dead one costs one bounded request.
    if (nodeId !== undefined) {
      const signal = AbortSignal.timeout(options.timeoutMs ?? this.#o.stopTimeoutMs ?? 5000);
      try {
        const req = this.#heartbeatRequest();
        req.state = options.finalState ?? "stopping";
        await this.#o.client.heartbeat(nodeId, req, { signal });
      } catch (err) {
        this.#log.warning("final heartbeat failed: {error}", { error: message(err) });
      }
      if (options.deregister ?? true) await this.#deregister(nodeId, signal);
    }
    if (this.#state !== "error") this.#setState("stopped");
  }

  /** DELETE, retried on transient failures (5xx, network) with backoff until `signal` ends. */
  async #deregister(nodeId: string, signal: AbortSignal): Promise<void> {
    for (let attempt = 0;; attempt++) {
      let cpe: ControlPlaneError;
      try {
        await this.#o.client.deregister(nodeId, { signal });
        this.#log.info("deregistered node {node_id}", { node_id: nodeId });
        return;
      } catch (err) {
        cpe = asControlPlaneError(err);
      }
      if (signal.aborted || cpe.kind !== "transient") {
        // The error text promises a retry for transient failures; this is the last word.
        const text = cpe.message.replace(/ — will retry.*$/, "");
        this.#log.warning("deregistration failed, giving up: {error}", {
          error: signal.aborted ? `${text} (stop timeout reached)` : text,
          attempts: attempt + 1,
        });
        return;
      }
      // Short steps: the whole stop is bounded by `signal`, and a restarting control plane is
      // usually back within a second or two.
      const delay = Math.min(retryDelayMs(attempt, cpe.retryAfterS, this.#backoff()), 1000);
      this.#log.warning("deregistration failed: {error}; retrying in {delay_ms} ms", {
        error: cpe.message,
        delay_ms: delay,
      });
      await this.#sleep(delay, signal);
      if (signal.aborted) {
        this.#log.warning("deregistration failed, giving up: stop timeout reached", {
          attempts: attempt + 1,
        });
        return;
      }
    }
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    while (!signal.aborted) {
      const registered = await this.#registerLoop(signal);
      if (!registered) return;
      const next = await this.#heartbeatLoop(signal);
      if (next !== "reregister") return;
    }
  }

  /** Returns false when the session must end (stopped, auth or fatal failure). */
  async #registerLoop(signal: AbortSignal): Promise<boolean> {
    this.#setState("registering");
    let attempt = 0;
    let lastWarned = "";
    while (!signal.aborted) {
      let err: unknown;
      try {
        const capabilities = this.#o.statusProvider().capabilities;
        const req: RegisterRequest = {
          protocol_version: PROTOCOL_VERSION,
          node: this.#o.node,
          capabilities,
          wireguard_public_key: this.#o.wireguardPublicKey,
          ...(this.#o.rosenpassPublicKey !== undefined
            ? { rosenpass_public_key: this.#o.rosenpassPublicKey }
            : {}),
        };
        const resp = await this.#o.client.register(req, { signal });
        if (signal.aborted) return false;
        this.#nodeId = resp.node_id;
        this.#registration = resp;
        this.#setInterval(resp.heartbeat_interval_s);
        this.#ackedCapabilities = capabilitiesKey(capabilities);
        // No empty placeholder: LogTape renders an empty string property as "".
        const registered = { node_id: resp.node_id, address: resp.wireguard.address };
        if (attempt) {
          this.#log.info(
            "registered as {node_id}, WireGuard address {address}, after {attempts} failed attempts",
            { ...registered, attempts: attempt },
          );
        } else this.#log.info("registered as {node_id}, WireGuard address {address}", registered);
        this.#setState("registered");
        this.#emit("onRegistered", () => this.#o.onRegistered?.(resp));
        if (resp.slugs) {
          const slugs = resp.slugs;
          this.#emit("onSlugs", () => this.#o.onSlugs?.(slugs));
        }
        return true;
      } catch (e) {
        err = e;
      }
      if (signal.aborted) return false;
      const cpe = asControlPlaneError(err);
      if (cpe.kind === "auth" || cpe.kind === "fatal") {
        this.#fail(cpe);
        return false;
      }
      const delay = retryDelayMs(attempt, cpe.retryAfterS, this.#backoff());
      this.#emit("onRegisterRetry", () => this.#o.onRegisterRetry?.(cpe, delay));
      if (cpe.message !== lastWarned || attempt % 10 === 0) {
        this.#log.warning("{error} (attempt {attempt}, next in {delay_ms} ms)", {
          error: cpe.message,
          attempt: attempt + 1,
          delay_ms: delay,
        });
        lastWarned = cpe.message;
      } else {
        this.#log.debug("{error} (attempt {attempt})", {
          error: cpe.message,
          attempt: attempt + 1,
        });
      }
      attempt++;
      await this.#sleep(delay, signal);
    }
    return false;
  }

  async #heartbeatLoop(signal: AbortSignal): Promise<"reregister" | "end"> {
    let failures = 0;
    let delay = this.#intervalMs;
    while (!signal.aborted) {
      if (!this.#wake.signal.aborted) {
        await this.#sleep(delay, AbortSignal.any([signal, this.#wake.signal]));
      }
      this.#wake = new AbortController();
      if (signal.aborted) break;
      const nodeId = this.#nodeId!;
      let req: HeartbeatRequest;
      let resp: HeartbeatResponse;
      try {
        req = this.#heartbeatRequest();
        resp = await this.#o.client.heartbeat(nodeId, req, { signal });
      } catch (err) {
        if (signal.aborted) break;
        const cpe = asControlPlaneError(err);
        this.#emit("onHeartbeat", () => this.#o.onHeartbeat?.({ ok: false, error: cpe }));
        if (cpe.kind === "auth") {
          this.#fail(cpe);
          return "end";
        }
        if (cpe.kind === "not_found") {
          this.#log.warning("{error}", { error: cpe.message });
          return "reregister";
        }
        if (cpe.kind === "fatal") {
          // The next beat carries fresh status; keep the regular rhythm rather than hammering.
          this.#log.error("{error}", { error: cpe.message });
          failures = 0;
          delay = this.#intervalMs;
          continue;
        }
        const backoff = Math.min(
          retryDelayMs(failures, undefined, this.#backoff()),
          this.#intervalMs,
        );
        const asked = cpe.retryAfterS === undefined
          ? 0
          : Math.min(cpe.retryAfterS * 1000, this.#o.maxRetryAfterMs ?? 600_000);
        delay = Math.max(backoff, asked);
        const log = failures === 0 || failures % 10 === 0 ? "warning" : "debug";
        this.#log[log]("{error} (failure {failures}, next in {delay_ms} ms)", {
          error: cpe.message,
          failures: failures + 1,
          delay_ms: delay,
        });
        failures++;
        continue;
      }
      this.#emit("onHeartbeat", () => this.#o.onHeartbeat?.({ ok: true }));
      if (failures > 0) {
        this.#log.info("heartbeats resumed after {failures} failures", { failures });
      }
      failures = 0;
      if (req.capabilities) this.#ackedCapabilities = capabilitiesKey(req.capabilities);
      if (resp.heartbeat_interval_s !== undefined) this.#setInterval(resp.heartbeat_interval_s);
      delay = this.#intervalMs;
      if (resp.desired_state !== this.#desired) {
        const state = resp.desired_state;
        // Logged once, by labmand when it applies the state (onDesiredState).
        this.#desired = state;
        this.#emit("onDesiredState", () => this.#o.onDesiredState?.(state));
      }
      if (resp.slugs) {
        const slugs = resp.slugs;
        this.#emit("onSlugs", () => this.#o.onSlugs?.(slugs));
      }
    }
    return "end";
  }

  #heartbeatRequest(): HeartbeatRequest {
    const { capabilities, ...status } = this.#o.statusProvider();
    const req: HeartbeatRequest = { ...status };
    if (capabilitiesKey(capabilities) !== this.#ackedCapabilities) req.capabilities = capabilities;
    return req;
  }

  #setInterval(seconds: number): void {
    this.#intervalMs = Math.max(seconds * 1000, this.#o.minHeartbeatIntervalMs ?? 1000);
  }

  #backoff() {
    return {
      initialMs: this.#o.retryInitialMs ?? 1000,
      maxMs: this.#o.retryMaxMs ?? 60_000,
      maxRetryAfterMs: this.#o.maxRetryAfterMs ?? 600_000,
      ...(this.#o.random ? { random: this.#o.random } : {}),
    };
  }

  #fail(err: ControlPlaneError): void {
    this.#lastError = err;
    this.#log.error("{error}", { error: err.message, kind: err.kind, status: err.status });
    this.#setState("error", err);
  }

  #setState(state: SessionState, err?: ControlPlaneError): void {
    if (state === this.#state) return;
    this.#state = state;
    this.#emit("onStateChange", () => this.#o.onStateChange?.(state, err));
  }

  /** A throwing callback must not kill the loops. */
  #emit(name: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#log.error("{callback} callback threw: {error}", {
        callback: name,
        error: message(err),
      });
    }
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Anything unexpected (a status provider bug, a fake client) is retried like a network error. */
function asControlPlaneError(err: unknown): ControlPlaneError {
  if (err instanceof ControlPlaneError) return err;
  return new ControlPlaneError(
    `Cannot complete the control-plane call: ${message(err)} — retrying with backoff`,
    {
      kind: "transient",
      cause: err,
    },
  );
}
