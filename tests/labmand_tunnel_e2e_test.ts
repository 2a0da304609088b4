/**
 * The standard end-to-end topology of design §6, with every part real: labmand (supervisor +
 * data-plane Worker) with wireguard-go and a rosenpass child in netns "node"; the reference
 * control plane with wireguard-go and a rosenpass responder in netns "cp"; a mock model server on
 * the node's LAN side in netns "lan". The openai SDK calls the proxy from "cp" over the tunnel.
 */
import assert from "node:assert/strict";
import { replyText } from "../lib/mockllm/mod.ts";
import { run, startLoopbackServices, stopChild } from "./helpers/netns.ts";
import { setUpE2e } from "./helpers/e2e_sides.ts";
import { until } from "./helpers/wait.ts";
import { runLabman } from "./helpers/labman_cli.ts";
import { startLabmand } from "./helpers/labmand_process.ts";

const isRoot = Deno.uid() === 0;

/** Listening TCP sockets (`addr:port`, sorted) of process `pid` in `ns`, from `ss`. */
async function listeningSockets(ns: string, pid: number): Promise<string[]> {
  const out = (await run(["ss", "-Hltnp"], { ns })).stdout;
  return out.split("\n").filter((l) => l.includes(`pid=${pid},`)).map((l) =>
    l.trim().split(/\s+/)[3]
  ).sort();
}

