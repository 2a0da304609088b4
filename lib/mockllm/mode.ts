/**
 * The switchable behaviour of the mock LLM server: latency, failures, stream shape.
 *
 * Pure data and validation only; the server applies it per request.
 *
 * @module
 */
import { z } from "zod";

const ms = z.number().int().min(0).max(3_600_000);
const count = z.number().int().min(0).max(1_000_000);

/** Validates a full {@linkcode MockMode}; `.partial()` validates a patch. */
export const MockModeSchema = z.object({
  /** Delay before response headers on completion routes (chat, completions, embeddings). */
  latencyMs: ms,
  /** Delay before response headers on `GET /v1/models` (health checks). */
  healthLatencyMs: ms,
  /** Delay between SSE chunks (not before the first one). */
  tokenDelayMs: ms,
  /** Number of content chunks (tokens) per completion; `max_tokens` can lower it. */
  tokens: count,
  /** When set, completion routes answer with this status and an OpenAI-shaped error body. */
  failStatus: z.number().int().min(400).max(599).nullable(),
  /** `Retry-After` seconds sent with 429 and 503 answers. */
  retryAfterSeconds: count,
  /** Status of `GET /v1/models`; anything but 200 answers with an OpenAI-shaped error. */
  healthStatus: z.number().int().min(200).max(599),
  /** Abort the connection (no terminating chunk) after this many body chunks were sent. */
  dieAfterChunks: count.nullable(),
  /** Send an in-band `data: {"error":…}` event after this many SSE events, then `[DONE]`. */
  errorAfterChunks: count.nullable(),
  /** Completion routes never answer (until the client leaves or the mock closes). */
  hang: z.boolean(),
  /** `GET /v1/models` never answers. */
  healthHang: z.boolean(),
  /** Add `mock_index` and `mock_sent_at_ms` to every SSE event for end-to-end timing. */
  stampChunks: z.boolean(),
}).strict();

/** Behaviour of the mock; switch it with `setMode` or `POST /_mock/mode`. */
export type MockMode = z.infer<typeof MockModeSchema>;

/** A healthy, fast server: 16 tokens, no delays, no failures. */
export const DEFAULT_MOCK_MODE: Readonly<MockMode> = Object.freeze({
  latencyMs: 0,
  healthLatencyMs: 0,
  tokenDelayMs: 0,
  tokens: 16,
  failStatus: null,
  retryAfterSeconds: 1,
  healthStatus: 200,
  dieAfterChunks: null,
  errorAfterChunks: null,
  hang: false,
  healthHang: false,
  stampChunks: true,
});

const PatchSchema = MockModeSchema.partial();

/**
 * Validates an untrusted mode patch (from JSON or code).
 *
 * @throws {TypeError} naming the offending field, e.g. `mode.tokens: Too big… — fix the value`.
 */
export function parseModePatch(input: unknown): Partial<MockMode> {
  const result = PatchSchema.safeParse(input);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const path = ["mode", ...issue.path.map(String)].join(".");
    return `${path}: ${issue.message} — fix or remove it`;
  });
  throw new TypeError(`Cannot set mock mode: ${problems.join("; ")}`);
}

/** Returns a new mode with the validated patch applied. */
export function applyModePatch(mode: Readonly<MockMode>, patch: unknown): MockMode {
  const next = { ...mode };
  for (const [key, value] of Object.entries(parseModePatch(patch))) {
    // An explicit `undefined` means "leave as is", not "unset a required field".
    if (value !== undefined) Object.assign(next, { [key]: value });
  }
  return next;
}
