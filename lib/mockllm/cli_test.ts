import assert from "node:assert/strict";
import { mockLlmMain, parseMockLlmArgs } from "./cli.ts";

Deno.test("parseMockLlmArgs maps flags to options and mode", () => {
  const options = parseMockLlmArgs([
    "--port",
    "11434",
    "--models",
    "a, b,",
    "--latency-ms",
    "5",
    "--fail-status=503",
    "--hang",
    "--api-key",
    "k",
    "--fixed-body",
  ]);
  assert.notEqual(options, "help");
  if (options === "help") return;
  assert.equal(options.port, 11434);
  assert.deepEqual(options.models, ["a", "b"]);
  assert.equal(options.apiKey, "k");
  assert.equal(options.fixedBody, true);
  assert.deepEqual(options.mode, { latencyMs: 5, failStatus: 503, hang: true });
  assert.equal(parseMockLlmArgs(["-h"]), "help");
});

Deno.test("parseMockLlmArgs rejects bad values with the flag named", () => {
  assert.throws(() => parseMockLlmArgs(["--port", "x"]), /--port "x"/);
  assert.throws(() => parseMockLlmArgs(["--port", "70000"]), /--port 70000/);
  assert.throws(() => parseMockLlmArgs(["--fail-status", "200"]), /mode\.failStatus/);
  assert.throws(() => parseMockLlmArgs(["--models", ","]), /--models/);
  assert.throws(() => parseMockLlmArgs(["--nope"]));
});

Deno.test("mockLlmMain prints its URL, serves, and stops on abort", async () => {
  const ac = new AbortController();
  const lines: string[] = [];
  let announce!: (url: string) => void;
  const announced = new Promise<string>((resolve) => announce = resolve);
  const running = mockLlmMain(["--models", "a,b", "--latency-ms", "1"], {
    signal: ac.signal,
    print: (line) => {
      lines.push(line);
      const url = line.match(/http:\/\/\S+\/v1/)?.[0];
      if (url) announce(url);
    },
  });
  const url = await announced;
  const res = await fetch(`${url}/models`);
  assert.deepEqual((await res.json()).data.map((m: { id: string }) => m.id), ["a", "b"]);
  ac.abort();
  assert.equal(await running, 0);
  assert.match(lines[0], /^mock LLM listening on http:\/\/127\.0\.0\.1:\d+\/v1/);
});

Deno.test("mockLlmMain returns 2 and prints usage on bad arguments", async () => {
  const errors: string[] = [];
  assert.equal(await mockLlmMain(["--tokens=-3"], { printError: (l) => errors.push(l) }), 2);
  assert.match(errors[0], /--tokens "-3": not a non-negative integer[\s\S]*Usage:/);
});

Deno.test("mockllm CLI: --dialect, --slots and --loading", () => {
  const o = parseMockLlmArgs(["--dialect", "llamacpp", "--slots", "2", "--loading"]);
  assert.ok(o !== "help");
  assert.equal(o.dialect, "llamacpp");
  assert.equal(o.slots, 2);
  assert.equal(o.loading, true);
  assert.throws(
    () => parseMockLlmArgs(["--dialect", "gpt"]),
    /--dialect "gpt": unknown server — use one of/,
  );
});
