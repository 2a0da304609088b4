/**
 * OpenAI-shaped error answers, as vLLM, llama.cpp and Ollama's OpenAI API send them.
 *
 * @module
 */

/** The JSON body every OpenAI-compatible server sends with a 4xx/5xx status. */
export interface OpenAiErrorBody {
  error: {
    message: string;
    type: string;
    param: string | null;
    code: string | null;
  };
}

/** A ready-to-send error: status, body and extra headers. */
export interface OpenAiError {
  status: number;
  body: OpenAiErrorBody;
  headers: Record<string, string>;
}

function error(
  status: number,
  message: string,
  type: string,
  param: string | null = null,
  code: string | null = null,
  headers: Record<string, string> = {},
): OpenAiError {
  return { status, body: { error: { message, type, param, code } }, headers };
}

/** 404 for a model the server does not serve, worded exactly like OpenAI. */
export function modelNotFound(model: string): OpenAiError {
  return error(
    404,
    `The model \`${model}\` does not exist.`,
    "invalid_request_error",
    "model",
    "model_not_found",
  );
}

/** 400 for a malformed request. */
export function badRequest(message: string, param: string | null = null): OpenAiError {
  return error(400, message, "invalid_request_error", param, null);
}

/** 401 for a missing or wrong bearer token. */
export function invalidApiKey(): OpenAiError {
  return error(
    401,
    "Incorrect API key provided. You can find your API key in your labman config.",
    "invalid_request_error",
    null,
    "invalid_api_key",
  );
}

/** 404 for a path the server does not route. */
export function unknownRoute(method: string, path: string): OpenAiError {
  return error(404, `Invalid URL (${method} ${path})`, "invalid_request_error");
}

/** 405 for a known path with the wrong method; `allow` lists the accepted ones. */
export function methodNotAllowed(method: string, path: string, allow: string): OpenAiError {
  return error(
    405,
    `Method ${method} is not allowed for ${path}; use ${allow}.`,
    "invalid_request_error",
    null,
    "method_not_allowed",
    { allow },
  );
}

/**
 * The error a real server sends for a given status, used by the `failStatus` mode.
 * 429 and 503 carry `Retry-After` like OpenAI and vLLM behind a load balancer.
 */
export function errorForStatus(status: number, retryAfterSeconds = 1): OpenAiError {
  const retry = { "retry-after": String(retryAfterSeconds) };
  switch (status) {
    case 400:
      return badRequest("Mock failure: the request was rejected (failStatus 400).");
    case 401:
      return invalidApiKey();
    case 403:
      return error(403, "Mock failure: forbidden (failStatus 403).", "permission_error");
    case 404:
      return error(
        404,
        "Mock failure: not found (failStatus 404).",
        "invalid_request_error",
        null,
        "not_found",
      );
    case 429:
      return error(
        429,
        "Rate limit reached for requests. Please try again later.",
        "requests",
        null,
        "rate_limit_exceeded",
        retry,
      );
    case 500:
      return error(
        500,
        "The server had an error while processing your request. Sorry about that!",
        "server_error",
      );
    case 503:
      return error(
        503,
        "The engine is currently overloaded, please try again later.",
        "server_error",
        null,
        null,
        retry,
      );
    default:
      return error(
        status,
        `Mock failure: status ${status}.`,
        status >= 500 ? "server_error" : "invalid_request_error",
      );
  }
}
