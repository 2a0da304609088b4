/**
 * The relay over the real tunnel (design §6 topology): labmand with wireguard-go and Rosenpass
 * in netns "node", the reference control plane in netns "cp" serving the relay WebSocket only on
 * its WireGuard address, and a test Portman inside the node namespace. Roadmap stage 8's manual
 * test: register_agent and heartbeat reach the control plane over the tunnel, preload_model
 * comes back, Portman acks it and the ack arrives correlated.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { makeEnvelope } from "../lib/protocol/mod.ts";
import type { Envelope } from "../lib/protocol/mod.ts";
import { spawnDenoInNetns } from "./helpers/netns.ts";
import { setUpE2e } from "./helpers/e2e_sides.ts";
import { startLabmand } from "./helpers/labmand_process.ts";

const isRoot = Deno.uid() === 0;
const ROOT = fileURLToPath(new URL("../", import.meta.url));

Deno.test({
  name: "relay e2e over WireGuard + Rosenpass: Portman ⇄ labmand ⇄ control plane (root)",
  ignore: !isRoot,
  sanitizeResources: false, // children's pipes are closed in finally
  async fn() {
    await using world = await setUpE2e({
      prefix: "labman-relay-e2e-",
      cpArgs: ["--relay-over-tunnel"],
      config: {
        fastHealth: false,
        sections: (tmp) =>
          `[portman]\nlisten_port = 7070\nsecret_file = "${tmp}/node/portman.secret"`,
      },
    });
    const { topo, tmp, configPath } = world;
    const cp = world.cp!.call;
    const children: Deno.ChildProcess[] = [];
    try {
      await using labmand = await startLabmand(configPath, { netns: topo.node, timeoutMs: 60_000 });
      const nodes = await cp<{ nodeId: string; address: string }[]>({ cmd: "nodes" });
      const nodeWgIp = nodes[0]!.address.split("/")[0];
      await labmand.waitForLog(
        (l) => String(l.message).startsWith("relay connected to the control plane"),
        30_000,
      );
      // The link reached the control plane from the node's tunnel address: it rode WireGuard.
      assert.deepEqual(await cp<string[]>({ cmd: "relay-peers" }), [nodeWgIp]);

      const pm = await spawnDenoInNetns(topo.node, `${ROOT}tests/fixtures/portman_side.ts`, [
        "ws://127.0.0.1:7070/agent",
        `${tmp}/node/portman.secret`,
        "portman-ns",
      ]);
      children.push(pm.child);
      assert.equal(pm.hello.ready, true, JSON.stringify(pm.hello));

      const reg = await cp<Envelope>({ cmd: "relay-wait", kind: "register_agent" });
      assert.equal(reg.agent_id, "portman-ns");
      assert.equal(reg.site_id, nodes[0]!.nodeId);
      await cp({ cmd: "relay-wait", kind: "heartbeat", msgId: pm.hello.heartbeat });

      const preload = makeEnvelope("preload_model", { model: "llama-3.1-8b" }, {
        agent_id: "portman-ns",
      });
      assert.equal(await cp<number>({ cmd: "relay-send", envelope: preload }), 1);
      const got = JSON.parse(await pm.out.next(15_000)).received as Envelope;
      assert.equal(got.msg_id, preload.msg_id);
      assert.equal(got.kind, "preload_model");
      const ack = await cp<Envelope>({
        cmd: "relay-wait",
        kind: "ack",
        correlationId: preload.msg_id,
      });
      assert.equal(ack.agent_id, "portman-ns");

      // update_registry over the relay replaces the slug table: the new slug routes at once.
      const upd = makeEnvelope("update_registry", {
        slugs: [{ slug: "t-7/relay", tenant: "t-7", endpoint: "lan-gpu", model: "llama-3.1-8b" }],
      }, { agent_id: "labman" });
      await cp({ cmd: "relay-send", envelope: upd });
      const updAck = await cp<Envelope>({
        cmd: "relay-wait",
        kind: "ack",
        correlationId: upd.msg_id,
      });
      assert.equal(updAck.payload.status, "completed");
      let chat: { ok: boolean; text?: string; error?: string } = { ok: false };
      for (let i = 0; i < 30 && !chat.ok; i++) {
        chat = await cp({
          cmd: "chat",
          baseUrl: labmand.proxyUrl,
          model: "t-7/relay",
          timeoutMs: 3000,
        });
        if (!chat.ok) await new Promise((r) => setTimeout(r, 300));
      }
      assert.ok(chat.ok, JSON.stringify(chat));

      // Invariant 3: the Portman port is not reachable from the control plane.
      const probe = await cp<{ ok: boolean }>({
        cmd: "fetch",
        url: `http://${nodeWgIp}:7070/agent`,
        timeoutMs: 2000,
      });
      assert.equal(probe.ok, false);

      await pm.child.stdin.close();
      await pm.child.status;
      await pm.err;
      labmand.signal("SIGTERM");
      assert.equal(await labmand.exited(30_000), 0);
    } finally {
      for (const c of children) {
        try {
          c.kill("SIGKILL");
        } catch { /* exited */ }
        await c.status.catch(() => {});
      }
    }
  },
});
