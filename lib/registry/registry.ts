/**
 * The endpoint registry: per-endpoint health and models kept fresh by a probe loop, the slug
 * table, and the router over both. Runs inside the sandboxed data-plane Worker, so everything
 * (config, API keys, fetch, clock) comes in through the constructor — no file, env or process
 * access here.
 *
 * @module
 */
import type { EndpointConfig, EndpointKind, HealthConfig, ProxyConfig } from "../config/mod.ts";
import { identifyServer } from "./identify.ts";
import { type DataPlaneMetrics, getLogger } from "../telemetry/mod.ts";
import { type Clock, systemClock } from "../timing/mod.ts";
import { serverRoot } from "../http/mod.ts";
import type { Capacity } from "./capacity.ts";
import { dialectOf, type ServerKind } from "./dialects.ts";
import {
  checkEndpoint,
  type CheckOptions,
  type EndpointCheck,
  type EndpointCondition,
} from "./endpoint_check.ts";
import { type CompiledModelFilter, modelFilterFrom } from "./model_filter.ts";
import {
  type HealthEvent,
  type HealthPolicy,
  type HealthState,
  type HealthStatus,
  INITIAL_HEALTH,
  nextHealth,
} from "./health.ts";
import { LeastOutstandingRouter, type RouteEndpoint } from "./router.ts";
import { SlugTable } from "./slugs.ts";
import type { LeaseOutcome } from "./types.ts";

const log = getLogger("registry");

export type RegistryMetrics = Pick<
  DataPlaneMetrics,
  | "endpointUp"
  | "endpointModels"
  | "inFlight"
  | "queueDepth"
  | "queueWait"
  | "endpointCondition"
  | "endpointServerLoad"
>;

export interface EndpointRegistryOptions {
  /** `base_url` already normalised to end in `/v1`. */
  endpoints: readonly EndpointConfig[];
  /** Endpoint name → bearer key (read from `api_key_file` by the supervisor). @default {} */
  apiKeys?: Readonly<Record<string, string>>;
  health: HealthConfig;
  /** Uses `queue_max` and `queue_timeout_ms`. */
  proxy: Pick<ProxyConfig, "queue_max" | "queue_timeout_ms">;
  metrics?: RegistryMetrics;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
  /** Jitter source in [0, 1). @default Math.random */
  random?: () => number;
  /** @default systemClock */
  clock?: Clock;
  /** Local mode: slugs are model ids (identity table). Otherwise empty until the control plane
   * sends a table. @default true */
  localMode?: boolean;
  /**
   * Endpoint name → its `models_include`/`models_exclude` compiled by the supervisor
   * (`modelFiltersFor`); required for every endpoint that has either list.
   * @default {}
   */
  modelFilters?: Readonly<Record<string, CompiledModelFilter>>;
}

export interface ReconfigureOptions {
  endpoints: readonly EndpointConfig[];
  apiKeys?: Readonly<Record<string, string>>;
  health?: HealthConfig;
  proxy?: Pick<ProxyConfig, "queue_max" | "queue_timeout_ms">;
  /** As in {@linkcode EndpointRegistryOptions}; replaces the previous table when given. */
  modelFilters?: Readonly<Record<string, CompiledModelFilter>>;
}

/** What a reload changed, by endpoint name. */
export interface ReconfigureResult {
  added: string[];
  removed: string[];
  /** Same endpoint, new limits or filters: health and in-flight kept. */
  updated: string[];
  /** New URL or key: fresh health state, probed at once. */
  replaced: string[];
  unchanged: string[];
}

/** One endpoint in a status snapshot (for heartbeats and `labman status`). */
export interface EndpointStatus {
  name: string;
  healthy: boolean;
  status: HealthStatus;
  /** After include/exclude filtering, in discovery order. */
  models: string[];
  in_flight: number;
  max_concurrent: number | null;
  last_error: string | null;
  /** ISO 8601 time of the last active check, or null before the first one finished. */
  last_checked: string | null;
  /** Configured kind, or the detected one when configured as "auto" (null until detected). */
  kind: ServerKind | null;
  /** From the last check; null before the first one finished. */
  condition: EndpointCondition | null;
  /** The server's own load signals from the last check, when its kind has any. */
  capacity: Capacity | null;
}

