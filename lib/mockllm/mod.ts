/**
 * A mock OpenAI-compatible LLM server (vLLM / llama.cpp / Ollama stand-in) with switchable
 * latency, failures and broken streams, for `labman dev`, integration tests and benchmarks.
 *
 * ```ts
 * import OpenAI from "openai";
 * import { startMockLlm } from "./mod.ts";
 * await using mock = await startMockLlm({ mode: { tokens: 4 } });
 * const client = new OpenAI({ baseURL: mock.url, apiKey: "x", maxRetries: 0 });
 * const reply = await client.chat.completions.create({
 *   model: "mock-llama-3-8b",
 *   messages: [{ role: "user", content: "hello world" }],
 * });
 * // reply.choices[0].message.content === "hello world hello world"
 * mock.setMode({ failStatus: 503 }); // or POST {"failStatus":503} to <host>/_mock/mode
 * ```
 *
 * @module
 */
export {
  DEFAULT_MOCK_MODELS,
  type MockLlm,
  type MockLlmOptions,
  type MockLlmRequestRecord,
  type MockLlmStats,
  startMockLlm,
} from "./server.ts";
export {
  type DialectReply,
  type DialectState,
  listedModelIds,
  MOCK_DIALECTS,
  type MockDialect,
} from "./dialects.ts";
export { DEFAULT_MOCK_MODE, type MockMode, MockModeSchema, parseModePatch } from "./mode.ts";
export { embeddingVector, float32Base64, replyText, replyTokens } from "./content.ts";
export { mockLlmMain, type MockLlmMainOptions, parseMockLlmArgs } from "./cli.ts";
