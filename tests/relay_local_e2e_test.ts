/**
 * The relay end to end in local mode: labmand runs as a real process (the `labmand` task's
 * permission flags), the reference control plane serves the relay on `/api/v1/ws`, and a test
 * Portman connects to `/agent` with the shared secret. This is roadmap stage 8's manual test,
 * automated, plus the hostile cases.
 */
import assert from "node:assert/strict";
import OpenAI from "openai";
import { startMockLlm } from "../lib/mockllm/mod.ts";
import type { Envelope } from "../lib/protocol/mod.ts";
import { makeEnvelope } from "../lib/protocol/mod.ts";
import { type ReferenceControlPlane, startReferenceControlPlane } from "../lib/refcp/mod.ts";
import { until } from "./helpers/netns.ts";
import { startLabmand, testControlPlanePeer } from "./helpers/labmand_process.ts";
import { connectPortman, up } from "./helpers/portman_client.ts";
import { makeTestDir } from "./helpers/test_dirs.ts";

async function startCp(): Promise<ReferenceControlPlane> {
  return await startReferenceControlPlane({
    hostname: "127.0.0.1",
    port: 0,
    tokens: ["good-token"],
    wireguard: await testControlPlanePeer(),
    heartbeatIntervalS: 0.5,
  });
}

async function config(cpUrl: string | null, mockUrl: string, portman = "", ttlS = 1) {
  const dir = await makeTestDir({ prefix: "labman-relay-" });
  const path = `${dir}/labman.toml`;
  // Three ports at once, held while picked, so they differ (freePort alone may repeat one).
  const held = [0, 1, 2].map(() => Deno.listen({ hostname: "127.0.0.1", port: 0 }));
  const [port, proxyPort, adminPort] = held.map((l) => (l.addr as Deno.NetAddr).port);
  for (const l of held) l.close();
  const secretFile = `${dir}/portman.secret`;
  await Deno.writeTextFile(
    path,
    `${
      cpUrl
        ? `[control_plane]
base_url = "${cpUrl}"
node_token = "good-token"
request_timeout_ms = 1000
retry_initial_ms = 100
retry_max_ms = 400
`
        : ""
    }
[wireguard]
mode = "off"

[proxy]
listen_port = ${proxyPort}

[admin]
listen_port = ${adminPort}

[portman]
listen_port = ${port}
secret_file = "${secretFile}"
directive_ttl_s = ${ttlS}
report_interval_s = 0.5
${portman}

[logging]
format = "json"

[health]
interval_s = 0.5
timeout_ms = 400

[[endpoints]]
name = "gpu0"
base_url = "${mockUrl}"
max_concurrent = 4
`,
  );
  await Deno.chmod(path, 0o600);
  return { path, dir, url: `ws://127.0.0.1:${port}/agent`, port, secretFile };
}

const secretOf = async (file: string) => (await Deno.readTextFile(file)).trim();
const directive = (kind: string, payload: Record<string, unknown>, agentId?: string): Envelope =>
  makeEnvelope(
    kind as "preload_model",
    payload as never,
    { direction: "down", ...(agentId ? { agent_id: agentId } : {}) },
  );

