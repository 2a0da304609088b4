/**
 * Messages between the supervisor and the data-plane Worker. The supervisor is trusted, so
 * these are plain TypeScript types carried by structured clone; anything from the network is
 * parsed only inside the Worker.
 *
 * @module
 */
import type { EndpointConfig, HealthConfig, LoggingConfig, ProxyConfig } from "../config/schema.ts";

export interface DataPlaneSettings {
  /** `reusePort` lets a successor Worker bind the same address during a reload handover. */
  bind: { hostname: string; port: number; reusePort?: boolean };
  endpoints: EndpointConfig[];
  /** Endpoint name → bearer key, read from `api_key_file` by the supervisor. */
  apiKeys: Record<string, string>;
  health: HealthConfig;
  proxy: ProxyConfig;
  logging: LoggingConfig;
  /** Local mode: the slug table is the identity over discovered models. */
  localMode: boolean;
  /** Account token usage per (tenant, slug, endpoint, model) for the relay. @default false */
  usage?: boolean;
}

export interface SlugEntryMessage {
  slug: string;
  tenant: string;
  endpoint?: string;
  model: string;
}

/** Supervisor → Worker. Requests carry an `id` the reply echoes. */
export type ToWorker =
  | { type: "init"; settings: DataPlaneSettings }
  | { type: "reconfigure"; id: number; settings: DataPlaneSettings }
  | { type: "slugs"; id: number; entries: SlugEntryMessage[] }
  | { type: "accepting"; id: number; accepting: boolean; reason?: string }
  | { type: "metrics"; id: number }
  | { type: "status"; id: number }
  | { type: "usage"; id: number }
  | { type: "shutdown"; id: number; graceMs: number };

export interface DataPlaneStatus {
  endpoints: {
    name: string;
    healthy: boolean;
    models: string[];
    in_flight: number;
    max_concurrent: number | null;
    last_error?: string;
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
  | { type: "reply"; id: number; ok: true; value?: unknown }
  | { type: "reply"; id: number; ok: false; error: string };
