/**
 * Request routing: slug → healthy endpoint with a free slot, least outstanding requests first,
 * ties broken round-robin; a bounded FIFO queue with a deadline when every candidate is full.
 *
 * Invariant kept after every state change: no queued waiter could be served right now. So a
 * released slot goes to the oldest waiter that can use it (direct hand-off, checked
 * synchronously in `release()`), and a newcomer that finds a free slot is never overtaking.
 *
 * @module
 */
import type { DataPlaneMetrics } from "../telemetry/mod.ts";
import { type GaugeSeries, gaugeSeries } from "../telemetry/mod.ts";
import { type Clock, systemClock } from "../timing/mod.ts";
import type { SlugTable, SlugTarget } from "./slugs.ts";
import type {
  AcquireOptions,
  AcquireResult,
  EndpointTarget,
  Lease,
  LeaseOutcome,
  ModelEntry,
  Router,
} from "./types.ts";

/** What the router needs to know about an endpoint. `inFlight` is owned by the router. */
export interface RouteEndpoint {
  readonly name: string;
  readonly baseUrl: string;
  readonly apiKey?: string;
  /** Undefined = unlimited. */
  readonly maxConcurrent?: number;
  readonly healthy: boolean;
  /** Models after include/exclude filtering (kept while unhealthy, so the slug stays known). */
  readonly models: ReadonlySet<string>;
  inFlight: number;
}

export interface RouterOptions {
  /** Current endpoints, in config order (the round-robin order). */
  endpoints: () => Iterable<RouteEndpoint>;
  slugs: SlugTable;
  /** Waiters allowed when every candidate is full (0 = never queue). */
  queueMax: number;
  queueTimeoutMs: number;
  /** @default systemClock */
  clock?: Clock;
  /** Passive health: called once per lease, before the slot is handed on. */
  onOutcome?: (endpoint: RouteEndpoint, outcome: LeaseOutcome) => void;
  metrics?: Pick<DataPlaneMetrics, "inFlight" | "queueDepth" | "queueWait">;
  /** `Retry-After` for 429 (queue full or deadline). @default 1 */
  busyRetryAfterS?: number;
  /** `Retry-After` for 503 (no healthy endpoint). @default 15 */
  unavailableRetryAfterS?: number;
  /** `created` of `/v1/models` entries (Unix seconds). @default () => 0 */
  modelCreated?: (model: string) => number;
}

/** Counters since start, for status and tests. */
export interface RouterStats {
  /** Requests that had to wait in the queue. */
  queued: number;
  /** Queued requests that got a slot. */
  dequeued: number;
  /** Refused with 429 because the queue was full. */
  rejectedQueueFull: number;
  /** Refused with 429 because the queue deadline passed. */
  timedOut: number;
  /** Queued requests whose client went away (AbortSignal). */
  abandoned: number;
}

interface Waiter {
  readonly slug: string;
  readonly exclude?: ReadonlySet<string>;
  readonly enqueuedAt: number;
  readonly timer: unknown;
  readonly signal?: AbortSignal;
  readonly onAbort?: () => void;
  readonly resolve: (r: AcquireResult) => void;
  readonly reject: (reason: unknown) => void;
}

type Resolution =
  | { kind: "unknown" }
  | { kind: "unavailable"; message: string }
  | { kind: "full"; target: SlugTarget }
  | { kind: "free"; target: SlugTarget; endpoint: RouteEndpoint };

const DEFAULT_DRAIN_RETRY_S = 30;

/**
 * The {@linkcode Router} over a live endpoint set.
 *
 * `acquire()` rejects with `signal.reason` when its `signal` aborts (already aborted, or while
 * queued) — the usual AbortSignal contract; the waiter is then removed from the queue.
 */