Deno.test("relay: register_agent and heartbeat reach the control plane; preload_model comes down and its ack goes back correlated", async () => {
  await using mock = await startMockLlm({ models: ["llama-3.1-8b"] });
  await using cp = await startCp();
  const cfg = await config(cp.url, mock.url);
  await using labmand = await startLabmand(cfg.path);
  await cp.relay.waitForConnections(1);
  const nodeId = cp.nodes()[0]!.nodeId;

  // The secret file labmand created is private to its owner.
  assert.equal((await Deno.stat(cfg.secretFile)).mode! & 0o777, 0o600);
  await using pm = await connectPortman(cfg.url, await secretOf(cfg.secretFile));
  const reg = up("register_agent", { agent_version: "0.3.1", hostname: "gpu-box" });
  pm.send(reg);
  const hb = up("heartbeat", { status: "ready", uptime_s: 12 });
  pm.send(hb);

  const gotReg = await cp.relay.waitFor((e) => e.msg_id === reg.msg_id);
  assert.equal(gotReg.kind, "register_agent");
  assert.equal(gotReg.agent_id, "portman-1");
  assert.equal(gotReg.site_id, nodeId, "labman stamps its node id as site_id");
  assert.equal(gotReg.direction, "up");
  const gotHb = await cp.relay.waitFor((e) => e.msg_id === hb.msg_id);
  assert.deepEqual(gotHb.payload, { status: "ready", uptime_s: 12 });

  // The control plane answers with a directive; Portman gets it over labman and acks it.
  const preload = directive("preload_model", { model: "llama-3.1-8b", priority: 5 }, "portman-1");
  assert.equal(cp.relay.send(preload), 1);
  const down = await pm.waitFor((e) => e.msg_id === preload.msg_id);
  assert.equal(down.kind, "preload_model");
  assert.equal(down.direction, "down");
  assert.deepEqual(down.payload, { model: "llama-3.1-8b", priority: 5 });

  pm.send(up("directive_progress", { state: "running", progress_pct: 40 }, {
    directive_id: preload.msg_id,
  }));
  const ack = up("ack", { status: "completed" }, { correlation_id: preload.msg_id });
  pm.send(ack);
  const gotAck = await cp.relay.waitFor((e) => e.kind === "ack" && e.msg_id === ack.msg_id);
  assert.equal(gotAck.correlation_id, preload.msg_id);
  assert.equal(gotAck.agent_id, "portman-1");
  const progress = await cp.relay.waitFor((e) => e.kind === "directive_progress");
  assert.equal(progress.directive_id, preload.msg_id);

  // labman's own capacity report: free slots per endpoint and model.
  const cap = await cp.relay.waitFor((e) => e.kind === "available_model_capacity");
  assert.equal(cap.agent_id, "labman");
  assert.deepEqual(
    (cap.payload.models as Record<string, unknown>[]).find((m) => m.model === "llama-3.1-8b"),
    { model: "llama-3.1-8b", endpoint: "gpu0", free_slots: 4, max_slots: 4, healthy: true },
  );

  // The relay's own metrics on the admin listener.
  const metrics = await (await fetch(`${labmand.adminUrl}/metrics`)).text();
  assert.match(metrics, /^labman_relay_agents_connected 1$/m);
  assert.match(metrics, /^labman_relay_upstream_connected 1$/m);
  assert.match(metrics, /^labman_relay_messages_total\{direction="up"\} [1-9]\d*$/m);
  assert.match(metrics, /^labman_relay_messages_total\{direction="down"\} [1-9]\d*$/m);

  // Portman goes away: the control plane is told, on the agent's behalf.
  await pm.close();
  const gone = await cp.relay.waitFor((e) =>
    e.kind === "heartbeat" && e.payload.status === "disconnected"
  );
  assert.equal(gone.agent_id, "portman-1");

  labmand.signal("SIGTERM");
  assert.equal(await labmand.exited(), 0);
});