Deno.test({
  name:
    "labmand e2e over WireGuard + Rosenpass: registration → tunnel → openai SDK from the control plane; invariants; crash recovery (root)",
  ignore: !isRoot,
  sanitizeResources: false, // children's pipes are closed in finally; the probe is in cleanup order
  async fn() {
    await using world = await setUpE2e({ prefix: "labman-e2e-" });
    const { topo, tmp, nodeIf, configPath } = world;
    const cp = world.cp!;
    let loopbackServices: Deno.ChildProcess | undefined;
    try {
      loopbackServices = await startLoopbackServices(topo.node);
      const forwardingBefore =
        (await run(["sysctl", "-n", "net.ipv4.ip_forward"], { ns: topo.node }))
          .stdout;

      {
        await using labmand = await startLabmand(configPath, {
          netns: topo.node,
          timeoutMs: 60_000,
        });
        const nodes = await cp.call<{ nodeId: string; address: string }[]>({ cmd: "nodes" });
        assert.equal(nodes.length, 1);
        // Registered after a first discovery pass: the body already says what the node serves.
        const regs = await cp.call<{ models: string[]; endpoint_count: number }[]>({
          cmd: "registrations",
        });
        assert.deepEqual(regs.map((c) => [c.models, c.endpoint_count]), [[["llama-3.1-8b"], 1]]);
        const nodeIp = nodes[0].address.split("/")[0];
        assert.equal(labmand.proxyUrl, `http://${nodeIp}:8080/v1`);
        // Invariants 2 and 3 from the socket table, not from labmand's own log: every TCP socket
        // labmand's process listens on is the proxy on the WireGuard address or loopback.
        assert.deepEqual(
          await listeningSockets(topo.node, labmand.child.pid),
          [`${nodeIp}:8080`, "127.0.0.1:7070", "127.0.0.1:9464"].sort(),
          "labmand listens only on the WireGuard address (proxy) and loopback (Portman, admin)",
        );

        // The control plane maps its opaque slug to (tenant, endpoint, model).
        await cp.call({
          cmd: "slugs",
          entries: [{
            slug: "t-42/fast",
            tenant: "t-42",
            endpoint: "lan-gpu",
            model: "llama-3.1-8b",
          }],
        });
        const chat = await until(
          async () => {
            const r = await cp.call<{ ok: boolean; text: string }>({
              cmd: "chat",
              baseUrl: labmand.proxyUrl,
              model: "t-42/fast",
              timeoutMs: 3_000,
            }, 10_000);
            return r.ok ? r : undefined;
          },
          "a chat completion over the tunnel",
          30_000,
        );
        assert.equal(chat.text, replyText("over the tunnel", 16));
        const streamed = await cp.call<{ ok: boolean; chunks: number }>({
          cmd: "chat",
          baseUrl: labmand.proxyUrl,
          model: "t-42/fast",
          stream: true,
        });
        assert.ok(streamed.ok && streamed.chunks >= 17, JSON.stringify(streamed));

        // `wg show` in the node namespace shows exactly what labmand configured.
        const info = await cp.call<{ publicKey: string }>({ cmd: "info" });
        const dump = (await run(["wg", "show", nodeIf, "dump"], { ns: topo.node })).stdout.trim()
          .split("\n").map((l) => l.split("\t"));
        assert.equal(dump.length, 2, "one device line, one peer");
        const [priv, , port] = dump[0];
        assert.equal(priv, (await Deno.readTextFile(`${tmp}/node/wireguard/private.key`)).trim());
        assert.equal(port, "51820");
        const [peerKey, psk, endpoint, allowed, handshake] = dump[1];
        assert.equal(peerKey, info.publicKey);
        assert.equal(endpoint, `${topo.cpIp}:51820`);
        assert.equal(allowed, "10.90.0.1/32");
        assert.ok(Number(handshake) > 0, "handshake happened");
        // Both sides carry the same post-quantum PSK.
        const cpPsk = (await cp.call<string>({ cmd: "psk" })).split("\t")[1];
        assert.equal(psk, cpPsk);
        assert.notEqual(psk, "(none)");

        // Invariant 1: a single /32, routes only for the peer's allowed IPs, no forwarding.
        const addrs = JSON.parse(
          (await run(["ip", "-j", "addr", "show", "dev", nodeIf], { ns: topo.node })).stdout,
        );
        assert.deepEqual(
          addrs[0].addr_info.map((a: { local: string; prefixlen: number }) =>
            `${a.local}/${a.prefixlen}`
          ),
          [nodes[0].address],
        );
        const routes = JSON.parse(
          (await run(["ip", "-j", "route", "show", "dev", nodeIf], { ns: topo.node })).stdout,
        );
        assert.deepEqual(routes.map((r: { dst: string }) => r.dst), ["10.90.0.1"]);
        assert.equal(
          (await run(["sysctl", "-n", "net.ipv4.ip_forward"], { ns: topo.node })).stdout,
          forwardingBefore,
        );

        // Invariant 4 against real listeners: the node's loopback services (labmand's admin on
        // 9464, stand-ins for sshd and a web UI on 22 and 80) and the LAN model server all answer
        // the node, and a hostile control plane that routes the LAN into the tunnel reaches
        // none of them, while the proxy answers it.
        for (
          const url of [
            "http://127.0.0.1:22/",
            "http://127.0.0.1:80/",
            "http://127.0.0.1:9464/healthz",
            `http://${topo.lanHostIp}:8000/v1/models`,
          ]
        ) {
          const r = await run(["curl", "-sf", "--max-time", "3", url], { ns: topo.node });
          assert.equal(r.code, 0, `${url} must answer on the node (the probe below is real)`);
        }
        await cp.call({ cmd: "route", prefix: `${topo.lanHostIp}/32` });
        for (
          const [hostname, port] of [
            [nodeIp, 9464],
            [nodeIp, 22],
            [nodeIp, 80],
            [topo.lanHostIp, 8000],
          ] as const
        ) {
          const r: { ok: boolean } = await cp.call({
            cmd: "connect",
            hostname,
            port,
            timeoutMs: 2_000,
          });
          assert.equal(
            r.ok,
            false,
            `${hostname}:${port} must be unreachable from the control plane`,
          );
        }
        const proxyAnswers: { ok: boolean; status?: number } = await cp.call({
          cmd: "fetch",
          url: `${labmand.proxyUrl}/models`,
          timeoutMs: 3_000,
        });
        assert.equal(proxyAnswers.ok, true, "the proxy answers the control plane");

        // Heartbeats carry the PQ and WireGuard state.
        const hb = await until(
          async () => {
            const list = await cp.call<
              { pq: { state: string }; wireguard: { backend: string } }[]
            >({
              cmd: "heartbeats",
              nodeId: nodes[0].nodeId,
            });
            return list.find((h) => h.pq.state === "active");
          },
          "a heartbeat with pq active",
          10_000,
        );
        assert.equal(hb.wireguard.backend, "userspace");

        // The loopback admin listener (node namespace) shows tunnel and PQ state.
        const metrics =
          (await run(["curl", "-sf", "http://127.0.0.1:9464/metrics"], { ns: topo.node }))
            .stdout;
        assert.match(metrics, /^labman_wireguard_backend_info\{backend="userspace"\} 1$/m);
        assert.match(metrics, /^labman_wireguard_last_handshake_age_seconds\{peer="[^"]+"\} \d/m);
        assert.match(metrics, /^labman_wireguard_received_bytes_total\{peer="[^"]+"\} [1-9]/m);
        assert.match(metrics, /^labman_rosenpass_state\{state="active"\} 1$/m);
        assert.match(metrics, /^labman_rosenpass_exchanges_total [1-9]/m);

        // `labman status` (same permission flags as the binary) shows it to the operator.
        const status = await runLabman(["status", "--admin", "http://127.0.0.1:9464"], {
          prefix: ["ip", "netns", "exec", topo.node],
        });
        assert.equal(status.code, 0, status.stderr);
        assert.match(status.stdout, /rosenpass: +active/);
        assert.match(status.stdout, /userspace/);
        assert.match(status.stdout, /lan-gpu/);
        assert.match(
          metrics,
          /^labman_proxy_requests_total\{model="t-42\/fast",endpoint="lan-gpu",status="200"\} [1-9]/m,
        );

        // A crash leaves labman0 behind; the next start removes and recreates it.
        labmand.signal("SIGKILL");
        await labmand.exited();
      }
      assert.equal(
        (await run(["ip", "link", "show", nodeIf], { ns: topo.node })).code,
        0,
        "stale link left",
      );
      {
        await using labmand = await startLabmand(configPath, {
          netns: topo.node,
          timeoutMs: 60_000,
        });
        const again = await until(
          async () => {
            const r = await cp.call<{ ok: boolean }>({
              cmd: "chat",
              baseUrl: labmand.proxyUrl,
              model: "t-42/fast",
              timeoutMs: 3_000,
            });
            return r.ok ? r : undefined;
          },
          "chat after restart",
          30_000,
        );
        assert.ok(again.ok);

        // Clean stop: deregistered, interface removed, exit 0.
        labmand.signal("SIGTERM");
        assert.equal(await labmand.exited(), 0);
        assert.deepEqual(await cp.call({ cmd: "nodes" }), []);
        assert.notEqual(
          (await run(["ip", "link", "show", nodeIf], { ns: topo.node })).code,
          0,
          "link removed",
        );
      }
    } finally {
      await stopChild(loopbackServices);
      await run(["pkill", "-f", `wireguard-go ${nodeIf}`]).catch(() => {});
    }
  },
});
