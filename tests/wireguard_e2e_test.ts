/**
 * End to end over the userspace backend, as root, in namespaces:
 *
 *   lmtest-cp-*  (wireguard-go + `wg set`, 10.90.0.1)  <-veth 192.0.2.0/24->  lmtest-node-*
 *   (labman's UserspaceBackend in a child Deno process, 10.90.0.2/32, HTTP on the WG address)
 *   <-veth 198.51.100.0/24->  lmtest-lan-* (a LAN host the control plane must not reach)
 *
 * Run directly (`deno run -A tests/wireguard_e2e_test.ts '<json>'`) this file is the node agent.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { bringUp, tearDown } from "../lib/wireguard/interface.ts";
import { encodeKey, generateKeyPair, generatePresharedKey } from "../lib/wireguard/keys.ts";
import { UserspaceBackend } from "../lib/wireguard/userspace.ts";
import type { WgDevice } from "../lib/wireguard/types.ts";
import {
  createTopology,
  lineReader,
  randomSuffix,
  run,
  sh,
  spawnDenoInNetns,
  startLoopbackServices,
  startWireguardGo,
  stopChild,
  type Topology,
  waitFor,
} from "./helpers/netns.ts";

interface AgentConfig {
  ifname: string;
  address: string;
  device: WgDevice;
  routes: string[];
}

/** The node side: bring up, serve one HTTP port on the WG address, wait for "stop" on stdin. */
async function agent(cfg: AgentConfig): Promise<void> {
  const backend = new UserspaceBackend();
  const ac = new AbortController();
  try {
    await bringUp({
      backend,
      spec: { name: cfg.ifname, address: cfg.address, routes: cfg.routes },
      device: cfg.device,
    });
    const server = Deno.serve(
      { hostname: cfg.address.split("/")[0], port: 0, signal: ac.signal, onListen: () => {} },
      () => new Response("labman-ok\n"),
    );
    console.log(JSON.stringify({ ready: true, port: server.addr.port }));
    const stdin = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
    for await (const chunk of stdin) if (chunk.includes("stop")) break;
    ac.abort();
    await server.finished;
  } catch (e) {
    console.log(JSON.stringify({ ready: false, error: String(e) }));
  } finally {
    await tearDown({ backend, name: cfg.ifname }).catch(() => {});
    await backend.close();
  }
}

if (import.meta.main) {
  await agent(JSON.parse(Deno.args[0]));
  Deno.exit(0);
}

const isRoot = Deno.uid() === 0;

/** A host on the node's LAN (port fixed: it is alone in its namespace). */
const LAN_SERVER =
  `Deno.serve({ hostname: "HOST", port: 8080, onListen: () => console.log("ready") },
  () => new Response("lan\\n"));`;

async function sysctls(ns: string, ifname: string): Promise<Record<string, string>> {
  const keys = [
    "net.ipv4.ip_forward",
    "net.ipv4.conf.all.forwarding",
    "net.ipv6.conf.all.forwarding",
    `net.ipv4.conf.${ifname}.forwarding`,
  ];
  const out: Record<string, string> = {};
  for (const k of keys) out[k] = (await run(["sysctl", "-n", k], { ns })).stdout.trim() || "absent";
  return out;
}

/**
 * The namespace's firewall and NAT rules (nft, iptables, ip6tables). Each tool must work: a
 * comparison of two "not installed" errors would prove nothing (.ci/run installs them).
 */
async function firewall(ns: string): Promise<string> {
  const parts: string[] = [];
  for (const cmd of [["nft", "list", "ruleset"], ["iptables-save"], ["ip6tables-save"]]) {
    const r = await run(cmd, { ns });
    if (r.code !== 0) {
      throw new Error(
        `Cannot read the firewall with ${cmd.join(" ")} (exit ${r.code}): ${r.stderr.trim()} — ` +
          "apt-get install nftables iptables",
      );
    }
    parts.push(`${cmd[0]}:${r.stdout.replace(/^#.*$/gm, "")}`);
  }
  return parts.join("\n");
}

async function curl(
  ns: string,
  url: string,
  timeoutS = 3,
): Promise<{ code: number; body: string }> {
  const r = await run(["curl", "-sS", "--max-time", String(timeoutS), url], {
    ns,
    timeoutMs: (timeoutS + 5) * 1000,
  });
  return { code: r.code, body: r.stdout };
}

