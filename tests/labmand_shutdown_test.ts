/**
 * Shutdown honours `proxy.shutdown_grace_ms` (issue 9 item 2): a stream that never ends is
 * aborted when the grace runs out (the upstream socket closed too), and only then do the final
 * `stopping` heartbeat and the DELETE go out; heartbeats say `draining` from the first moment.
 * labmand runs as a real process, with the reference control plane on loopback.
 */
import assert from "node:assert/strict";
import { startMockLlm } from "../lib/mockllm/mod.ts";
import { startReferenceControlPlane } from "../lib/refcp/mod.ts";
import { freePort, until } from "./helpers/netns.ts";
import { startLabmand, testControlPlanePeer } from "./helpers/labmand_process.ts";
import { makeTestDir } from "./helpers/test_dirs.ts";

const GRACE_MS = 1500;

Deno.test("labmand: after shutdown_grace_ms an endless stream is aborted, then stopping heartbeat and DELETE", async () => {
  // One token a second, for a day: only the grace can end this stream.
  await using mock = await startMockLlm({
    models: ["m"],
    mode: { tokenDelayMs: 1000, tokens: 86_400 },
  });
  await using cp = await startReferenceControlPlane({
    hostname: "127.0.0.1",
    port: 0,
    tokens: ["tok"],
    wireguard: await testControlPlanePeer(),
    heartbeatIntervalS: 0.2,
  });
  const dir = await makeTestDir({ prefix: "labman-stop-" });
  try {
    await Deno.writeTextFile(
      `${dir}/labman.toml`,
      `[control_plane]
base_url = "${cp.url}"
node_token = "tok"
request_timeout_ms = 1000

[wireguard]
mode = "off"
private_key_path = "${dir}/wg/private.key"
public_key_path = "${dir}/wg/public.key"

[proxy]
listen_port = ${freePort()}
shutdown_grace_ms = ${GRACE_MS}

[admin]
listen_port = ${freePort()}

[logging]
format = "json"

[health]
interval_s = 0.5
timeout_ms = 400

[[endpoints]]
name = "gpu0"
base_url = "${mock.url}"
`,
    );
    await Deno.chmod(`${dir}/labman.toml`, 0o600);
    await using labmand = await startLabmand(`${dir}/labman.toml`);
    await until(() => cp.nodes().length === 1, "registration");
    const nodeId = cp.nodes()[0].nodeId;
    await until(async () => {
      const r = await fetch(`${labmand.proxyUrl}/models`);
      return (await r.json()).data.length === 1;
    }, "model discovered");

    const res = await fetch(`${labmand.proxyUrl}/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        model: "m",
        stream: true,
        messages: [{ role: "user", content: "x" }],
      }),
    });
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    await reader.read();
    assert.equal(mock.stats().openStreams, 1);
    const beatsBefore = cp.heartbeats(nodeId).length;

    const t0 = performance.now();
    labmand.signal("SIGTERM");
    // The client's stream ends (cut) once the grace is over, not a day later.
    const drained = (async () => {
      try {
        while (!(await reader.read()).done) { /* tokens until the cut */ }
      } catch { /* aborted: expected */ }
      return performance.now() - t0;
    })();
    // Bounded wait: grace + 2 s abort margin + final heartbeat/DELETE, far below TimeoutStopSec.
    assert.equal(await labmand.exited(GRACE_MS + 10_000), 0);
    const streamEndedAfter = await drained;
    assert.ok(streamEndedAfter >= GRACE_MS - 100, `stream cut early: ${streamEndedAfter} ms`);

    // Upstream side: the mock saw its stream cancelled, nothing open towards it any more.
    await until(() => mock.stats().openStreams === 0, "upstream stream closed");
    assert.equal(mock.stats().abortedStreams, 1);
    assert.equal(mock.stats().completedStreams, 0);

    // Control plane: `draining` during the drain, then `stopping`, then DELETE.
    const states = cp.heartbeats(nodeId).slice(beatsBefore).map((b) => b.state);
    assert.ok(states.includes("draining"), JSON.stringify(states));
    assert.equal(states.at(-1), "stopping", JSON.stringify(states));
    assert.ok(!states.slice(states.indexOf("draining")).includes("active"), JSON.stringify(states));
    assert.equal(cp.nodes().length, 0, "deregistered");
    const log = labmand.logs.map((l) => String(l.message));
    const abortedAt = log.findIndex((m) => m.startsWith("Aborting"));
    assert.ok(abortedAt >= 0, "the abort after the grace is logged");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
