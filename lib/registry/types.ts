/**
 * The contract between the registry/router and the proxy. The proxy sees only these types.
 *
 * @module
 */

/** Where one request goes: a concrete endpoint and the model id that endpoint understands. */
export interface EndpointTarget {
  /** Endpoint name from config. */
  readonly endpoint: string;
  /** Normalised base URL, always ending in `/v1` (no trailing slash). */
  readonly baseUrl: string;
  /** Model id to put in the upstream body (the slug is rewritten to this). */
  readonly model: string;
  /** Tenant from the slug table (`"local"` in local mode). */
  readonly tenant: string;
  /** Bearer key the endpoint wants, if configured. */
  readonly apiKey?: string;
}

/** A slot on an endpoint. `release()` is idempotent: the first call frees the slot. */
export interface Lease {
  readonly target: EndpointTarget;
  /** Monotonic ms the request waited in the queue before getting this lease. */
  readonly queuedMs: number;
  /** `outcome` feeds passive health: a connect failure counts against the endpoint. */
  release(outcome?: LeaseOutcome): void;
}

export type LeaseOutcome = "ok" | "connect_error" | "upstream_error" | "timeout" | "cancelled";

export type AcquireResult =
  | { ok: true; lease: Lease }
  | {
    ok: false;
    /** 404 unknown model, 429 queue full / queue deadline passed, 503 no healthy endpoint or draining. */
    status: 404 | 429 | 503;
    message: string;
    /** Seconds for a `Retry-After` header (429/503). */
    retryAfterS?: number;
  };

export interface AcquireOptions {
  /** Aborts waiting in the queue (client went away). */
  signal?: AbortSignal;
  /** Endpoint names to avoid (used for the single retry after a connect failure). */
  exclude?: ReadonlySet<string>;
}

/** One entry of `GET /v1/models` (OpenAI list format). */
export interface ModelEntry {
  id: string;
  object: "model";
  created: number;
  owned_by: string;
}

export interface Router {
  /** Picks an endpoint for a slug, waiting in the bounded queue when all are full. */
  acquire(slug: string, options?: AcquireOptions): Promise<AcquireResult>;
  /** Slugs currently routable (healthy endpoint serving the model). */
  listModels(): ModelEntry[];
  /**
   * Whether the slug is in the slug table or among discovered models, healthy or not. The proxy
   * uses it to keep client-chosen strings out of metric labels.
   */
  knows?(slug: string): boolean;
}