Deno.test({
  name: "userspace WireGuard end to end: config, tunnel, reachability limits, no forwarding (root)",
  ignore: !isRoot,
  async fn() {
    const id = randomSuffix();
    const nodeIf = `lmn${id}`, cpIf = `lmc${id}`, rogueIf = `lmr${id}`;
    const tmp = await Deno.makeTempDir();
    let topo: Topology | undefined;
    let agentProc: Deno.ChildProcess | undefined;
    let agentOut: ReturnType<typeof lineReader> | undefined;
    let agentErr: Promise<unknown> | undefined;
    const wgs: Deno.ChildProcess[] = [];
    let lanServer: Deno.ChildProcess | undefined;
    let loopback: Deno.ChildProcess | undefined;
    let lanOut: ReturnType<typeof lineReader> | undefined;
    try {
      topo = await createTopology();
      const node = await generateKeyPair(),
        cp = await generateKeyPair(),
        rogue = await generateKeyPair();
      const psk = encodeKey(generatePresharedKey());
      const sysBefore = await sysctls(topo.node, nodeIf);
      const fwBefore = await firewall(topo.node);

      // --- node: labman's backend in a child process inside the node namespace.
      const cfg: AgentConfig = {
        ifname: nodeIf,
        address: "10.90.0.2/32",
        routes: ["10.90.0.1/32"],
        device: {
          name: nodeIf,
          privateKey: encodeKey(node.privateKey),
          listenPort: 51820,
          peers: [{
            publicKey: encodeKey(cp.publicKey),
            presharedKey: psk,
            endpoint: `${topo.cpIp}:51821`,
            allowedIps: ["10.90.0.1/32"],
          }],
        },
      };
      const agent = await spawnDenoInNetns(topo.node, new URL(import.meta.url).pathname, [
        JSON.stringify(cfg),
      ]);
      agentProc = agent.child;
      agentOut = agent.out;
      agentErr = agent.err;
      const hello = agent.hello as { ready: boolean; error?: string; port: number };
      assert.equal(hello.ready, true, hello.error);
      const port: number = hello.port;

      // --- cp: a plain wireguard-go peer configured with wg(8).
      wgs.push(await startWireguardGo(topo.cp, cpIf));
      await Deno.writeTextFile(join(tmp, "cp.key"), encodeKey(cp.privateKey), { mode: 0o600 });
      await Deno.writeTextFile(join(tmp, "psk"), psk, { mode: 0o600 });
      await sh([
        "wg",
        "set",
        cpIf,
        "private-key",
        join(tmp, "cp.key"),
        "listen-port",
        "51821",
        "peer",
        encodeKey(node.publicKey),
        "preshared-key",
        join(tmp, "psk"),
        "endpoint",
        `${topo.nodeIp}:51820`,
        "allowed-ips",
        `10.90.0.2/32,${topo.lanHostIp}/32,${topo.nodeLanIp}/32`,
      ], topo.cp);
      await sh(["ip", "addr", "add", "10.90.0.1/32", "dev", cpIf], topo.cp);
      await sh(["ip", "link", "set", cpIf, "up"], topo.cp);
      // cp deliberately routes the node's LAN into the tunnel: the node must not pass it on.
      for (const r of ["10.90.0.2/32", `${topo.lanHostIp}/32`, `${topo.nodeLanIp}/32`]) {
        await sh(["ip", "route", "add", r, "dev", cpIf], topo.cp);
      }

      // 1. `wg show` in the node namespace shows exactly what labman configured.
      const dump = (await sh(["wg", "show", nodeIf, "dump"], topo.node)).trim().split("\n").map((
        l,
      ) => l.split("\t"));
      assert.equal(dump.length, 2, "one interface line and exactly one peer");
      assert.deepEqual(dump[0], [
        encodeKey(node.privateKey),
        encodeKey(node.publicKey),
        "51820",
        "off",
      ]);
      assert.deepEqual(
        [dump[1][0], dump[1][1], dump[1][2], dump[1][3], dump[1][7]],
        [encodeKey(cp.publicKey), psk, `${topo.cpIp}:51821`, "10.90.0.1/32", "off"],
      );
      const addrs = await sh(["ip", "-o", "addr", "show", "dev", nodeIf], topo.node);
      assert.match(addrs, /inet 10\.90\.0\.2\/32/);
      assert.equal(addrs.trim().split("\n").length, 1, `only the /32 on ${nodeIf}: ${addrs}`);
      const routes = (await sh(["ip", "route", "show", "dev", nodeIf], topo.node)).trim().split(
        "\n",
      );
      assert.deepEqual(routes.map((r) => r.split(" ")[0]), ["10.90.0.1"]);

      // 2. Traffic through the tunnel: an HTTP request to the WG address (the first packet also
      // triggers the handshake).
      const ok = await curl(topo.cp, `http://10.90.0.2:${port}/`);
      assert.equal(ok.code, 0);
      assert.equal(ok.body, "labman-ok\n");
      const hs = (await sh(["wg", "show", nodeIf, "latest-handshakes"], topo.node)).trim().split(
        "\t",
      );
      assert.ok(Number(hs[1]) > 0, "node completed a handshake");

      // 3. Only the proxy port answers on the node's WG address, though the node has real
      // services on 22 and 80 (bound to loopback, as node-local services should be).
      loopback = await startLoopbackServices(topo.node);
      for (const p of [22, 80]) {
        assert.equal((await curl(topo.node, `http://127.0.0.1:${p}/`)).body, "node-local\n");
      }
      for (const p of [22, 80, 51820, port === 65535 ? port - 1 : port + 1]) {
        const r = await curl(topo.cp, `http://10.90.0.2:${p}/`, 2);
        assert.notEqual(r.code, 0, `port ${p} must not answer`);
      }

      // 4. The LAN is out of reach: neither a LAN host nor the node's LAN-side address serves cp.
      lanServer = new Deno.Command("ip", {
        args: [
          "netns",
          "exec",
          topo.lan,
          Deno.execPath(),
          "eval",
          LAN_SERVER.replace("HOST", topo.lanHostIp),
        ],
        stdin: "null",
        stdout: "piped",
        stderr: "null",
      }).spawn();
      lanOut = lineReader(lanServer.stdout);
      assert.equal(await lanOut.next(30_000), "ready");
      assert.equal(
        (await curl(topo.node, `http://${topo.lanHostIp}:8080/`)).body,
        "lan\n",
        "LAN host serves the node",
      );
      assert.notEqual(
        (await curl(topo.cp, `http://${topo.lanHostIp}:8080/`, 2)).code,
        0,
        "cp reached a LAN host",
      );
      assert.notEqual(
        (await curl(topo.cp, `http://${topo.nodeLanIp}:${port}/`, 2)).code,
        0,
        "proxy answered on the LAN address",
      );

      // 5. A peer with the wrong key never completes a handshake.
      wgs.push(await startWireguardGo(topo.cp, rogueIf));
      await Deno.writeTextFile(join(tmp, "rogue.key"), encodeKey(rogue.privateKey), {
        mode: 0o600,
      });
      await sh([
        "wg",
        "set",
        rogueIf,
        "private-key",
        join(tmp, "rogue.key"),
        "listen-port",
        "51822",
        "peer",
        encodeKey(node.publicKey),
        "endpoint",
        `${topo.nodeIp}:51820`,
        "allowed-ips",
        "10.91.0.2/32",
      ], topo.cp);
      await sh(["ip", "addr", "add", "10.91.0.1/32", "dev", rogueIf], topo.cp);
      await sh(["ip", "link", "set", rogueIf, "up"], topo.cp);
      await sh(["ip", "route", "add", "10.91.0.2/32", "dev", rogueIf], topo.cp);
      await curl(topo.cp, "http://10.91.0.2:80/", 1); // only to make the rogue peer initiate
      const rogueShook = await waitFor(
        async () => {
          const line = (await sh(["wg", "show", rogueIf, "latest-handshakes"], topo!.cp)).trim()
            .split("\t");
          return Number(line[1]) > 0;
        },
        3000,
        250,
      );
      assert.equal(rogueShook, false, "a peer with an unknown key completed a handshake");
      const peersNow = (await sh(["wg", "show", nodeIf, "peers"], topo.node)).trim().split("\n");
      assert.deepEqual(peersNow, [encodeKey(cp.publicKey)]);

      // 6. Nothing about forwarding, NAT or firewall changed in the node namespace.
      const sysAfter = await sysctls(topo.node, nodeIf);
      assert.equal(sysAfter["net.ipv4.ip_forward"], sysBefore["net.ipv4.ip_forward"]);
      assert.equal(
        sysAfter["net.ipv4.conf.all.forwarding"],
        sysBefore["net.ipv4.conf.all.forwarding"],
      );
      assert.equal(
        sysAfter["net.ipv6.conf.all.forwarding"],
        sysBefore["net.ipv6.conf.all.forwarding"],
      );
      assert.equal(sysAfter[`net.ipv4.conf.${nodeIf}.forwarding`], "0");
      assert.equal(await firewall(topo.node), fwBefore);

      // 7. Tear-down removes the interface and wireguard-go.
      const w = agentProc.stdin.getWriter();
      await w.write(new TextEncoder().encode("stop\n"));
      await w.close();
      const st = await agentProc.status;
      assert.equal(st.code, 0);
      agentProc = undefined;
      assert.notEqual((await run(["ip", "link", "show", nodeIf], { ns: topo.node })).code, 0);
      await assert.rejects(Deno.stat(`/var/run/wireguard/${nodeIf}.sock`));
    } finally {
      if (agentProc) {
        try {
          const w = agentProc.stdin.getWriter();
          await w.write(new TextEncoder().encode("stop\n")).catch(() => {});
          await w.close().catch(() => {});
        } catch { /* stdin already closed */ }
        await stopChild(agentProc);
      }
      await agentOut?.done.catch(() => {});
      await agentErr?.catch(() => {});
      for (const c of wgs) await stopChild(c);
      await stopChild(lanServer);
      await stopChild(loopback);
      await lanOut?.done.catch(() => {});
      await topo?.cleanup();
      for (const n of [nodeIf, cpIf, rogueIf]) {
        await Deno.remove(`/var/run/wireguard/${n}.sock`).catch(() => {});
      }
      await Deno.remove(tmp, { recursive: true });
    }
  },
});