export class LeastOutstandingRouter implements Router {
  readonly #endpoints: () => Iterable<RouteEndpoint>;
  readonly #slugs: SlugTable;
  readonly #clock: Clock;
  readonly #onOutcome?: (endpoint: RouteEndpoint, outcome: LeaseOutcome) => void;
  readonly #metrics?: Pick<DataPlaneMetrics, "inFlight" | "queueDepth" | "queueWait">;
  readonly #modelCreated: (model: string) => number;
  #queueMax: number;
  #queueTimeoutMs: number;
  #busyRetryAfterS: number;
  #unavailableRetryAfterS: number;
  #queue: Waiter[] = [];
  #lastChosen = new Map<string, string>();
  #accepting = true;
  #drainReason = "";
  #drainRetryAfterS = DEFAULT_DRAIN_RETRY_S;
  #pumping = false;
  #pumpAgain = false;
  /** In-flight gauge series per endpoint name (set twice per request). */
  #inFlightSeries = new Map<string, GaugeSeries>();
  #stats: RouterStats = { queued: 0, dequeued: 0, rejectedQueueFull: 0, timedOut: 0, abandoned: 0 };
  /**
   * Slots of limited endpoints held elsewhere during a data-plane hand-over: by the predecessor
   * (on a successor) or given up (on a retiring router). `max_concurrent` counts them.
   */
  #reserved = new Map<string, number>();
  /** A successor before its predecessor said what it holds: no slot of a limited endpoint. */
  #reserveAll = false;
  /** Set once retiring: hands every slot this router can no longer use to the successor. */
  #onReturn: ((endpoint: string, slots: number) => void) | null = null;

  constructor(options: RouterOptions) {
    this.#endpoints = options.endpoints;
    this.#slugs = options.slugs;
    this.#clock = options.clock ?? systemClock;
    this.#onOutcome = options.onOutcome;
    this.#metrics = options.metrics;
    this.#modelCreated = options.modelCreated ?? (() => 0);
    this.#queueMax = checkCount("queueMax", options.queueMax);
    this.#queueTimeoutMs = checkPositive("queueTimeoutMs", options.queueTimeoutMs);
    this.#busyRetryAfterS = options.busyRetryAfterS ?? 1;
    this.#unavailableRetryAfterS = options.unavailableRetryAfterS ?? 15;
  }

  /** Changes queue limits (config reload). A smaller `queueMax` does not evict current waiters. */
  configure(
    options: Partial<Pick<RouterOptions, "queueMax" | "queueTimeoutMs" | "unavailableRetryAfterS">>,
  ): void {
    if (options.queueMax !== undefined) this.#queueMax = checkCount("queueMax", options.queueMax);
    if (options.queueTimeoutMs !== undefined) {
      this.#queueTimeoutMs = checkPositive("queueTimeoutMs", options.queueTimeoutMs);
    }
    if (options.unavailableRetryAfterS !== undefined) {
      this.#unavailableRetryAfterS = options.unavailableRetryAfterS;
    }
  }