Deno.test("relay: malformed, wrong-direction, unknown-kind, unregistered and oversize frames are answered with error", async () => {
  await using mock = await startMockLlm({ models: ["m"] });
  await using cp = await startCp();
  const cfg = await config(cp.url, mock.url, "max_frame_bytes = 4096");
  await using labmand = await startLabmand(cfg.path);
  await cp.relay.waitForConnections(1);
  await using pm = await connectPortman(cfg.url, await secretOf(cfg.secretFile));
  const codeOf = async (pred: (e: Envelope) => boolean) =>
    (await pm.waitFor((e) => e.kind === "error" && pred(e))).payload.code;

  pm.sendRaw("{not json");
  assert.equal(await codeOf(() => true), "INVALID_ENVELOPE");

  const early = up("heartbeat", { status: "ready" });
  pm.send(early);
  assert.equal(await codeOf((e) => e.correlation_id === early.msg_id), "NOT_REGISTERED");

  pm.send(up("register_agent", { agent_version: "1" }));
  const wrong = up("preload_model", { model: "m" });
  pm.send(wrong);
  assert.equal(await codeOf((e) => e.correlation_id === wrong.msg_id), "WRONG_DIRECTION");

  const downward = up("ack", {}, { direction: "down", correlation_id: "x" });
  pm.send(downward);
  assert.equal(await codeOf((e) => e.correlation_id === downward.msg_id), "WRONG_DIRECTION");

  const unknown = up("teleport", {});
  pm.send(unknown);
  assert.equal(await codeOf((e) => e.correlation_id === unknown.msg_id), "UNKNOWN_KIND");

  const bad = up("heartbeat", { status: "sleepy" });
  pm.send(bad);
  const badErr = await pm.waitFor((e) => e.kind === "error" && e.correlation_id === bad.msg_id);
  assert.equal(badErr.payload.code, "INVALID_PAYLOAD");
  assert.match(String(badErr.payload.message), /payload\.status/);

  const other = up("heartbeat", { status: "ready" }, { agent_id: "someone-else" });
  pm.send(other);
  assert.equal(await codeOf((e) => e.correlation_id === other.msg_id), "AGENT_MISMATCH");

  // None of the refused frames reached the control plane.
  for (const id of [early, wrong, downward, unknown, bad, other].map((e) => e.msg_id)) {
    assert.ok(!cp.relay.messages().some((m) => m.envelope.msg_id === id), id);
  }

  // Oversize: answered, then the connection is closed with 1009.
  pm.send(up("heartbeat", { status: "ready", pad: "x".repeat(5000) }));
  assert.equal(
    await codeOf((e) => String(e.payload.message).includes("exceeds")),
    "FRAME_TOO_LARGE",
  );
  assert.equal((await pm.closed).code, 1009);

  // The control plane's bad frames get the same treatment, back up the link.
  cp.relay.sendRaw(JSON.stringify(up("heartbeat", { status: "ready" }, { msg_id: "cp-wrong" })));
  const upErr = await cp.relay.waitFor((e) =>
    e.kind === "error" && e.correlation_id === "cp-wrong"
  );
  assert.equal(upErr.payload.code, "WRONG_DIRECTION");

  // The daemon is still serving.
  const models = await new OpenAI({ baseURL: labmand.proxyUrl, apiKey: "x" }).models.list();
  assert.deepEqual(models.data.map((m) => m.id), ["m"]);
});

