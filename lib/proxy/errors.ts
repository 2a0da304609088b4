/**
 * Error replies in the OpenAI shape `{"error":{"message","type","param","code"}}`, so SDK clients
 * on the control plane surface them like any other API error. No stack traces, ever.
 *
 * @module
 */

/** The `error` object of an OpenAI error body. */
export interface OpenAIErrorBody {
  message: string;
  type: string;
  param: string | null;
  code: string | null;
}

export interface OpenAIErrorOptions {
  /** @default "invalid_request_error" for 4xx, "server_error" for 5xx */
  type?: string;
  /** @default null */
  param?: string | null;
  /** @default null */
  code?: string | null;
  /** Extra response headers (`Allow`, `Retry-After`, `x-request-id`). */
  headers?: Record<string, string>;
}

/** Builds a JSON error response in the OpenAI shape. */
export function openAIError(
  status: number,
  message: string,
  options: OpenAIErrorOptions = {},
): Response {
  const error: OpenAIErrorBody = {
    message,
    type: options.type ?? (status >= 500 ? "server_error" : "invalid_request_error"),
    param: options.param ?? null,
    code: options.code ?? null,
  };
  const headers = new Headers(options.headers);
  headers.set("content-type", "application/json");
  return new Response(JSON.stringify({ error }), { status, headers });
}

function retryHeaders(retryAfterS: number | undefined): Record<string, string> | undefined {
  if (retryAfterS === undefined) return undefined;
  return { "retry-after": String(Math.max(0, Math.ceil(retryAfterS))) };
}

/** 400: the body is not a JSON object. */
export function invalidJson(detail: string): Response {
  return openAIError(
    400,
    `Cannot parse request body: ${detail} — send a JSON object (Content-Type: application/json)`,
    { code: "invalid_json" },
  );
}

/** 400: no `model` field. */
export function missingModel(): Response {
  return openAIError(400, "Missing required parameter: 'model'.", {
    param: "model",
    code: "missing_required_parameter",
  });
}

/** 400: `model` is present but not a string. */
export function modelNotString(): Response {
  return openAIError(400, "Invalid type for 'model': expected a string.", {
    param: "model",
    code: "invalid_type",
  });
}

/** 404: no endpoint serves this slug. */
export function modelNotFound(message: string): Response {
  return openAIError(404, message, { param: "model", code: "model_not_found" });
}

/** 404: unknown path. */
export function unknownUrl(method: string, path: string): Response {
  return openAIError(404, `Invalid URL (${method} ${path})`, { code: "unknown_url" });
}

/** 405 with the `Allow` header listing the methods the path accepts. */
export function methodNotAllowed(method: string, path: string, allow: string): Response {
  return openAIError(405, `Method ${method} is not allowed on ${path}; use ${allow}.`, {
    code: "method_not_allowed",
    headers: { allow },
  });
}

/** 413: body larger than `proxy.max_body_bytes`. */
export function bodyTooLarge(maxBytes: number): Response {
  return openAIError(
    413,
    `Request body exceeds ${maxBytes} bytes (proxy.max_body_bytes); send a smaller request.`,
    { code: "request_too_large" },
  );
}

/** 408: the request body did not arrive within `proxy.body_timeout_ms`. */
export function requestTimeout(): Response {
  return openAIError(
    408,
    "Request body not received in time (proxy.body_timeout_ms); send the whole body promptly.",
    { code: "request_timeout" },
  );
}

/** 400: the request body's framing is broken (e.g. malformed chunked encoding). */
export function malformedBody(): Response {
  return openAIError(
    400,
    "Cannot read request body: malformed message framing — send a valid HTTP/1.1 body " +
      "(Content-Length or well-formed chunked encoding)",
    { code: "invalid_body" },
  );
}

/** 429: the router's queue is full or its deadline passed. */
export function queueFull(message: string, retryAfterS?: number): Response {
  return openAIError(429, message, {
    type: "rate_limit_error",
    code: "rate_limit_exceeded",
    headers: retryHeaders(retryAfterS ?? 1),
  });
}

/** 502: the endpoint could not be reached or broke the exchange. */
export function upstreamFailed(message: string): Response {
  return openAIError(502, message, { code: "upstream_error" });
}

/** 503: no healthy endpoint, or the node is draining. */
export function unavailable(message: string, retryAfterS?: number): Response {
  return openAIError(503, message, {
    code: "service_unavailable",
    headers: retryHeaders(retryAfterS ?? 1),
  });
}

/** 504: the endpoint did not answer in time. */
export function upstreamTimeout(message: string): Response {
  return openAIError(504, message, { code: "upstream_timeout" });
}

/** 500: a bug in labman; details go to the log, not to the client. */
export function internalError(): Response {
  return openAIError(500, "Internal error in the labman proxy; see the node's logs.", {
    code: "internal_error",
  });
}
