/**
 * The README's first command, run as a user would: `labman dev` prints how to call it, and
 * curl-style fetches and the openai SDK get real answers; Ctrl-C stops it cleanly.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import OpenAI from "openai";
import { taskFlags } from "./helpers/labmand_process.ts";
import { freePort, lineReader } from "./helpers/netns.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

Deno.test("labman dev: labmand + mock model server + reference control plane answer within seconds", async () => {
  const port = freePort(), admin = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...await taskFlags("dev"),
      `${ROOT}labman/main.ts`,
      "dev",
      "--port",
      String(port),
      "--admin-port",
      String(admin),
    ],
    stdout: "piped",
    stderr: "null",
    env: { NO_COLOR: "1" },
  }).spawn();
  const out = lineReader(child.stdout);
  try {
    let banner = "";
    for (let i = 0; i < 30 && !banner.includes("Ctrl-C"); i++) {
      banner += (await out.next(30_000)) + "\n";
    }
    const base = `http://127.0.0.1:${port}/v1`;
    assert.match(
      banner,
      new RegExp(`serving an OpenAI-compatible API at ${base.replaceAll(".", "\\.")}`),
    );
    assert.match(banner, /registered with a reference control plane at http:\/\/127\.0\.0\.1:\d+/);
    assert.match(banner, /curl http:\/\/127\.0\.0\.1:\d+\/v1\/models/);

    const deadline = Date.now() + 10_000;
    let ids: string[] = [];
    while (Date.now() < deadline && ids.length === 0) {
      const r = await fetch(`${base}/models`);
      ids = (await r.json()).data.map((m: { id: string }) => m.id);
      if (ids.length === 0) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(ids.includes("mock-llama-3-8b"), JSON.stringify(ids));
    const sdk = new OpenAI({ baseURL: base, apiKey: "unused", maxRetries: 0 });
    const reply = await sdk.chat.completions.create({
      model: "mock-llama-3-8b",
      messages: [{ role: "user", content: "Hello!" }],
    });
    assert.equal(reply.choices[0].finish_reason, "stop");
    const metrics = await (await fetch(`http://127.0.0.1:${admin}/metrics`)).text();
    assert.match(
      metrics,
      /labman_proxy_requests_total\{model="mock-llama-3-8b",endpoint="mock",status="200"\} 1/,
    );
    const ready = await fetch(`http://127.0.0.1:${admin}/readyz`);
    assert.equal(ready.status, 200, await ready.text());
    // The relay demo: the fake Portman registers, gets a preload_model and acks it.
    const relay: string[] = [];
    for (let i = 0; i < 40 && !relay.some((l) => /▲ to control plane ack/.test(l)); i++) {
      relay.push(await out.next(15_000));
    }
    assert.ok(relay.some((l) => /▲ to control plane register_agent\s+portman-dev/.test(l)));
    assert.ok(relay.some((l) => /▼ to Portman\s+preload_model/.test(l)), relay.join("\n"));
    assert.ok(relay.some((l) => /▲ to control plane ack\s+portman-dev \(re /.test(l)));
  } finally {
    child.kill("SIGINT");
    const status = await child.status;
    await out.done.catch(() => {});
    assert.equal(status.code, 0);
  }
});