  acquire(slug: string, options: AcquireOptions = {}): Promise<AcquireResult> {
    const { signal, exclude } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (!this.#accepting) return Promise.resolve(this.#drainingResult());
    const r = this.#resolve(slug, exclude);
    switch (r.kind) {
      case "unknown":
        return Promise.resolve(unknownResult(slug));
      case "unavailable":
        return Promise.resolve(this.#unavailableResult(r.message));
      case "free":
        return Promise.resolve({ ok: true, lease: this.#grant(r.endpoint, r.target, 0) });
      case "full":
        break;
    }
    if (this.#queue.length >= this.#queueMax) {
      this.#stats.rejectedQueueFull++;
      return Promise.resolve({
        ok: false,
        status: 429,
        message:
          `Cannot serve model "${slug}" now: every endpoint serving it is at max_concurrent ` +
          `and the queue is full (${this.#queueMax}) — retry later`,
        retryAfterS: this.#busyRetryAfterS,
      });
    }
    return new Promise<AcquireResult>((resolve, reject) => {
      const timeoutMs = this.#queueTimeoutMs;
      const waiter: Waiter = {
        slug,
        ...(exclude ? { exclude } : {}),
        enqueuedAt: this.#clock.now(),
        timer: this.#clock.setTimeout(() => {
          if (!this.#removeWaiter(waiter)) return;
          this.#stats.timedOut++;
          resolve({
            ok: false,
            status: 429,
            message: `Cannot serve model "${slug}" now: no endpoint slot freed up within ` +
              `${timeoutMs} ms (queue_timeout_ms) — retry later`,
            retryAfterS: this.#busyRetryAfterS,
          });
        }, timeoutMs),
        ...(signal
          ? {
            signal,
            onAbort: () => {
              if (!this.#removeWaiter(waiter)) return;
              this.#stats.abandoned++;
              reject(signal.reason);
            },
          }
          : {}),
        resolve,
        reject,
      };
      if (waiter.signal && waiter.onAbort) {
        waiter.signal.addEventListener("abort", waiter.onAbort, { once: true });
      }
      this.#queue.push(waiter);
      this.#stats.queued++;
      this.#setQueueGauge();
    });
  }

  knows(slug: string): boolean {
    const target = this.#slugs.resolve(slug);
    if (!target) return false;
    if (!this.#slugs.isIdentity) return true;
    for (const e of this.#endpoints()) if (e.models.has(target.model)) return true;
    return false;
  }

  listModels(): ModelEntry[] {
    const healthyModels = new Map<string, Set<string>>(); // model → endpoint names
    for (const e of this.#endpoints()) {
      if (!e.healthy) continue;
      for (const m of e.models) {
        let names = healthyModels.get(m);
        if (!names) healthyModels.set(m, names = new Set());
        names.add(e.name);
      }
    }
    const entries = this.#slugs.view([...healthyModels.keys()].sort()).filter((s) => {
      const names = healthyModels.get(s.model);
      return names !== undefined && (s.endpoint === undefined || names.has(s.endpoint));
    });
    return entries.map((s) => ({
      id: s.slug,
      object: "model" as const,
      created: this.#modelCreated(s.model),
      owned_by: s.tenant,
    }));
  }

  /**
   * Drain switch: while `false`, `acquire()` answers 503 with `reason` and `Retry-After`, and
   * queued waiters are refused the same way; leases already granted continue.
   */
  setAccepting(accepting: boolean, reason?: string, retryAfterS?: number): void {
    this.#accepting = accepting;
    this.#drainReason = reason ?? "node is draining";
    this.#drainRetryAfterS = retryAfterS ?? DEFAULT_DRAIN_RETRY_S;
    this.pump();
  }

  get accepting(): boolean {
    return this.#accepting;
  }

  queueDepth(): number {
    return this.#queue.length;
  }

  stats(): Readonly<RouterStats> {
    return { ...this.#stats };
  }

  /**
   * Re-evaluates waiters after endpoints, health, models, limits or slugs changed: serves the
   * oldest ones that can now get a slot, refuses those that can no longer be served.
   */
  pump(): void {
    if (this.#pumping) {
      this.#pumpAgain = true;
      return;
    }
    this.#pumping = true;
    try {
      // Bounded: every pass either empties the flag or removes waiters; the cap is a safety net.
      for (let pass = 0; pass < 1000; pass++) {
        this.#pumpAgain = false;
        this.#pumpOnce();
        if (!this.#pumpAgain) break;
      }
    } finally {
      this.#pumping = false;
    }
    this.#returnSurplus();
  }

  #capacity(e: RouteEndpoint, max: number): number {
    if (this.#reserveAll) return 0;
    return this.#reserved.size === 0 ? max : max - (this.#reserved.get(e.name) ?? 0);
  }

  /**
   * Hand-over, successor side: until {@linkcode setReservedSlots} says what the predecessor
   * holds, no limited endpoint gets a lease here (requests queue), so the two data planes
   * together never pass `max_concurrent`.
   */
  reserveAllSlots(): void {
    this.#reserveAll = true;
  }

  /** Hand-over, successor side: the predecessor holds `held[endpoint]` slots. */
  setReservedSlots(held: Record<string, number>): void {
    this.#reserveAll = false;
    this.#reserved.clear();
    for (const [name, n] of Object.entries(held)) if (n > 0) this.#reserved.set(name, n);
    this.pump();
  }

  /** Hand-over, successor side: the predecessor gave up `slots` slots of `endpoint`. */
  returnSlots(endpoint: string, slots: number): void {
    const left = (this.#reserved.get(endpoint) ?? 0) - slots;
    if (left > 0) this.#reserved.set(endpoint, left);
    else this.#reserved.delete(endpoint);
    this.pump();
  }

  /**
   * Hand-over, predecessor side: freezes this router at what it holds now (its queued waiters
   * still get slots its own requests free), returns the slots the successor must count as
   * taken (held here, or still held by an earlier predecessor), and from then on reports every
   * slot it cannot use any more through `onReturn`.
   */
  retire(onReturn: (endpoint: string, slots: number) => void): Record<string, number> {
    const held: Record<string, number> = {};
    for (const e of this.#endpoints()) {
      if (e.maxConcurrent === undefined) continue;
      const elsewhere = this.#reserveAll
        ? e.maxConcurrent - e.inFlight
        : (this.#reserved.get(e.name) ?? 0);
      held[e.name] = e.inFlight + Math.max(0, elsewhere);
      this.#reserved.set(e.name, e.maxConcurrent - e.inFlight);
    }
    this.#reserveAll = false;
    this.#onReturn = onReturn;
    return held;
  }

  /** On a retiring router: gives away capacity that no waiter here can use. */
  #returnSurplus(): void {
    const onReturn = this.#onReturn;
    if (onReturn === null) return;
    for (const e of this.#endpoints()) {
      if (e.maxConcurrent === undefined) continue;
      const surplus = this.#capacity(e, e.maxConcurrent) - e.inFlight;
      if (surplus <= 0) continue;
      this.#reserved.set(e.name, (this.#reserved.get(e.name) ?? 0) + surplus);
      onReturn(e.name, surplus);
    }
  }

  /** Refuses every waiter with 503 (shutdown). Leases already granted are unaffected. */
  close(message = "node is shutting down"): void {
    for (const w of [...this.#queue]) {
      this.#removeWaiter(w);
      w.resolve({ ok: false, status: 503, message, retryAfterS: this.#drainRetryAfterS });
    }
  }

  #pumpOnce(): void {
    for (const w of [...this.#queue]) {
      if (!this.#queue.includes(w)) continue;
      if (!this.#accepting) {
        this.#removeWaiter(w);
        w.resolve(this.#drainingResult());
        continue;
      }
      const r = this.#resolve(w.slug, w.exclude);
      if (r.kind === "full") continue;
      this.#removeWaiter(w);
      if (r.kind === "unknown") w.resolve(unknownResult(w.slug));
      else if (r.kind === "unavailable") w.resolve(this.#unavailableResult(r.message));
      else {
        const waitedMs = Math.max(0, this.#clock.now() - w.enqueuedAt);
        this.#stats.dequeued++;
        this.#metrics?.queueWait.observe(waitedMs / 1000);
        w.resolve({ ok: true, lease: this.#grant(r.endpoint, r.target, waitedMs) });
      }
    }
  }

  #resolve(slug: string, exclude?: ReadonlySet<string>): Resolution {
    const target = this.#slugs.resolve(slug);
    if (!target) return { kind: "unknown" };
    let served = 0;
    let best: RouteEndpoint | undefined;
    let tied: RouteEndpoint[] = [];
    let healthy = 0;
    for (const e of this.#endpoints()) {
      if (target.endpoint !== undefined && e.name !== target.endpoint) continue;
      if (!e.models.has(target.model)) continue;
      served++;
      if (!e.healthy || exclude?.has(e.name)) continue;
      healthy++;
      if (e.maxConcurrent !== undefined && e.inFlight >= this.#capacity(e, e.maxConcurrent)) {
        continue;
      }
      if (!best || e.inFlight < best.inFlight) {
        best = e;
        tied = [e];
      } else if (e.inFlight === best.inFlight) {
        tied.push(e);
      }
    }
    if (served === 0) {
      // Identity mode: a model no endpoint lists is simply not a model of this node.
      if (this.#slugs.isIdentity) return { kind: "unknown" };
      return {
        kind: "unavailable",
        message: `Cannot serve model "${slug}": ${
          target.endpoint ? `endpoint "${target.endpoint}"` : "no endpoint"
        } currently lists model "${target.model}"`,
      };
    }
    if (healthy === 0) {
      return {
        kind: "unavailable",
        message: `Cannot serve model "${slug}": no healthy endpoint serves it${
          exclude?.size ? " (after excluding the endpoint that just failed)" : ""
        } — retry later`,
      };
    }
    if (!best) return { kind: "full", target };
    return { kind: "free", target, endpoint: this.#roundRobin(target, tied) };
  }

  /** Among equally loaded endpoints, the first one after the last chosen (config order). */
  #roundRobin(target: SlugTarget, tied: RouteEndpoint[]): RouteEndpoint {
    const first = tied[0]!;
    if (tied.length === 1) return first;
    const last = this.#lastChosen.get(rrKey(target));
    if (last === undefined) return first;
    const order = [...this.#endpoints()].map((e) => e.name);
    const lastIndex = order.indexOf(last);
    return tied.find((e) => order.indexOf(e.name) > lastIndex) ?? first;
  }

  #grant(endpoint: RouteEndpoint, target: SlugTarget, queuedMs: number): Lease {
    endpoint.inFlight++;
    this.#setInFlightGauge(endpoint);
    this.#lastChosen.set(rrKey(target), endpoint.name);
    const leaseTarget: EndpointTarget = {
      endpoint: endpoint.name,
      baseUrl: endpoint.baseUrl,
      model: target.model,
      tenant: target.tenant,
      ...(endpoint.apiKey !== undefined ? { apiKey: endpoint.apiKey } : {}),
    };
    let released = false;
    return {
      target: leaseTarget,
      queuedMs,
      release: (outcome: LeaseOutcome = "ok") => {
        if (released) return;
        released = true;
        endpoint.inFlight = Math.max(0, endpoint.inFlight - 1);
        this.#setInFlightGauge(endpoint);
        try {
          this.#onOutcome?.(endpoint, outcome);
        } finally {
          this.pump();
        }
      },
    };
  }

  #removeWaiter(w: Waiter): boolean {
    const i = this.#queue.indexOf(w);
    if (i < 0) return false;
    this.#queue.splice(i, 1);
    this.#clock.clearTimeout(w.timer);
    if (w.signal && w.onAbort) w.signal.removeEventListener("abort", w.onAbort);
    this.#setQueueGauge();
    return true;
  }

  #drainingResult(): AcquireResult {
    return {
      ok: false,
      status: 503,
      message: `Cannot accept requests: ${this.#drainReason}`,
      retryAfterS: this.#drainRetryAfterS,
    };
  }

  #unavailableResult(message: string): AcquireResult {
    return { ok: false, status: 503, message, retryAfterS: this.#unavailableRetryAfterS };
  }

  #setQueueGauge(): void {
    this.#metrics?.queueDepth.set(this.#queue.length);
  }

  #setInFlightGauge(e: RouteEndpoint): void {
    const metrics = this.#metrics;
    if (metrics === undefined) return;
    let series = this.#inFlightSeries.get(e.name);
    if (series === undefined) {
      // Endpoint names come from the config, so this map stays as small as the endpoint list.
      series = gaugeSeries(metrics.inFlight, { endpoint: e.name });
      this.#inFlightSeries.set(e.name, series);
    }
    series.set(e.inFlight);
  }
}

function rrKey(target: SlugTarget): string {
  return `${target.endpoint ?? ""}\u0000${target.model}`;
}

function unknownResult(slug: string): AcquireResult {
  return {
    ok: false,
    status: 404,
    message:
      `The model "${slug}" does not exist on this node — GET /v1/models lists the available ones`,
  };
}

function checkCount(name: string, n: number): number {
  if (!Number.isInteger(n) || n < 0) {
    throw new RangeError(`Cannot configure the router: '${name}' must be an integer ≥ 0, got ${n}`);
  }
  return n;
}

function checkPositive(name: string, n: number): number {
  if (!Number.isFinite(n) || n <= 0) {
    throw new RangeError(`Cannot configure the router: '${name}' must be > 0, got ${n}`);
  }
  return n;
}
