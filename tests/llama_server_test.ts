/**
 * labman in front of a real inference server: llama.cpp's `llama-server` (built from the
 * llama-cpp-python sdist by .ci/llama-server.sh) on a tiny random-weight GGUF written here.
 * labmand runs as operators run it; clients are the official `openai` SDK and `labman`.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import OpenAI from "openai";
import { startLabmand, taskFlags, testControlPlanePeer } from "./helpers/labmand_process.ts";
import { freePort, until } from "./helpers/netns.ts";
import { startReferenceControlPlane } from "../lib/refcp/mod.ts";
import { llamaSkipReason, makeTinyModel, startLlamaServer } from "./fixtures/llama/llama_server.ts";
import { makeTestDir } from "./helpers/test_dirs.ts";

const skip = llamaSkipReason();
if (skip) console.log(`llama_server_test: skipped — ${skip}`);

const LABMAN = fileURLToPath(new URL("../labman/main.ts", import.meta.url));

async function config(endpoints: { name: string; url: string; extra?: string }[]) {
  const dir = await makeTestDir({ prefix: "labman-llama-" });
  const port = freePort();
  const admin = freePort();
  const path = `${dir}/labman.toml`;
  await Deno.writeTextFile(
    path,
    `[wireguard]
mode = "off"

[proxy]
listen_port = ${port}
queue_max = 8
queue_timeout_ms = 30000

[admin]
listen_port = ${admin}

[logging]
level = "info"
format = "json"

[health]
interval_s = 0.5
timeout_ms = 400
unhealthy_after = 2
healthy_after = 1
backoff_max_s = 1
` + endpoints.map((e) => `
[[endpoints]]
name = "${e.name}"
base_url = "${e.url}"
${e.extra ?? ""}
`
      ).join(""),
  );
  return { dir, path };
}

function sdk(baseURL: string): OpenAI {
  return new OpenAI({ baseURL, apiKey: "x", maxRetries: 0, timeout: 30_000 });
}

interface Slot {
  id: number;
  is_processing: boolean;
  next_token?: { n_decoded?: number }[];
}

async function slots(root: string): Promise<Slot[]> {
  return await (await fetch(`${root}/slots`)).json();
}

async function llamaMetric(root: string, name: string): Promise<number> {
  const text = await (await fetch(`${root}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return line === undefined ? NaN : Number(line.split(" ")[1]);
}

async function adminMetric(admin: string, name: string): Promise<number> {
  const text = await (await fetch(`${admin}/metrics`)).text();
  let sum = 0;
  for (const l of text.split("\n")) {
    if (l.startsWith(`${name} `) || l.startsWith(`${name}{`)) sum += Number(l.split(" ").at(-1));
  }
  return sum;
}

/** A long streamed chat straight to `url` (not through labman), until `stop()`. */
function longStream(url: string, maxTokens: number) {
  const controller = new AbortController();
  const done = fetch(`${url}/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      model: "tiny",
      stream: true,
      max_tokens: maxTokens,
      messages: [{ role: "user", content: "write for a long time" }],
    }),
    signal: controller.signal,
  }).then(async (r) => {
    for await (const _ of r.body!) { /* keep reading until aborted */ }
  }).catch(() => {});
  return {
    async stop() {
      controller.abort();
      await done;
    },
  };
}

Deno.test({
  name: "llama-server: labman discover fingerprints the real server and lists its model",
  ignore: skip !== undefined,
  async fn() {
    const dir = await makeTestDir({ prefix: "labman-llama-" });
    try {
      await using llama = await startLlamaServer({ model: await makeTinyModel(dir) });
      const r = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          ...await taskFlags("labman"),
          LABMAN,
          "discover",
          "--json",
          "--ports",
          String(llama.port),
        ],
        stdout: "piped",
        stderr: "piped",
        stdin: "null",
      }).output();
      const out = JSON.parse(new TextDecoder().decode(r.stdout));
      assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
      assert.equal(out.servers.length, 1);
      const [s] = out.servers;
      assert.equal(s.kind, "llamacpp");
      assert.deepEqual(s.models, ["tiny"]);
      assert.match(s.version, /^b\d+-[0-9a-f]+$/, "build_info from /props");
      assert.equal(s.base_url, llama.url);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "llama-server through labmand: models, chat, completions and embeddings, streamed and not",
  ignore: skip !== undefined,
  async fn() {
    const dir = await makeTestDir({ prefix: "labman-llama-" });
    const cfg = await config([]);
    try {
      await using llama = await startLlamaServer({
        model: await makeTinyModel(dir),
        embeddings: true,
      });
      await Deno.writeTextFile(
        cfg.path,
        (await Deno.readTextFile(cfg.path)) +
          `\n[[endpoints]]\nname = "llama"\nbase_url = "${llama.url}"\n`,
      );
      await using labmand = await startLabmand(cfg.path);
      const detected = await labmand.waitForLog((l) =>
        l.logger === "labman.registry" && String(l.message).includes("llama.cpp server")
      );
      assert.equal((detected.properties as Record<string, string>).kind, "llamacpp");
      const client = sdk(labmand.proxyUrl);
      await until(async () => (await client.models.list()).data.length > 0, "models listed");
      assert.deepEqual((await client.models.list()).data.map((m) => m.id), ["tiny"]);

      const chat = await client.chat.completions.create({
        model: "tiny",
        max_tokens: 8,
        temperature: 0,
        messages: [{ role: "user", content: "hello there" }],
      });
      assert.equal(chat.object, "chat.completion");
      assert.equal(chat.model, "tiny");
      assert.equal(chat.choices[0]!.finish_reason, "length");
      assert.match(chat.choices[0]!.message.content!, /^[a-z ]+$/);
      assert.equal(chat.usage!.completion_tokens, 8);

      const stream = await client.chat.completions.create({
        model: "tiny",
        max_tokens: 12,
        temperature: 0,
        stream: true,
        stream_options: { include_usage: true },
        messages: [{ role: "user", content: "hello there" }],
      });
      let text = "";
      let finish: string | null = null;
      let usage: OpenAI.CompletionUsage | undefined;
      let chunks = 0;
      for await (const c of stream) {
        chunks++;
        text += c.choices[0]?.delta.content ?? "";
        finish = c.choices[0]?.finish_reason ?? finish;
        if (c.usage) usage = c.usage;
      }
      assert.ok(chunks >= 12, `one chunk per token at least, got ${chunks}`);
      assert.equal(finish, "length");
      assert.equal(usage?.completion_tokens, 12, "the include_usage chunk made it through");
      const greedy = await client.chat.completions.create({
        model: "tiny",
        max_tokens: 12,
        temperature: 0,
        messages: [{ role: "user", content: "hello there" }],
      });
      assert.equal(text, greedy.choices[0]!.message.content, "greedy: streamed = not streamed");

      const stopped = await client.chat.completions.create({
        model: "tiny",
        max_tokens: 64,
        temperature: 0,
        stop: [greedy.choices[0]!.message.content!.slice(2, 4)],
        messages: [{ role: "user", content: "hello there" }],
      });
      assert.equal(stopped.choices[0]!.finish_reason, "stop");

      const completion = await client.completions.create({
        model: "tiny",
        prompt: "the quick brown fox",
        max_tokens: 6,
        temperature: 0,
      });
      assert.equal(completion.choices[0]!.finish_reason, "length");
      assert.equal(completion.usage!.completion_tokens, 6);
      const cstream = await client.completions.create({
        model: "tiny",
        prompt: "the quick brown fox",
        max_tokens: 6,
        temperature: 0,
        stream: true,
      });
      let ctext = "";
      for await (const c of cstream) ctext += c.choices[0]?.text ?? "";
      assert.equal(ctext, completion.choices[0]!.text);

      const emb = await client.embeddings.create({ model: "tiny", input: ["alpha", "beta"] });
      assert.equal(emb.data.length, 2);
      for (const d of emb.data) {
        assert.equal(d.embedding.length, 64, "n_embd of the tiny model");
        const norm = Math.sqrt(d.embedding.reduce((s, x) => s + x * x, 0));
        assert.ok(Math.abs(norm - 1) < 1e-3, `L2-normalised, got ${norm}`);
      }
      const b64 = await client.embeddings.create({
        model: "tiny",
        input: "alpha",
        encoding_format: "base64",
      });
      // Asked for explicitly, base64 comes back as the string: little-endian float32s.
      const raw = Uint8Array.from(
        atob(b64.data[0]!.embedding as unknown as string),
        (c) => c.charCodeAt(0),
      );
      const vector = [...new Float32Array(raw.buffer)];
      assert.equal(vector.length, 64);
      const single = await client.embeddings.create({ model: "tiny", input: "alpha" });
      const diff = Math.max(...vector.map((x, i) => Math.abs(x - single.data[0]!.embedding[i]!)));
      assert.ok(diff < 1e-4, `base64 and float vectors differ by ${diff}`);

      // The server's own errors come back as OpenAI errors, without its address.
      const err = await client.chat.completions.create({
        model: "tiny",
        max_tokens: 4,
        messages: [{ role: "user", content: "word ".repeat(400) }],
      }).catch((e) => e);
      assert.ok(err instanceof OpenAI.APIError, String(err));
      assert.equal(err.status, 400);
      assert.doesNotMatch(JSON.stringify(err.error), new RegExp(String(llama.port)));
    } finally {
      await Deno.remove(dir, { recursive: true });
      await Deno.remove(cfg.dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "llama-server through labmand: a client that goes away frees the server's slot",
  ignore: skip !== undefined,
  async fn() {
    const dir = await makeTestDir({ prefix: "labman-llama-" });
    try {
      // A long context so one generation keeps its slot busy for seconds unless cancelled.
      await using llama = await startLlamaServer({
        model: await makeTinyModel(dir, { ctx: 8192 }),
        ctx: 16384,
        slots: 2,
      });
      const cfg = await config([{ name: "llama", url: llama.url, extra: `kind = "llamacpp"` }]);
      try {
        await using labmand = await startLabmand(cfg.path);
        const client = sdk(labmand.proxyUrl);
        await until(async () => (await client.models.list()).data.length > 0, "models listed");
        const controller = new AbortController();
        const stream = await client.chat.completions.create({
          model: "tiny",
          max_tokens: 6000,
          stream: true,
          messages: [{ role: "user", content: "go on" }],
        }, { signal: controller.signal });
        let seen = 0;
        try {
          for await (const _ of stream) {
            if (++seen === 20) controller.abort();
          }
        } catch (e) {
          assert.ok(e instanceof OpenAI.APIUserAbortError, String(e));
        }
        assert.equal(seen, 20);
        await until(
          async () => (await slots(llama.root)).every((s) => !s.is_processing),
          "llama-server to free the slot",
          5000,
        );
        const decoded = (await slots(llama.root)).map((s) => s.next_token?.[0]?.n_decoded ?? 0);
        assert.ok(Math.max(...decoded) < 6000, `generation stopped early: ${decoded}`);
        assert.match(llama.log(), /cancel/i, "the server logged the cancellation");
      } finally {
        await Deno.remove(cfg.dir, { recursive: true });
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "llama-server through labmand: capacity from /slots — nothing is sent while the server is full",
  ignore: skip !== undefined,
  async fn() {
    const dir = await makeTestDir({ prefix: "labman-llama-" });
    try {
      // One slot. llama-server would queue a second request itself (FIFO, never 503), where
      // no other endpoint could take it; labman must keep it in its own queue instead.
      await using llama = await startLlamaServer({
        model: await makeTinyModel(dir, { ctx: 8192 }),
        ctx: 8192,
        slots: 1,
      });
      const cfg = await config([{ name: "llama", url: llama.url }]);
      try {
        await using labmand = await startLabmand(cfg.path);
        const client = sdk(labmand.proxyUrl);
        await until(async () => (await client.models.list()).data.length > 0, "models listed");

        // 1) Its slot count caps labman: a second request through labman waits in labman.
        const first = longStream(labmand.proxyUrl, 6000);
        await until(async () => (await slots(llama.root))[0]!.is_processing, "slot busy");
        const second = client.chat.completions.create({
          model: "tiny",
          max_tokens: 4,
          messages: [{ role: "user", content: "hi" }],
        });
        await until(
          async () => (await adminMetric(labmand.adminUrl!, "labman_proxy_queue_depth")) === 1,
          "the second request queued in labman",
        );
        assert.equal(await llamaMetric(llama.root, "llamacpp:requests_deferred"), 0);
        await first.stop();
        assert.equal((await second).choices[0]!.finish_reason, "length");

        // 2) Another client fills the slot behind labman's back: labman sees it in /slots.
        const other = longStream(llama.url, 6000);
        await until(async () => (await slots(llama.root))[0]!.is_processing, "slot busy");
        await until(
          async () =>
            (await (await fetch(`${labmand.adminUrl}/metrics`)).text()).includes(
              'labman_endpoint_condition{endpoint="llama",kind="llamacpp",condition="overloaded"} 1',
            ),
          "labman to see the server full (labman_endpoint_condition)",
        );
        const third = client.chat.completions.create({
          model: "tiny",
          max_tokens: 4,
          messages: [{ role: "user", content: "hi" }],
        });
        await until(
          async () => (await adminMetric(labmand.adminUrl!, "labman_proxy_queue_depth")) === 1,
          "the third request queued in labman",
        );
        assert.equal(await llamaMetric(llama.root, "llamacpp:requests_deferred"), 0);
        await other.stop();
        assert.equal((await third).choices[0]!.finish_reason, "length");
      } finally {
        await Deno.remove(cfg.dir, { recursive: true });
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "llama-server through labmand: with --no-slots, capacity comes from /props and /metrics",
  ignore: skip !== undefined,
  async fn() {
    const dir = await makeTestDir({ prefix: "labman-llama-" });
    try {
      await using llama = await startLlamaServer({
        model: await makeTinyModel(dir, { ctx: 8192 }),
        ctx: 8192,
        slots: 1,
        extraArgs: ["--no-slots"],
      });
      const off = await fetch(`${llama.root}/slots`);
      await off.body?.cancel();
      assert.equal(off.status, 501, "the /slots endpoint is really off");
      const cfg = await config([{ name: "llama", url: llama.url, extra: `kind = "llamacpp"` }]);
      try {
        await using labmand = await startLabmand(cfg.path);
        const client = sdk(labmand.proxyUrl);
        await until(async () => (await client.models.list()).data.length > 0, "models listed");
        const other = longStream(llama.url, 6000);
        try {
          await until(
            async () => (await llamaMetric(llama.root, "llamacpp:requests_processing")) === 1,
            "the server busy",
          );
          await until(async () => {
            const text = await (await fetch(`${labmand.adminUrl}/metrics`)).text();
            return text.includes(
              'labman_endpoint_condition{endpoint="llama",kind="llamacpp",condition="overloaded"} 1',
            ) && text.includes('labman_endpoint_server_requests{endpoint="llama",state="slots"} 1');
          }, "labman to read slots from /props and load from /metrics");
          const queued = client.chat.completions.create({
            model: "tiny",
            max_tokens: 4,
            messages: [{ role: "user", content: "hi" }],
          });
          await until(
            async () => (await adminMetric(labmand.adminUrl!, "labman_proxy_queue_depth")) === 1,
            "the request queued in labman",
          );
          assert.equal(await llamaMetric(llama.root, "llamacpp:requests_deferred"), 0);
          await other.stop();
          assert.equal((await queued).choices[0]!.finish_reason, "length");
        } finally {
          await other.stop();
        }
      } finally {
        await Deno.remove(cfg.dir, { recursive: true });
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "llama-server behind labmand: the control plane hears the server's slot count as capacity",
  ignore: skip !== undefined,
  async fn() {
    const dir = await makeTestDir({ prefix: "labman-llama-" });
    try {
      await using llama = await startLlamaServer({ model: await makeTinyModel(dir), slots: 3 });
      await using cp = await startReferenceControlPlane({
        hostname: "127.0.0.1",
        port: 0,
        tokens: ["node-token"],
        wireguard: await testControlPlanePeer(),
        heartbeatIntervalS: 0.2,
      });
      const cfg = await config([{ name: "llama", url: llama.url }]);
      try {
        const text = await Deno.readTextFile(cfg.path);
        await Deno.writeTextFile(
          cfg.path,
          `[control_plane]\nbase_url = "${cp.url}"\nnode_token = "node-token"\n\n${text}`,
          { mode: 0o600 },
        );
        await Deno.chmod(cfg.path, 0o600);
        await using _labmand = await startLabmand(cfg.path);
        await until(() => cp.nodes().length === 1, "registration");
        const nodeId = cp.nodes()[0]!.nodeId;
        await until(
          () => cp.heartbeats(nodeId).some((h) => h.endpoints[0]?.max_concurrent === 3),
          "a heartbeat with the server's 3 slots",
        );
        await until(
          () => cp.nodes()[0]!.capabilities?.max_concurrent_requests === 3,
          "capabilities with 3 concurrent requests",
        );
        // Nothing about the LAN side leaks upstream: no address, no port, no URL.
        const upstream = JSON.stringify([cp.nodes(), cp.heartbeats(nodeId)]);
        assert.doesNotMatch(upstream, new RegExp(`127\\.0\\.0\\.1|:${llama.port}|http:`));
      } finally {
        await Deno.remove(cfg.dir, { recursive: true });
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