/** Roadmap §4.5. */
export interface NodeCapabilities {
  /** Unique, sorted ids of models served by healthy endpoints. */
  models: string[];
  endpoint_count: number;
  /** Sum of each endpoint's limit (`max_concurrent`, or the server's own slot count when it is
   * lower or nothing is configured), or null when any endpoint is unlimited. */
  max_concurrent_requests: number | null;
}

/** While a server reports itself full, re-read its capacity at least this often. */
const FULL_RECHECK_MS = 500;

class EndpointState implements RouteEndpoint {
  readonly name: string;
  readonly baseUrl: string;
  readonly apiKey?: string;
  readonly kind: EndpointKind;
  /** Set by fingerprinting when `kind` is "auto"; cleared when the endpoint goes down. */
  detected: ServerKind | undefined = undefined;
  /** `max_concurrent` from config. */
  configMax?: number;
  condition: EndpointCondition | null = null;
  capacity: Capacity | undefined = undefined;
  /** Our own in-flight count when `capacity` was read (its `running` includes them). */
  inFlightAtCheck = 0;
  include?: readonly string[];
  exclude?: readonly string[];
  keep: (id: string) => boolean;
  health: HealthState = INITIAL_HEALTH;
  /** Unfiltered ids from the last successful probe. */
  discovered: string[] = [];
  models: Set<string> = new Set();
  inFlight = 0;
  lastError: string | null = null;
  lastChecked: number | null = null;
  timer: unknown = undefined;
  probe: AbortController | undefined = undefined;
  detached = false;

  constructor(
    config: EndpointConfig,
    apiKey: string | undefined,
    filters: Readonly<Record<string, CompiledModelFilter>>,
  ) {
    this.name = config.name;
    this.baseUrl = config.base_url.replace(/\/+$/, "");
    this.kind = config.kind ?? "auto";
    if (apiKey !== undefined) this.apiKey = apiKey;
    this.keep = () => true;
    this.applyLimits(config, filters);
  }

  get healthy(): boolean {
    return this.health.status === "healthy";
  }

  /** The kind the checks speak: configured, detected, or generic until detected. */
  get effectiveKind(): ServerKind {
    return this.kind === "auto" ? this.detected ?? "openai" : this.kind;
  }

  /** The limit reported upstream: config and the server's slot count, whichever is lower. */
  get reportedMax(): number | undefined {
    const slots = this.capacity?.slots;
    if (slots === undefined) return this.configMax;
    return this.configMax === undefined ? slots : Math.min(this.configMax, slots);
  }

  /**
   * The routing limit. With a slot count, slots busy with other clients' requests (the
   * server's `running` minus ours at that reading) are not ours to use. A server that says it
   * is full without a slot count (requests waiting in its queue) gets no more than we had
   * running then: each of ours that finishes frees one place, nothing more until it has room.
   */
  get maxConcurrent(): number | undefined {
    let max = this.configMax;
    const c = this.capacity;
    if (!c) return max;
    if (c.slots !== undefined) {
      const external = Math.max(0, (c.running ?? 0) - this.inFlightAtCheck);
      const room = Math.max(0, c.slots - external);
      max = max === undefined ? room : Math.min(max, room);
    } else if (c.full) {
      max = max === undefined ? this.inFlightAtCheck : Math.min(max, this.inFlightAtCheck);
    }
    return max;
  }

  /** Takes the fields that can change without resetting health. True when something changed. */
  applyLimits(
    config: EndpointConfig,
    filters: Readonly<Record<string, CompiledModelFilter>>,
  ): boolean {
    const changed = this.configMax !== config.max_concurrent ||
      !sameList(this.include, config.models_include) ||
      !sameList(this.exclude, config.models_exclude);
    this.configMax = config.max_concurrent;
    this.include = config.models_include;
    this.exclude = config.models_exclude;
    this.keep = modelFilterFrom(compiledFilter(config, filters));
    this.models = new Set(this.discovered.filter(this.keep));
    return changed;
  }
}

