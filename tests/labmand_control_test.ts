/**
 * labmand with the reference control plane on loopback (local mode, no root): registration,
 * heartbeats, desired state, slug tables, outages and token rejection, with labmand as a real
 * process.
 */
import assert from "node:assert/strict";
import OpenAI from "openai";
import { startMockLlm } from "../lib/mockllm/mod.ts";
import { type ReferenceControlPlane, startReferenceControlPlane } from "../lib/refcp/mod.ts";
import { freePort, until } from "./helpers/netns.ts";
import { startLabmand, testControlPlanePeer } from "./helpers/labmand_process.ts";
import { makeTestDir } from "./helpers/test_dirs.ts";

async function startCp(port = 0): Promise<ReferenceControlPlane> {
  return await startReferenceControlPlane({
    hostname: "127.0.0.1",
    port,
    tokens: ["good-token"],
    wireguard: await testControlPlanePeer(),
    heartbeatIntervalS: 0.2,
  });
}

async function config(cpUrl: string, mockUrl: string, token = "good-token") {
  const dir = await makeTestDir({ prefix: "labman-cp-" });
  const path = `${dir}/labman.toml`;
  await Deno.writeTextFile(
    path,
    `[control_plane]
base_url = "${cpUrl}"
node_token = "${token}"
request_timeout_ms = 1000
retry_initial_ms = 100
retry_max_ms = 400

[wireguard]
mode = "off"
private_key_path = "${dir}/wg/private.key"
public_key_path = "${dir}/wg/public.key"

[proxy]
listen_port = ${freePort()}

[admin]
listen_port = ${freePort()}

[logging]
format = "json"

[health]
interval_s = 0.5
timeout_ms = 400

[[endpoints]]
name = "gpu0"
base_url = "${mockUrl}"
`,
  );
  await Deno.chmod(path, 0o600);
  return { path, dir };
}

async function rssKb(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(status.match(/^VmRSS:\s+(\d+) kB/m)?.[1]);
}

const sdkFor = (url: string) => new OpenAI({ baseURL: url, apiKey: "cp", maxRetries: 0 });

Deno.test("labmand registers, heartbeats, follows desired state and slug tables, deregisters on SIGTERM", async () => {
  await using mock = await startMockLlm({ models: ["llama-3.1-8b"] });
  await using cp = await startCp();
  const cfg = await config(cp.url, mock.url);
  await using labmand = await startLabmand(cfg.path);
  const sdk = sdkFor(labmand.proxyUrl);

  await until(() => cp.nodes().length === 1, "registration");
  const node = cp.nodes()[0];
  await until(() => cp.heartbeats(node.nodeId).length >= 2, "heartbeats");
  await until(
    () => cp.heartbeats(node.nodeId).some((h) => h.endpoints[0]?.healthy === true),
    "a heartbeat with the healthy endpoint",
  );
  const hb = cp.heartbeats(node.nodeId).at(-1)!;
  assert.equal(hb.state, "active");
  assert.equal(hb.pq.state, "disabled");
  // Minimal metadata: the endpoint's name, never its URL or host.
  assert.doesNotMatch(JSON.stringify(cp.heartbeats(node.nodeId)), /127\.0\.0\.1|http:/);

  // Identity routing until the control plane pushes a table; then only its slugs route.
  assert.equal(
    (await sdk.chat.completions.create({
      model: "llama-3.1-8b",
      messages: [{ role: "user", content: "hi" }],
    }))
      .choices[0].finish_reason,
    "stop",
  );
  cp.setSlugs("*", [{ slug: "t1-fast", tenant: "t1", endpoint: "gpu0", model: "llama-3.1-8b" }]);
  await until(
    async () => (await sdk.models.list()).data.some((m) => m.id === "t1-fast"),
    "slug table applied",
  );
  const viaSlug = await sdk.chat.completions.create({
    model: "t1-fast",
    messages: [{ role: "user", content: "hi" }],
  });
  assert.equal(
    (mock.stats().lastRequest?.body as { model?: string } | null)?.model,
    "llama-3.1-8b",
    "the slug was rewritten to the endpoint's model id",
  );
  assert.equal(viaSlug.choices[0].finish_reason, "stop");

  // Draining: new requests get 503 with a reason and Retry-After; active again restores service.
  cp.setDesiredState("*", "draining");
  await until(async () => {
    const r = await fetch(`${labmand.proxyUrl}/chat/completions`, {
      method: "POST",
      body: JSON.stringify({ model: "t1-fast", messages: [{ role: "user", content: "x" }] }),
    });
    const body = await r.text();
    return r.status === 503 && r.headers.get("retry-after") !== null && body.includes("draining");
  }, "503 while draining");
  await until(
    () => cp.heartbeats(node.nodeId).at(-1)?.state === "draining",
    "heartbeat state draining",
  );
  cp.setDesiredState("*", "active");
  await until(async () => {
    try {
      const r = await sdk.chat.completions.create({
        model: "t1-fast",
        messages: [{ role: "user", content: "x" }],
      });
      return r.choices.length === 1;
    } catch {
      return false; // still draining until the next heartbeat answer
    }
  }, "active again");

  labmand.signal("SIGTERM");
  assert.equal(await labmand.exited(), 0);
  assert.equal(cp.nodes().length, 0, "deregistered on clean shutdown");
  assert.ok(
    cp.requests().some((r) => r.path.endsWith("/heartbeat") && r.status === 200),
  );
  await Deno.remove(cfg.dir, { recursive: true });
});

