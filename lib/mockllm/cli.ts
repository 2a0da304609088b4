/**
 * Standalone mock LLM: `deno run -A lib/mockllm/cli.ts --port 11434 --models a,b`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { type MockMode, parseModePatch } from "./mode.ts";
import type { ServerKind } from "../registry/mod.ts";
import { MOCK_DIALECTS } from "./dialects.ts";
import { type MockLlmOptions, startMockLlm } from "./server.ts";

const USAGE = `Usage: mockllm [options]
  --hostname H            bind address (default 127.0.0.1)
  --port N                port, 0 = ephemeral (default 0)
  --models a,b            model ids (default mock-llama-3-8b,mock-qwen-2.5-7b,mock-embed-small)
  --api-key K             require Authorization: Bearer K
  --latency-ms N          delay before response headers
  --token-delay-ms N      delay between SSE chunks
  --tokens N              content chunks per completion (default 16)
  --fail-status N         answer completion routes with this status
  --health-status N       status of GET /v1/models
  --die-after-chunks N    break streams after N chunks
  --hang                  never answer completion routes
  --fixed-body            precomputed chat answer (benchmark fast path)
  --embedding-dimensions N  (default 16)
  --dialect KIND          play a real server: ollama, vllm, llamacpp, sglang, tgi, lmstudio,
                          mistralrs, koboldcpp, localai (default: plain OpenAI)
  --slots N               requests served at once; past it the dialect queues or refuses
  --loading               start "loading the model" (POST false to /_mock/loading ends it)
Switch modes at run time: curl -d '{"latencyMs":50}' <url-without-/v1>/_mock/mode`;

const INT_FLAGS: Record<string, keyof MockMode> = {
  "latency-ms": "latencyMs",
  "token-delay-ms": "tokenDelayMs",
  "tokens": "tokens",
  "fail-status": "failStatus",
  "health-status": "healthStatus",
  "die-after-chunks": "dieAfterChunks",
};

function toInt(flag: string, value: string): number {
  if (!/^\d+$/.test(value)) {
    throw new TypeError(
      `Cannot use --${flag} "${value}": not a non-negative integer — fix the value`,
    );
  }
  return Number(value);
}

/**
 * Turns command-line arguments into server options, or `"help"`.
 *
 * @throws {TypeError} on unknown flags or bad values, with the flag named.
 */
export function parseMockLlmArgs(args: string[]): MockLlmOptions | "help" {
  const { values } = parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      hostname: { type: "string" },
      port: { type: "string" },
      models: { type: "string" },
      "api-key": { type: "string" },
      "latency-ms": { type: "string" },
      "token-delay-ms": { type: "string" },
      tokens: { type: "string" },
      "fail-status": { type: "string" },
      "health-status": { type: "string" },
      "die-after-chunks": { type: "string" },
      hang: { type: "boolean" },
      "fixed-body": { type: "boolean" },
      "embedding-dimensions": { type: "string" },
      dialect: { type: "string" },
      slots: { type: "string" },
      loading: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return "help";
  const mode: Record<string, unknown> = {};
  for (const [flag, key] of Object.entries(INT_FLAGS)) {
    const raw = values[flag as keyof typeof values];
    if (typeof raw === "string") mode[key] = toInt(flag, raw);
  }
  if (values.hang) mode.hang = true;
  const options: MockLlmOptions = { mode: parseModePatch(mode) };
  if (values.hostname !== undefined) options.hostname = values.hostname;
  if (values.port !== undefined) {
    const port = toInt("port", values.port);
    if (port > 65535) throw new TypeError(`Cannot use --port ${port}: above 65535 — pick 0..65535`);
    options.port = port;
  }
  if (values.models !== undefined) {
    const models = values.models.split(",").map((m) => m.trim()).filter((m) => m !== "");
    if (models.length === 0) {
      throw new TypeError("Cannot use --models: no model ids — pass e.g. --models a,b");
    }
    options.models = models;
  }
  if (values["api-key"] !== undefined) options.apiKey = values["api-key"];
  if (values["fixed-body"]) options.fixedBody = true;
  if (values["embedding-dimensions"] !== undefined) {
    options.embeddingDimensions = toInt("embedding-dimensions", values["embedding-dimensions"]);
  }
  if (values.dialect !== undefined) {
    if (!Object.hasOwn(MOCK_DIALECTS, values.dialect)) {
      throw new TypeError(
        `Cannot use --dialect "${values.dialect}": unknown server — use one of ${
          Object.keys(MOCK_DIALECTS).join(", ")
        }`,
      );
    }
    options.dialect = values.dialect as ServerKind;
  }
  if (values.slots !== undefined) options.slots = toInt("slots", values.slots);
  if (values.loading) options.loading = true;
  return options;
}

/** Where the CLI prints and what stops it; tests replace both. */
export interface MockLlmMainOptions {
  /** Stops the server when aborted. @default SIGINT or SIGTERM */
  signal?: AbortSignal;
  /** @default console.log */
  print?: (line: string) => void;
  /** @default console.error */
  printError?: (line: string) => void;
}

/**
 * Runs the mock until SIGINT/SIGTERM (or `signal`), printing its base URL first.
 * Resolves to the process exit code: 0 after a clean stop, 2 on bad arguments.
 */
export async function mockLlmMain(args: string[], io: MockLlmMainOptions = {}): Promise<number> {
  const print = io.print ?? console.log;
  const printError = io.printError ?? console.error;
  let options: MockLlmOptions | "help";
  try {
    options = parseMockLlmArgs(args);
  } catch (err) {
    printError(`mockllm: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (options === "help") {
    print(USAGE);
    return 0;
  }
  const mock = await startMockLlm(options);
  print(`mock LLM listening on ${mock.url} (models: ${mock.models.join(", ")})`);
  await new Promise<void>((resolve) => {
    if (io.signal) {
      if (io.signal.aborted) return resolve();
      io.signal.addEventListener("abort", () => resolve(), { once: true });
      return;
    }
    const stop = () => {
      Deno.removeSignalListener("SIGINT", stop);
      Deno.removeSignalListener("SIGTERM", stop);
      resolve();
    };
    Deno.addSignalListener("SIGINT", stop);
    Deno.addSignalListener("SIGTERM", stop);
  });
  await mock.close();
  return 0;
}

if (import.meta.main) Deno.exit(await mockLlmMain(Deno.args));