/** Something speaking HTTP answered (so a fingerprint can tell what it is). */
function answered(r: EndpointCheck): boolean {
  return r.ok || ["http", "bad_json", "bad_shape", "too_large"].includes(r.error.kind);
}

/** The endpoint's compiled globs; a list without them is a wiring bug, not a user error. */
function compiledFilter(
  config: EndpointConfig,
  filters: Readonly<Record<string, CompiledModelFilter>>,
): CompiledModelFilter | undefined {
  if (config.models_include === undefined && config.models_exclude === undefined) return undefined;
  const compiled = Object.hasOwn(filters, config.name) ? filters[config.name] : undefined;
  if (compiled === undefined) {
    throw new TypeError(
      `Cannot filter the models of endpoint "${config.name}": its globs were not compiled — ` +
        "pass await modelFiltersFor(endpoints) as modelFilters",
    );
  }
  return compiled;
}

function sameList(a?: readonly string[], b?: readonly string[]): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

export class EndpointRegistry {
  /** Routes requests; see {@linkcode LeastOutstandingRouter}. */
  readonly router: LeastOutstandingRouter;
  /** Slug → target; the identity in local mode. */
  readonly slugs: SlugTable;

  #states = new Map<string, EndpointState>();
  #apiKeys: Readonly<Record<string, string>>;
  #modelFilters: Readonly<Record<string, CompiledModelFilter>>;
  #health: HealthConfig;
  #policy: HealthPolicy;
  readonly #metrics?: RegistryMetrics;
  readonly #fetch?: typeof fetch;
  readonly #random: () => number;
  readonly #clock: Clock;
  readonly #firstSeen = new Map<string, number>();
  readonly #pending = new Set<Promise<void>>();
  /** Label sets of `labman_endpoint_condition` currently set, per endpoint. */
  readonly #conditionSeries = new Map<
    string,
    { endpoint: string; kind: string; condition: string }[]
  >();
  #started = false;
  #stopped = false;

