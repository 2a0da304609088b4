/**
 * Messages between the supervisor and the data-plane Worker. The supervisor is trusted, so
 * these are plain TypeScript types carried by structured clone; anything from the network is
 * parsed only inside the Worker.
 *
 * @module
 */
import type { EndpointConfig, HealthConfig, LoggingConfig, ProxyConfig } from "../config/mod.ts";
import type { SlugEntry } from "../control/mod.ts";
import type { CompiledModelFilter } from "../registry/mod.ts";

export interface DataPlaneSettings {
  /** `reusePort` lets a successor Worker bind the same address during a reload handover. */
  bind: { hostname: string; port: number; reusePort?: boolean };
  endpoints: EndpointConfig[];
  /** Endpoint name → bearer key, read from `api_key_file` by the supervisor. */
  apiKeys: Record<string, string>;
  /**
   * Endpoint name → its model globs compiled by the supervisor (`modelFiltersFor`), so the
   * Worker loads no glob library. @default {}
   */
  modelFilters?: Record<string, CompiledModelFilter>;
  health: HealthConfig;
  proxy: ProxyConfig;
  logging: LoggingConfig;
  /** Local mode: the slug table is the identity over discovered models. */
  localMode: boolean;
  /**
   * A successor in a hand-over: grants no slot of a limited endpoint until told what the
   * predecessor holds (`reserve`), so `max_concurrent` holds across the two Workers.
   */
  successor?: boolean;
  /**
   * What the supervisor last told the Worker this one replaces (hand-over, restart), applied
   * before it binds: with SO_REUSEPORT the kernel sends it connections at once, and they must
   * meet the same slug table and accepting flag as its predecessor's.
   */
  replay?: {
    slugs: SlugEntry[] | null;
    accepting: { accepting: boolean; reason?: string } | null;
  };
  /** Account token usage per (tenant, slug, endpoint, model) for the relay. @default false */
  usage?: boolean;
}

/** What the pre-registration discovery pass needs: no address, it binds nothing. */
export type DiscoverySettings = Omit<DataPlaneSettings, "bind" | "successor" | "replay">;

/** Supervisor → Worker. Requests carry an `id` the reply echoes. */
export type ToWorker =
  | { type: "init"; settings: DataPlaneSettings }
  /** Pre-registration discovery pass (tunnel mode): probe once within `budgetMs`, bind nothing. */
  | { type: "discover"; settings: DiscoverySettings; budgetMs: number }
  | { type: "reconfigure"; id: number; settings: DataPlaneSettings }
  | { type: "slugs"; id: number; entries: SlugEntry[] }
  | { type: "accepting"; id: number; accepting: boolean; reason?: string }
  | { type: "metrics"; id: number }
  | { type: "status"; id: number }
  | { type: "shutdown"; id: number; graceMs: number }
  /** Hand-over: freeze the router at what it holds; the reply is the held slots per endpoint. */
  | { type: "retire"; id: number }
  /** Hand-over: slots per endpoint the predecessor(s) hold. */
  | { type: "reserve"; id: number; held: Record<string, number> }
  /** Hand-over: a predecessor gave up `slots` slots of `endpoint`. */
  | { type: "return"; id: number; endpoint: string; slots: number }
  /** Token usage since the last ask (the relay's `usage_report`). */
  | { type: "usage"; id: number };

export interface DataPlaneStatus {
  endpoints: {
    name: string;
    healthy: boolean;
    models: string[];
    in_flight: number;
    max_concurrent: number | null;
    last_error?: string;
    /** Configured or detected server kind; null until detected. */
    kind?: string | null;
    /** ready, overloaded, loading or down; null before the first check. */
    condition?: string | null;
    /** The server's own slot count and running requests, when it reports them. */
    server_slots?: number;
    server_running?: number;
  }[];
  requests: { total: number; errors: number; in_flight: number; queue_depth: number };
  capabilities: {
    models: string[];
    endpoint_count: number;
    max_concurrent_requests: number | null;
  };
}

/** Worker → supervisor. */
export type FromWorker =
  | { type: "ready"; addr: { hostname: string; port: number } }
  | { type: "fatal"; message: string }
  /** Answer to `discover`. */
  | { type: "discovered"; capabilities: DataPlaneStatus["capabilities"] }
  /** A retired Worker no longer needs these slots; the supervisor passes them on. */
  | { type: "slots_returned"; endpoint: string; slots: number }
  | { type: "reply"; id: number; ok: true; value?: unknown }
  | { type: "reply"; id: number; ok: false; error: string };