Deno.test("labmand: control plane unreachable at start, then down for a while: retries, keeps serving, resumes", async () => {
  await using mock = await startMockLlm({ models: ["m"] });
  const cpPort = freePort();
  const cfg = await config(`http://127.0.0.1:${cpPort}`, mock.url);
  await using labmand = await startLabmand(cfg.path, { expectReady: false });
  // Nothing listens yet: labmand logs retries and does not exit.
  await labmand.waitForLog(
    (l) => /register/i.test(String(l.message)) && l.level === "WARN",
    10_000,
  );
  // Local mode serves at once: no control plane is needed for that.
  const ready = await labmand.waitForLog(
    (l) => String(l.message).startsWith("labmand ready"),
    15_000,
  );
  const proxyUrl = (ready.properties as { proxyUrl: string }).proxyUrl;
  const sdk = sdkFor(proxyUrl);
  await until(async () => (await sdk.models.list()).data.length === 1, "model before registration");
  await using cp = await startCp(cpPort);
  await until(() => cp.nodes().length === 1, "registration once the control plane is up");
  // Registered with what the first discovery pass found, not an empty node.
  assert.deepEqual(cp.nodes()[0].capabilities?.models, ["m"]);
  const nodeId = cp.nodes()[0].nodeId;
  await until(() => cp.heartbeats(nodeId).length >= 1, "heartbeats");

  // Control plane offline: the proxy keeps serving, heartbeats fail and are retried, memory
  // stays flat (a leak per failed heartbeat would show over ~15 failures a second).
  const rssBefore = await rssKb(labmand.child.pid);
  await cp.setMode({ offline: true });
  await new Promise((r) => setTimeout(r, 3_000));
  await until(async () => (await sdk.models.list()).data.length === 1, "model while offline");
  const reply = await sdk.chat.completions.create({
    model: "m",
    messages: [{ role: "user", content: "still here" }],
  });
  assert.equal(reply.choices[0].finish_reason, "stop");
  const rssGrowthMb = (await rssKb(labmand.child.pid) - rssBefore) / 1024;
  assert.ok(
    rssGrowthMb < 25,
    `RSS grew ${rssGrowthMb.toFixed(1)} MB while the control plane was down`,
  );
  const before = cp.heartbeats(nodeId).length;
  await cp.setMode({});
  await until(() => cp.heartbeats(nodeId).length > before, "heartbeats resume after the outage");
  labmand.signal("SIGTERM");
  assert.equal(await labmand.exited(), 0);
  await Deno.remove(cfg.dir, { recursive: true });
});

Deno.test("labmand: a rejected node token is state error (readyz, metric, exit 4), not a restart loop", async () => {
  await using mock = await startMockLlm({ models: ["m"] });
  await using cp = await startCp();
  const cfg = await config(cp.url, mock.url, "wrong-token");
  await using labmand = await startLabmand(cfg.path, { expectReady: false });
  const ready = await labmand.waitForLog((l) => String(l.message).startsWith("labmand ready"));
  const admin = (ready.properties as { adminUrl: string }).adminUrl;
  let body = "";
  await until(async () => {
    const r = await fetch(`${admin}/readyz`);
    body = await r.text();
    return r.status === 503 && /state: error/.test(body);
  }, "readyz in error");
  assert.match(body, /node token/);
  assert.match(body, /401/);
  const metrics = await (await fetch(`${admin}/metrics`)).text();
  assert.match(metrics, /labman_node_state\{state="error"\} 1/);
  // Still running: the operator fixes the token; a stop now says "do not restart me".
  await new Promise((r) => setTimeout(r, 500));
  labmand.signal("SIGTERM");
  assert.equal(await labmand.exited(), 4);
  assert.equal(cp.nodes().length, 0);
  await Deno.remove(cfg.dir, { recursive: true });
});