  constructor(options: EndpointRegistryOptions) {
    this.#apiKeys = options.apiKeys ?? {};
    this.#modelFilters = options.modelFilters ?? {};
    this.#health = options.health;
    this.#random = options.random ?? Math.random;
    this.#policy = { ...options.health, random: this.#random };
    this.#metrics = options.metrics;
    this.#fetch = options.fetch;
    this.#clock = options.clock ?? systemClock;
    this.slugs = (options.localMode ?? true) ? new SlugTable() : new SlugTable([]);
    for (const config of options.endpoints) {
      if (this.#states.has(config.name)) {
        throw new TypeError(
          `Cannot build the endpoint registry: duplicate endpoint name "${config.name}"`,
        );
      }
      this.#states.set(
        config.name,
        new EndpointState(config, this.#apiKeys[config.name], this.#modelFilters),
      );
    }
    this.router = new LeastOutstandingRouter({
      endpoints: () => this.#states.values(),
      slugs: this.slugs,
      queueMax: options.proxy.queue_max,
      queueTimeoutMs: options.proxy.queue_timeout_ms,
      clock: this.#clock,
      onOutcome: (endpoint, outcome) => this.#passive(endpoint, outcome),
      ...(this.#metrics ? { metrics: this.#metrics } : {}),
      unavailableRetryAfterS: Math.max(1, Math.ceil(options.health.interval_s)),
      modelCreated: (model) => this.#firstSeen.get(model) ?? 0,
    });
    for (const s of this.#states.values()) this.#publish(s);
  }

  /**
   * Probes every endpoint once, concurrently, and resolves when all answered (or failed); then
   * each endpoint is re-checked on its own jittered schedule until {@linkcode stop}.
   */
  async start(): Promise<void> {
    if (this.#started || this.#stopped) return;
    this.#started = true;
    await Promise.all([...this.#states.values()].map((s) => this.#track(this.#check(s))));
  }

  /**
   * Clears every timer, aborts running probes and stops routing (health is no longer tracked):
   * new and queued requests get 503; leases already granted can still be released.
   */
  stop(): Promise<void> {
    this.#stopped = true;
    for (const s of this.#states.values()) this.#detach(s, false);
    this.router.setAccepting(false, "node is shutting down");
    this.router.close();
    return Promise.all([...this.#pending]).then(() => {});
  }

  /**
   * Applies a reloaded endpoint list. Endpoints whose `base_url` and key are unchanged keep
   * their health and in-flight count (new limits and filters apply at once); others start fresh
   * and are probed immediately.
   */
  reconfigure(options: ReconfigureOptions): ReconfigureResult {
    const result: ReconfigureResult = {
      added: [],
      removed: [],
      updated: [],
      replaced: [],
      unchanged: [],
    };
    const names = new Set<string>();
    for (const c of options.endpoints) {
      if (names.has(c.name)) {
        throw new TypeError(
          `Cannot reconfigure the endpoint registry: duplicate endpoint name "${c.name}"`,
        );
      }
      names.add(c.name);
    }
    if (options.apiKeys) this.#apiKeys = options.apiKeys;
    if (options.modelFilters) this.#modelFilters = options.modelFilters;
    if (options.health) {
      this.#health = options.health;
      this.#policy = { ...options.health, random: this.#random };
    }
    this.router.configure({
      ...(options.proxy
        ? { queueMax: options.proxy.queue_max, queueTimeoutMs: options.proxy.queue_timeout_ms }
        : {}),
      unavailableRetryAfterS: Math.max(1, Math.ceil(this.#health.interval_s)),
    });

    const next = new Map<string, EndpointState>();
    const fresh: EndpointState[] = [];
    for (const c of options.endpoints) {
      const old = this.#states.get(c.name);
      const key = this.#apiKeys[c.name];
      if (
        old && old.baseUrl === c.base_url.replace(/\/+$/, "") && old.apiKey === key &&
        old.kind === (c.kind ?? "auto")
      ) {
        (old.applyLimits(c, this.#modelFilters) ? result.updated : result.unchanged).push(c.name);
        next.set(c.name, old);
        continue;
      }
      if (old) {
        // Same name: the gauges carry over to the new state, so keep their labels.
        this.#detach(old, false);
        result.replaced.push(c.name);
      } else {
        result.added.push(c.name);
      }
      const s = new EndpointState(c, key, this.#modelFilters);
      next.set(c.name, s);
      fresh.push(s);
    }
    for (const [name, old] of this.#states) {
      if (next.has(name)) continue;
      this.#detach(old, true);
      result.removed.push(name);
    }
    this.#states = next;
    for (const s of next.values()) this.#publish(s);
    if (
      result.added.length + result.removed.length + result.replaced.length + result.updated.length
    ) {
      log.info("endpoints reconfigured: {summary}", { summary: result });
    }
    if (this.#started && !this.#stopped) {
      for (const s of fresh) void this.#track(this.#check(s));
    }
    this.router.pump();
    return result;
  }

  /** Per-endpoint status, config order. Carries no URL or key (minimal heartbeat metadata). */
  snapshot(): EndpointStatus[] {
    return [...this.#states.values()].map((s) => ({
      name: s.name,
      healthy: s.healthy,
      status: s.health.status,
      models: [...s.models],
      in_flight: s.inFlight,
      max_concurrent: s.reportedMax ?? null,
      last_error: s.lastError,
      last_checked: s.lastChecked === null ? null : new Date(s.lastChecked).toISOString(),
      kind: s.kind === "auto" ? s.detected ?? null : s.kind,
      condition: s.condition,
      capacity: s.capacity ?? null,
    }));
  }

  toNodeCapabilities(): NodeCapabilities {
    const models = new Set<string>();
    let sum: number | null = 0;
    for (const s of this.#states.values()) {
      if (s.healthy) { for (const m of s.models) models.add(m); }
      const max = s.reportedMax;
      sum = sum === null || max === undefined ? null : sum + max;
    }
    return {
      models: [...models].sort(),
      endpoint_count: this.#states.size,
      max_concurrent_requests: sum,
    };
  }

  /** Runs one active check now (also used by tests and `labman doctor`-style callers). */
  checkNow(name: string): Promise<void> {
    const s = this.#states.get(name);
    if (!s) {
      return Promise.reject(new RangeError(`Cannot check endpoint "${name}": not configured`));
    }
    return this.#track(this.#check(s));
  }

  #track(p: Promise<void>): Promise<void> {
    this.#pending.add(p);
    return p.finally(() => this.#pending.delete(p));
  }

  async #check(s: EndpointState): Promise<void> {
    if (this.#stopped || s.detached || s.probe) return;
    if (s.timer !== undefined) {
      this.#clock.clearTimeout(s.timer);
      s.timer = undefined;
    }
    const controller = new AbortController();
    s.probe = controller;
    let result: EndpointCheck;
    try {
      const options: CheckOptions = {
        name: s.name,
        beforeCapacity: () => (s.inFlightAtCheck = s.inFlight),
        timeoutMs: this.#health.timeout_ms,
        signal: controller.signal,
        ...(s.apiKey !== undefined ? { apiKey: s.apiKey } : {}),
        ...(this.#fetch ? { fetch: this.#fetch } : {}),
      };
      s.inFlightAtCheck = s.inFlight;
      result = await checkEndpoint(s.baseUrl, s.effectiveKind, options);
      // Fingerprint an undetected "auto" endpoint once something answers HTTP there (a
      // refused or silent port costs one request per check, not a dozen).
      if (s.kind === "auto" && s.detected === undefined && answered(result)) {
        await this.#detect(s, controller.signal);
        if (s.detected !== undefined && s.detected !== "openai" && !controller.signal.aborted) {
          result = await checkEndpoint(s.baseUrl, s.detected, options);
        }
      }
    } catch (err) {
      // checkEndpoint classifies failures itself; this is a bug guard, not a code path.
      result = { ok: false, condition: "down", error: { kind: "network", message: String(err) } };
    } finally {
      s.probe = undefined;
    }
    if (this.#stopped || s.detached) return;
    const wasCondition = s.condition;
    s.condition = result.condition;
    s.capacity = result.ok ? result.capacity : undefined;
    if (wasCondition !== result.condition && (wasCondition !== null || !result.ok)) {
      // Full ↔ ready can flip every few hundred ms under load: the metric shows it, the log
      // keeps to debug. Loading and down are rare and worth a line.
      const busy = (c: EndpointCondition | null) => c === "ready" || c === "overloaded";
      const level = busy(wasCondition) && busy(result.condition) ? "debug" : "info";
      log[level]("endpoint {endpoint} is {condition}", {
        endpoint: s.name,
        condition: result.condition,
        from: wasCondition ?? "unknown",
      });
    }
    s.lastChecked = this.#clock.wallNow();
    if (result.ok) {
      const before = [...s.models];
      s.discovered = result.models;
      s.models = new Set(result.models.filter(s.keep));
      s.lastError = null;
      const now = Math.floor(this.#clock.wallNow() / 1000);
      for (const m of s.models) if (!this.#firstSeen.has(m)) this.#firstSeen.set(m, now);
      if (!sameList(before, [...s.models]) && s.healthy) {
        log.info("endpoint {endpoint} models changed: {models}", {
          endpoint: s.name,
          models: [...s.models],
        });
      }
    } else {
      s.lastError = result.error.message;
      log.debug("endpoint {endpoint} check failed: {error}", {
        endpoint: s.name,
        error: s.lastError,
      });
    }
    let delayMs = this.#apply(s, result.ok ? "success" : "failure");
    // Down: it may be another server when it comes back.
    if (result.condition === "down" && !s.healthy && s.kind === "auto") s.detected = undefined;
    // Loading ends on its own, soon: no exponential backoff. Full ends when a slot frees.
    if (result.condition === "loading") delayMs = Math.min(delayMs, this.#health.interval_s * 1000);
    if (result.condition === "overloaded") delayMs = Math.min(delayMs, FULL_RECHECK_MS);
    this.#schedule(s, delayMs);
    this.router.pump();
  }

  /** Fingerprints an "auto" endpoint; leaves it undetected (generic checks) when unsure. */
  async #detect(s: EndpointState, signal: AbortSignal): Promise<void> {
    const fp = await identifyServer(serverRoot(s.baseUrl), {
      timeoutMs: this.#health.timeout_ms,
      signal,
      ...(s.apiKey !== undefined ? { apiKey: s.apiKey } : {}),
      ...(this.#fetch ? { fetch: this.#fetch } : {}),
    });
    if (!fp || signal.aborted) return;
    s.detected = fp.kind;
    log.info("endpoint {endpoint} is a {server} ({evidence})", {
      endpoint: s.name,
      server: dialectOf(fp.kind).label,
      evidence: fp.evidence,
      kind: fp.kind,
    });
  }

  #schedule(s: EndpointState, delayMs: number): void {
    if (this.#stopped || s.detached) return;
    if (s.timer !== undefined) this.#clock.clearTimeout(s.timer);
    s.timer = this.#clock.setTimeout(() => {
      s.timer = undefined;
      void this.#track(this.#check(s));
    }, delayMs);
  }

  /** Feeds one event to the state machine, logs a transition once. Returns the next delay. */
  #apply(s: EndpointState, event: HealthEvent): number {
    const step = nextHealth(s.health, event, this.#policy);
    s.health = step.state;
    if (step.transition) {
      const { from, to } = step.transition;
      if (to === "healthy") {
        log.info("endpoint {endpoint} is healthy ({count} models)", {
          endpoint: s.name,
          count: s.models.size,
          from,
        });
      } else {
        log.warn("endpoint {endpoint} is unhealthy: {error}", {
          endpoint: s.name,
          error: s.lastError ?? "",
          from,
        });
      }
    }
    this.#publish(s);
    return step.delayMs;
  }

  /** Passive health: a failed connect while proxying counts as a failed check. */
  #passive(endpoint: RouteEndpoint, outcome: LeaseOutcome): void {
    if (outcome !== "connect_error" || this.#stopped) return;
    const s = this.#states.get(endpoint.name);
    if (!s || s !== endpoint) return;
    s.lastError = `Cannot connect to endpoint "${s.name}" at ${s.baseUrl} while proxying a request`;
    this.#apply(s, "failure");
  }

  #detach(s: EndpointState, forget: boolean): void {
    s.detached = true;
    if (s.timer !== undefined) this.#clock.clearTimeout(s.timer);
    s.timer = undefined;
    s.probe?.abort();
    if (forget && this.#metrics) {
      this.#metrics.endpointUp.remove({ endpoint: s.name });
      this.#metrics.endpointModels.remove({ endpoint: s.name });
      this.#metrics.inFlight.remove({ endpoint: s.name });
    }
    if (this.#metrics) this.#clearCondition(s.name);
  }

  /** Drops the endpoint's condition and server-load series (all label values). */
  #clearCondition(name: string): void {
    for (const series of this.#conditionSeries.get(name) ?? []) {
      this.#metrics?.endpointCondition.remove(series);
    }
    this.#conditionSeries.delete(name);
    for (const state of ["slots", "running", "waiting"]) {
      this.#metrics?.endpointServerLoad.remove({ endpoint: name, state });
    }
  }

  #publish(s: EndpointState): void {
    this.#metrics?.endpointUp.set({ endpoint: s.name }, s.healthy ? 1 : 0);
    this.#metrics?.endpointModels.set({ endpoint: s.name }, s.models.size);
    if (!this.#metrics || s.condition === null) return;
    const labels = { endpoint: s.name, kind: s.effectiveKind, condition: s.condition };
    const key = `${labels.kind}/${labels.condition}`;
    const current = this.#conditionSeries.get(s.name);
    if (current?.[0] && `${current[0].kind}/${current[0].condition}` !== key) {
      this.#clearCondition(s.name);
    }
    this.#conditionSeries.set(s.name, [labels]);
    this.#metrics.endpointCondition.set(labels, 1);
    const c = s.capacity;
    for (const state of ["slots", "running", "waiting"] as const) {
      const v = c?.[state];
      if (v === undefined) this.#metrics.endpointServerLoad.remove({ endpoint: s.name, state });
      else this.#metrics.endpointServerLoad.set({ endpoint: s.name, state }, v);
    }
  }
}