Deno.test("relay: clients without the secret are refused; credential-less Portman only with the opt-in", async () => {
  await using mock = await startMockLlm({ models: ["m"] });
  const cfg = await config(null, mock.url);
  {
    await using labmand = await startLabmand(cfg.path);
    await assert.rejects(connectPortman(cfg.url, null));
    await assert.rejects(connectPortman(cfg.url, "0".repeat(64)));
    await assert.rejects(connectPortman(cfg.url.replace("/agent", "/observe"), null));
    // Another local user cannot read the secret: it is mode 0600, owned by labmand's user.
    const other = await new Deno.Command("setpriv", {
      args: ["--reuid=65534", "--regid=65534", "--clear-groups", "cat", cfg.secretFile],
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.notEqual(other.code, 0);
    assert.match(new TextDecoder().decode(other.stderr), /Permission denied/);
    // A process of another local user: cannot read the secret, and is refused without it.
    const script = `
      let read = "ok";
      try { await Deno.readTextFile(${JSON.stringify(cfg.secretFile)}); } catch { read = "denied"; }
      const c = await Deno.connect({ hostname: "127.0.0.1", port: ${cfg.port} });
      await c.write(new TextEncoder().encode("GET /agent HTTP/1.1\\r\\nHost: x\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\\r\\nSec-WebSocket-Version: 13\\r\\n\\r\\n"));
      const buf = new Uint8Array(256);
      const n = await c.read(buf);
      c.close();
      console.log(JSON.stringify({ read, status: new TextDecoder().decode(buf.subarray(0, n ?? 0)).split(" ")[1] }));
    `;
    const home = await Deno.makeTempDir({ prefix: "labman-nobody-" });
    await Deno.chmod(home, 0o777);
    const asNobody = await new Deno.Command("setpriv", {
      args: [
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        Deno.execPath(),
        "eval",
        "--no-prompt",
        script,
      ],
      env: { DENO_DIR: home, HOME: home, NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    await Deno.remove(home, { recursive: true });
    assert.ok(asNobody.success, new TextDecoder().decode(asNobody.stderr));
    assert.deepEqual(JSON.parse(new TextDecoder().decode(asNobody.stdout)), {
      read: "denied",
      status: "401",
    });
    assert.ok(
      labmand.logs.some((l) => String(l.message).includes("missing or wrong Portman secret")),
    );
    labmand.signal("SIGTERM");
    assert.equal(await labmand.exited(), 0);
  }
  const legacy = await config(null, mock.url, "allow_unauthenticated = true");
  await using labmand = await startLabmand(legacy.path);
  await labmand.waitForLog((l) => String(l.message).includes("allow_unauthenticated = true"));
  await using pm = await connectPortman(legacy.url, null);
  pm.send(up("register_agent", { agent_version: "legacy" }));
  // A wrong credential is still refused even with the opt-in.
  await assert.rejects(connectPortman(legacy.url, "wrong-secret-wrong-secret"));
  await using obs = await connectPortman(legacy.url.replace("/agent", "/observe"), null);
  obs.send({ command: "discover" });
  const agents = await obs.waitFor((e) => (e as unknown as { event?: string }).event === "agents");
  assert.equal(
    (agents as unknown as { agents: { agent_id: string }[] }).agents[0]?.agent_id,
    "portman-1",
  );
});

Deno.test("relay: directives for an absent Portman are held, then answered with AGENT_UNAVAILABLE; update_registry and drain are labman's own", async () => {
  await using mock = await startMockLlm({ models: ["llama-3.1-8b"] });
  await using cp = await startCp();
  const cfg = await config(cp.url, mock.url, "", 2);
  await using labmand = await startLabmand(cfg.path);
  await cp.relay.waitForConnections(1);

  const lost = directive("evict_model", { model: "llama-3.1-8b" }, "portman-9");
  cp.relay.send(lost);
  const queued = await cp.relay.waitFor((e) =>
    e.kind === "ack" && e.correlation_id === lost.msg_id
  );
  assert.equal(queued.payload.status, "queued");
  const expired = await cp.relay.waitFor((e) =>
    e.kind === "error" && e.correlation_id === lost.msg_id
  );
  assert.equal(expired.payload.code, "AGENT_UNAVAILABLE");

  // A held directive is delivered when its agent registers within the TTL.
  await using pm = await connectPortman(cfg.url, await secretOf(cfg.secretFile));
  const held = directive("preload_model", { model: "llama-3.1-8b" }, "portman-1");
  cp.relay.send(held);
  await cp.relay.waitFor((e) => e.kind === "ack" && e.correlation_id === held.msg_id);
  pm.send(up("register_agent", { agent_version: "1" }));
  await pm.waitFor((e) => e.msg_id === held.msg_id);

  // update_registry replaces the slug table labman routes by.
  const upd = directive("update_registry", {
    slugs: [{ slug: "chat-fast", tenant: "t1", model: "llama-3.1-8b" }],
  });
  cp.relay.send(upd);
  const updAck = await cp.relay.waitFor((e) => e.kind === "ack" && e.correlation_id === upd.msg_id);
  assert.equal(updAck.payload.status, "completed");
  assert.equal(updAck.agent_id, "labman");

  // drain: labman stops taking new requests and Portman is told too.
  const drain = directive("drain", { reason: "maintenance window" });
  cp.relay.send(drain);
  await cp.relay.waitFor((e) => e.kind === "ack" && e.correlation_id === drain.msg_id);
  await pm.waitFor((e) => e.kind === "drain" && e.msg_id === drain.msg_id);
  await until(async () => {
    const r = await fetch(`${labmand.proxyUrl}/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "llama-3.1-8b", messages: [{ role: "user", content: "hi" }] }),
    });
    await r.body?.cancel();
    return r.status === 503;
  }, "the proxy to refuse new requests while draining");
});

Deno.test("relay: the control-plane link drops and comes back under a steady stream; nothing within the buffer is lost", async () => {
  await using mock = await startMockLlm({ models: ["m"] });
  await using cp = await startCp();
  const cfg = await config(cp.url, mock.url);
  await using labmand = await startLabmand(cfg.path);
  await cp.relay.waitForConnections(1);
  await using pm = await connectPortman(cfg.url, await secretOf(cfg.secretFile));
  pm.send(up("register_agent", { agent_version: "1" }));

  const sent: string[] = [];
  const before = cp.relay.connections;
  for (let i = 0; i < 150; i++) {
    const m = up("metrics", { cpu_pct: i });
    sent.push(m.msg_id);
    pm.send(m);
    if (i === 40 || i === 100) cp.relay.dropConnections();
    await new Promise((r) => setTimeout(r, 10));
  }
  await until(
    () => sent.every((id) => cp.relay.messages().some((m) => m.envelope.msg_id === id)),
    "every message to arrive after reconnects",
    15_000,
  );
  assert.ok(cp.relay.connections >= before + 2, "the link reconnected after each drop");
  assert.ok(
    labmand.logs.filter((l) => String(l.message).includes("relay link to the control plane closed"))
      .length >= 2,
  );
  // Order is kept: the accepted stream is the sent one.
  const got = cp.relay.messages().map((m) => m.envelope.msg_id).filter((id) => sent.includes(id));
  assert.deepEqual(got, sent);
});

Deno.test("relay: a Portman that never reads is cut off at its send-buffer bound; the daemon stays up", async () => {
  await using mock = await startMockLlm({ models: ["m"] });
  await using cp = await startCp();
  const cfg = await config(cp.url, mock.url, "send_buffer_bytes = 65536\nmax_frame_bytes = 65536");
  await using labmand = await startLabmand(cfg.path);
  await cp.relay.waitForConnections(1);
  const secret = await secretOf(cfg.secretFile);

  // A raw client: handshake, one masked register frame, then never read again.
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: cfg.port });
  const enc = new TextEncoder();
  await conn.write(enc.encode(
    `GET /agent HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n` +
      `Authorization: Bearer ${secret}\r\n\r\n`,
  ));
  await conn.write(maskedTextFrame(JSON.stringify(up("register_agent", { agent_version: "1" }, {
    agent_id: "stuck",
  }))));
  await cp.relay.waitFor((e) => e.kind === "register_agent" && e.agent_id === "stuck");

  const pad = "y".repeat(60_000);
  for (let i = 0; i < 400; i++) {
    cp.relay.send(directive("assign_workload", { workload_id: `w${i}`, model: "m", pad }, "stuck"));
  }
  await labmand.waitForLog((l) => String(l.message).includes("is not reading"), 20_000);
  // Whatever could not be delivered is held, then answered with an error; nothing piles up.
  await cp.relay.waitFor((e) => e.kind === "error" && e.agent_id === "stuck", 15_000);
  conn.close();
  const r = await fetch(labmand.proxyUrl + "/models");
  assert.equal(r.status, 200);
  await r.body?.cancel();
});

/** One client-to-server text frame (clients must mask, RFC 6455 §5.3). */
function maskedTextFrame(text: string): Uint8Array {
  const data = new TextEncoder().encode(text);
  const mask = crypto.getRandomValues(new Uint8Array(4));
  const len = data.length;
  const head = len < 126 ? [0x81, 0x80 | len] : [0x81, 0x80 | 126, len >> 8, len & 0xff];
  const out = new Uint8Array(head.length + 4 + len);
  out.set(head, 0);
  out.set(mask, head.length);
  for (let i = 0; i < len; i++) out[head.length + 4 + i] = data[i]! ^ mask[i % 4]!;
  return out;
}

Deno.test("relay: labman reports token usage of proxied answers (JSON and the stream's usage chunk) per tenant/slug", async () => {
  await using mock = await startMockLlm({ models: ["llama-3.1-8b"] });
  await using cp = await startCp();
  const cfg = await config(cp.url, mock.url);
  await using labmand = await startLabmand(cfg.path);
  await cp.relay.waitForConnections(1);
  const sdk = new OpenAI({ baseURL: labmand.proxyUrl, apiKey: "x", maxRetries: 0 });
  const messages = [{ role: "user" as const, content: "Hello there" }];
  const plain = await sdk.chat.completions.create({ model: "llama-3.1-8b", messages });
  let streamed: OpenAI.CompletionUsage | null | undefined;
  const stream = await sdk.chat.completions.create({
    model: "llama-3.1-8b",
    messages,
    stream: true,
    stream_options: { include_usage: true },
  });
  for await (const chunk of stream) if (chunk.usage) streamed = chunk.usage;
  assert.ok(plain.usage && streamed);

  const want = {
    prompt_tokens: plain.usage.prompt_tokens + streamed.prompt_tokens,
    completion_tokens: plain.usage.completion_tokens + streamed.completion_tokens,
    total_tokens: plain.usage.total_tokens + streamed.total_tokens,
  };
  // Reports come every interval; sum them until both requests are accounted for.
  let got = { requests: 0, prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };
  await until(() => {
    got = { requests: 0, prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };
    for (const m of cp.relay.messages()) {
      if (m.envelope.kind !== "usage_report") continue;
      assert.equal(m.envelope.payload.source, "labman");
      for (const e of m.envelope.payload.entries as Record<string, number & string>[]) {
        assert.equal(e.tenant, "local");
        assert.equal(e.slug, "llama-3.1-8b");
        assert.equal(e.endpoint, "gpu0");
        for (const k of Object.keys(got) as (keyof typeof got)[]) got[k] += e[k];
      }
    }
    return got.requests >= 2;
  }, "usage reports covering both requests");
  assert.deepEqual(got, { requests: 2, ...want });
});

Deno.test("relay: a secret readable by others or a taken port stops only the relay; the proxy serves", async () => {
  await using mock = await startMockLlm({ models: ["m"] });
  const cfg = await config(null, mock.url);
  await Deno.writeTextFile(cfg.secretFile, "0123456789abcdef0123456789abcdef\n", { mode: 0o644 });
  await Deno.chmod(cfg.secretFile, 0o644);
  {
    await using labmand = await startLabmand(cfg.path);
    const err = await labmand.waitForLog((l) =>
      String(l.message).startsWith("Cannot serve the Portman relay")
    );
    assert.match(String((err.properties as { message: string }).message), /chmod 600/);
    await assert.rejects(connectPortman(cfg.url, "0123456789abcdef0123456789abcdef"));
    const r = await fetch(`${labmand.proxyUrl}/models`);
    assert.equal(r.status, 200);
    await r.body?.cancel();
  }
  await Deno.chmod(cfg.secretFile, 0o600);
  using _taken = Deno.listen({ hostname: "127.0.0.1", port: cfg.port });
  await using labmand = await startLabmand(cfg.path);
  const err = await labmand.waitForLog((l) =>
    String(l.message).startsWith("Cannot serve the Portman relay")
  );
  assert.match(String((err.properties as { message: string }).message), /portman\.listen_port/);
});

Deno.test("relay: a websocket_url pointing anywhere but the control plane is not dialled", async () => {
  await using mock = await startMockLlm({ models: ["m"] });
  // A listener standing in for a LAN host the control plane would like the node to reach.
  const lan = Deno.listen({ hostname: "127.0.0.2", port: 0 });
  let dialled = false;
  const accepting = (async () => {
    try {
      for await (const c of lan) {
        dialled = true;
        c.close();
      }
    } catch { /* closed */ }
  })();
  await using cp = await startReferenceControlPlane({
    hostname: "127.0.0.1",
    port: 0,
    tokens: ["good-token"],
    wireguard: await testControlPlanePeer(),
    websocketUrl: `ws://127.0.0.2:${(lan.addr as Deno.NetAddr).port}/api/v1/ws`,
  });
  const cfg = await config(cp.url, mock.url);
  await using labmand = await startLabmand(cfg.path);
  const err = await labmand.waitForLog((l) =>
    String(l.message).startsWith("Cannot use the control plane's websocket_url")
  );
  assert.match(String((err.properties as { why: string }).why), /neither control_plane\.base_url/);
  // Portman is still served; nothing reached the "LAN" host.
  await using pm = await connectPortman(cfg.url, await secretOf(cfg.secretFile));
  pm.send(up("register_agent", { agent_version: "1" }));
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(dialled, false);
  lan.close();
  await accepting;
});
