/**
 * One-shot control-plane calls (after tailscale's `controlclient.Direct`): each method sends one
 * request, validates both sides with the v1 zod schemas and either returns the typed answer or
 * throws a {@linkcode ControlPlaneError}. Retrying is {@linkcode ControlSession}'s job.
 *
 * @module
 */
import type { z } from "zod";
import { readCappedText } from "../http/mod.ts";
import {
  API_PREFIX,
  formatIssues,
  type HeartbeatRequest,
  HeartbeatRequestSchema,
  type HeartbeatResponse,
  HeartbeatResponseSchema,
  type RegisterRequest,
  RegisterRequestSchema,
  type RegisterResponse,
  RegisterResponseSchema,
} from "./schema.ts";
import {
  ControlPlaneError,
  type ControlPlaneOperation,
  errorFromFetchFailure,
  errorFromResponse,
} from "./errors.ts";

export interface ControlPlaneClientOptions {
  /** `control_plane.base_url`, e.g. `https://cp.example.net` (a path prefix is kept). */
  baseUrl: string;
  /** The node token (bearer). Never logged, never part of an error message. */
  token: string;
  /** Per-request timeout. @default 10000 */
  timeoutMs?: number;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
  /** Sent as `User-Agent`. @default "labman" */
  userAgent?: string;
}

export interface CallOptions {
  /** Aborts the call (shutdown); combined with the timeout. */
  signal?: AbortSignal;
}

/** The calls {@linkcode ControlSession} needs; tests may pass a fake. */
export interface ControlPlaneApi {
  register(req: RegisterRequest, options?: CallOptions): Promise<RegisterResponse>;
  heartbeat(
    nodeId: string,
    req: HeartbeatRequest,
    options?: CallOptions,
  ): Promise<HeartbeatResponse>;
  deregister(nodeId: string, options?: CallOptions): Promise<void>;
}

/** Largest answer body read (a slug table of 100k rows fits). */
const MAX_RESPONSE_BYTES = 32 * 1024 * 1024;

export class ControlPlaneClient implements ControlPlaneApi {
  readonly baseUrl: string;
  #token: string;
  #timeoutMs: number;
  #fetch: typeof fetch;
  #userAgent: string;

  constructor(options: ControlPlaneClientOptions) {
    let url: URL;
    try {
      url = new URL(options.baseUrl);
    } catch {
      throw new TypeError(
        `Cannot create control-plane client: control_plane.base_url "${options.baseUrl}" is not a URL — use e.g. https://cp.example.net`,
      );
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new TypeError(
        `Cannot create control-plane client: control_plane.base_url must be http(s), got ${url.protocol}`,
      );
    }
    if (!options.token) {
      throw new TypeError(
        "Cannot create control-plane client: the node token is empty — set control_plane.node_token_file",
      );
    }
    this.baseUrl = url.href.replace(/\/+$/, "");
    this.#token = options.token;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.#userAgent = options.userAgent ?? "labman";
  }

  /** `POST /api/v1/nodes/register`. */
  async register(req: RegisterRequest, options: CallOptions = {}): Promise<RegisterResponse> {
    const body = checkRequest("register", RegisterRequestSchema, req);
    const text = await this.#call("register", "POST", "/nodes/register", body, options);
    return checkResponse("register", RegisterResponseSchema, text);
  }

  /** `POST /api/v1/nodes/{nodeId}/heartbeat`. A 404 throws kind `not_found` (register again). */
  async heartbeat(
    nodeId: string,
    req: HeartbeatRequest,
    options: CallOptions = {},
  ): Promise<HeartbeatResponse> {
    const body = checkRequest("heartbeat", HeartbeatRequestSchema, req);
    const path = `/nodes/${encodeURIComponent(nodeId)}/heartbeat`;
    const text = await this.#call("heartbeat", "POST", path, body, options);
    return checkResponse("heartbeat", HeartbeatResponseSchema, text);
  }

  /** `DELETE /api/v1/nodes/{nodeId}`. A node the control plane no longer knows counts as gone. */
  async deregister(nodeId: string, options: CallOptions = {}): Promise<void> {
    const path = `/nodes/${encodeURIComponent(nodeId)}`;
    try {
      await this.#call("deregister", "DELETE", path, undefined, options);
    } catch (err) {
      if (err instanceof ControlPlaneError && err.status === 404) return;
      throw err;
    }
  }

  async #call(
    op: ControlPlaneOperation,
    method: string,
    path: string,
    body: string | undefined,
    options: CallOptions,
  ): Promise<string> {
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    const headers: Record<string, string> = {
      "authorization": `Bearer ${this.#token}`,
      "accept": "application/json",
      "user-agent": this.#userAgent,
    };
    if (body !== undefined) headers["content-type"] = "application/json";
    let res: Response;
    try {
      res = await this.#fetch(`${this.baseUrl}${API_PREFIX}${path}`, {
        method,
        headers,
        body,
        signal,
        redirect: "error",
      });
    } catch (err) {
      if (options.signal?.aborted) throw options.signal.reason ?? err;
      throw errorFromFetchFailure(op, this.baseUrl, err, this.#timeoutMs);
    }
    let text: string;
    try {
      ({ text } = await readCappedText(res.body, MAX_RESPONSE_BYTES));
    } catch (err) {
      if (options.signal?.aborted) throw options.signal.reason ?? err;
      throw errorFromFetchFailure(op, this.baseUrl, err, this.#timeoutMs);
    }
    if (res.ok) return text;
    throw errorFromResponse(op, res.status, text, res.headers.get("retry-after"));
  }
}

/** A request that fails its own schema is a labman bug: report it, never send it. */
function checkRequest<T>(op: ControlPlaneOperation, schema: z.ZodType<T>, req: T): string {
  const parsed = schema.safeParse(req);
  if (!parsed.success) {
    throw new ControlPlaneError(
      `Cannot ${op}: the request labman built is invalid (${
        formatIssues(parsed.error)
      }) — this is a labman bug; please report it`,
      { kind: "fatal", cause: parsed.error },
    );
  }
  return JSON.stringify(parsed.data);
}

function checkResponse<T>(op: ControlPlaneOperation, schema: z.ZodType<T>, text: string): T {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ControlPlaneError(
      `Cannot ${op}: the control plane answered 200 with a body that is not JSON — check control_plane.base_url (is it the control plane's API?)`,
      { kind: "fatal", status: 200, cause: err },
    );
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    throw new ControlPlaneError(
      `Cannot ${op}: the control plane's answer does not match protocol v1 (${
        formatIssues(parsed.error)
      }) — check that the control plane supports /api/v1`,
      { kind: "fatal", status: 200, cause: parsed.error },
    );
  }
  return parsed.data;
}
