/**
 * Rosenpass end to end, as root, in namespaces, over real WireGuard (wireguard-go):
 *
 *   lmtest-cp-*  wireguard-go + `wg set` (10.90.0.1) + rosenpass responder (this process,
 *                spawned inside the namespace)
 *        <-veth->
 *   lmtest-node-* labman's UserspaceBackend + RosenpassSupervisor (initiator) in a child Deno
 *                process (10.90.0.2/32)
 *
 * Run directly (`deno run -A tests/rosenpass_e2e_test.ts '<json>'`) this file is the node agent.
 * The second test waits for rosenpass's own rekey (~120 s) and is marked [slow]; set
 * LABMAN_SKIP_SLOW=1 to skip it.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type RosenpassConfig, RosenpassSchema } from "../lib/config/schema.ts";
import { generateRosenpassKeys } from "../lib/rosenpass/keys.ts";
import { RosenpassSupervisor } from "../lib/rosenpass/supervisor.ts";
import { type RosenpassChild, spawnRosenpass } from "../lib/rosenpass/child.ts";
import { bringUp, tearDown } from "../lib/wireguard/interface.ts";
import { encodeKey, generateKeyPair } from "../lib/wireguard/keys.ts";
import { UserspaceBackend } from "../lib/wireguard/userspace.ts";
import { pskTarget } from "../lib/wireguard/peer_psk.ts";
import type { WgDevice } from "../lib/wireguard/types.ts";
import {
  createTopology,
  lineReader,
  randomSuffix,
  run,
  sh,
  spawnDenoInNetns,
  startWireguardGo,
  stopChild,
  type Topology,
  waitFor,
} from "./helpers/netns.ts";

interface AgentConfig {
  ifname: string;
  address: string;
  routes: string[];
  device: WgDevice;
  rosenpass: RosenpassConfig;
  peerWgPublicKey: string;
  keyLifetimeMs: number;
}

/** The node side: WireGuard up, rosenpass supervised, until "stop" arrives on stdin. */
async function agent(cfg: AgentConfig): Promise<void> {
  const backend = new UserspaceBackend();
  let sup: RosenpassSupervisor | undefined;
  let server: Deno.HttpServer<Deno.NetAddr> | undefined;
  const ac = new AbortController();
  try {
    await bringUp({
      backend,
      spec: { name: cfg.ifname, address: cfg.address, routes: cfg.routes },
      device: cfg.device,
    });
    sup = new RosenpassSupervisor({
      config: cfg.rosenpass,
      backend: pskTarget(backend),
      iface: cfg.ifname,
      peerWgPublicKey: cfg.peerWgPublicKey,
      keyLifetimeMs: cfg.keyLifetimeMs,
    });
    await sup.start();
    server = Deno.serve(
      { hostname: cfg.address.split("/")[0], port: 0, signal: ac.signal, onListen: () => {} },
      () => new Response("labman-ok\n"),
    );
    console.log(JSON.stringify({ ready: true, port: server.addr.port }));
    const stdin = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
    for await (const chunk of stdin) if (chunk.includes("stop")) break;
  } catch (e) {
    console.log(JSON.stringify({ ready: false, error: String(e) }));
  } finally {
    ac.abort();
    await server?.finished;
    await sup?.stop();
    await tearDown({ backend, name: cfg.ifname }).catch(() => {});
    await backend.close();
  }
}

if (import.meta.main) {
  await agent(JSON.parse(Deno.args[0]!));
  Deno.exit(0);
}

const isRoot = Deno.uid() === 0;
const skipSlow = isRoot && Deno.env.get("LABMAN_SKIP_SLOW") === "1";
const CP_WG_PORT = 51821;
const NODE_WG_PORT = 51820;
const CP_RP_PORT = 9999;

/** rosenpass inside a namespace: `ip netns exec` execs, so the pid stays rosenpass's. */
function spawnIn(ns: string) {
  return (binary: string, configPath: string): RosenpassChild =>
    spawnRosenpass(binary, configPath, { prefix: ["ip", "netns", "exec", ns] });
}

async function wgPsk(ns: string, ifname: string): Promise<string> {
  const out = (await sh(["wg", "show", ifname, "preshared-keys"], ns)).trim();
  return out.split("\t")[1] ?? "";
}

/** One HTTP request through the tunnel (curl from the namespace). */
async function httpOnce(ns: string, url: string): Promise<boolean> {
  const r = await run(["curl", "-sS", "--max-time", "2", url], { ns, timeoutMs: 8_000 });
  return r.code === 0 && r.stdout === "labman-ok\n";
}

async function httpOk(ns: string, url: string, timeoutMs: number): Promise<boolean> {
  return await waitFor(() => httpOnce(ns, url), timeoutMs, 200);
}

interface Rig {
  topo: Topology;
  tmp: string;
  nodeIf: string;
  cpIf: string;
  nodeWgPk: string;
  /** The node's HTTP server on its WireGuard address. */
  url: string;
  makeCp(): RosenpassSupervisor;
  /** Flushes cp's WireGuard session for the node (remove + re-add), keeping cp's current PSK. */
  flushCpSession(): Promise<void>;
  stop(): Promise<void>;
}

/** Namespaces, wireguard-go on cp, the node agent; cp's rosenpass is left to the test. */
async function rig(keyLifetimeMs: number): Promise<Rig> {
  const id = randomSuffix();
  const nodeIf = `lmn${id}`, cpIf = `lmc${id}`;
  const tmp = await Deno.makeTempDir();
  const topo = await createTopology();
  let wgo: Deno.ChildProcess | undefined;
  let agentProc: Deno.ChildProcess | undefined;
  let agentOut: ReturnType<typeof lineReader> | undefined;
  let agentErr: Promise<string> | undefined;
  const stop = async () => {
    if (agentProc) {
      try {
        const w = agentProc.stdin.getWriter();
        await w.write(new TextEncoder().encode("stop\n")).catch(() => {});
        await w.close().catch(() => {});
      } catch { /* closed */ }
      // The agent stops its rosenpass child on "stop"; a signal now would orphan that child.
      let timer: ReturnType<typeof setTimeout> | undefined;
      const exited = await Promise.race([
        agentProc.status.then(() => true),
        new Promise<boolean>((r) => timer = setTimeout(() => r(false), 8_000)),
      ]);
      clearTimeout(timer);
      if (!exited) await stopChild(agentProc);
    }
    await agentOut?.done.catch(() => {});
    await agentErr?.catch(() => "");
    await stopChild(wgo);
    await topo.cleanup();
    for (const n of [nodeIf, cpIf]) {
      await Deno.remove(`/var/run/wireguard/${n}.sock`).catch(() => {});
    }
    await Deno.remove(tmp, { recursive: true });
  };
  try {
    const nodeWg = await generateKeyPair(), cpWg = await generateKeyPair();
    const rp = (side: string) => ({
      secretKeyPath: join(tmp, side, "pqsk"),
      publicKeyPath: join(tmp, side, "pqpk"),
    });
    await generateRosenpassKeys(rp("node"));
    await generateRosenpassKeys(rp("cp"));

    // cp: plain wireguard-go configured with wg(8); no PSK until its rosenpass supervisor sets one.
    wgo = await startWireguardGo(topo.cp, cpIf);
    await Deno.writeTextFile(join(tmp, "cp.key"), encodeKey(cpWg.privateKey), { mode: 0o600 });
    const nodeWgPk = encodeKey(nodeWg.publicKey);
    const addPeer = async (pskFile?: string) => {
      await sh([
        "wg",
        "set",
        cpIf,
        "private-key",
        join(tmp, "cp.key"),
        "listen-port",
        String(CP_WG_PORT),
        "peer",
        nodeWgPk,
        ...(pskFile ? ["preshared-key", pskFile] : []),
        "endpoint",
        `${topo.nodeIp}:${NODE_WG_PORT}`,
        "allowed-ips",
        "10.90.0.2/32",
      ], topo.cp);
    };
    await addPeer();
    await sh(["ip", "addr", "add", "10.90.0.1/32", "dev", cpIf], topo.cp);
    await sh(["ip", "link", "set", cpIf, "up"], topo.cp);
    await sh(["ip", "route", "add", "10.90.0.2/32", "dev", cpIf], topo.cp);
    const cpPskFile = join(tmp, "cp.psk");

    // node: the agent in its namespace.
    const cfg: AgentConfig = {
      ifname: nodeIf,
      address: "10.90.0.2/32",
      routes: ["10.90.0.1/32"],
      device: {
        name: nodeIf,
        privateKey: encodeKey(nodeWg.privateKey),
        listenPort: NODE_WG_PORT,
        peers: [{
          publicKey: encodeKey(cpWg.publicKey),
          endpoint: `${topo.cpIp}:${CP_WG_PORT}`,
          allowedIps: ["10.90.0.1/32"],
        }],
      },
      rosenpass: RosenpassSchema.parse({
        secret_key_path: rp("node").secretKeyPath,
        public_key_path: rp("node").publicKeyPath,
        peer_public_key_path: rp("cp").publicKeyPath,
        peer_endpoint: `${topo.cpIp}:${CP_RP_PORT}`,
        listen: "0.0.0.0:0",
        state_dir: join(tmp, "node-state"),
      }),
      peerWgPublicKey: encodeKey(cpWg.publicKey),
      keyLifetimeMs,
    };
    const agent = await spawnDenoInNetns(topo.node, new URL(import.meta.url).pathname, [
      JSON.stringify(cfg),
    ]);
    agentProc = agent.child;
    agentOut = agent.out;
    agentErr = agent.err;
    const hello = agent.hello as { ready: boolean; error?: string; port: number };
    assert.equal(hello.ready, true, hello.error);
    const url = `http://10.90.0.2:${hello.port}/`;

    const cpConfig = RosenpassSchema.parse({
      secret_key_path: rp("cp").secretKeyPath,
      public_key_path: rp("cp").publicKeyPath,
      peer_public_key_path: rp("node").publicKeyPath,
      listen: `${topo.cpIp}:${CP_RP_PORT}`,
      state_dir: join(tmp, "cp-state"),
    });
    return {
      topo,
      tmp,
      nodeIf,
      cpIf,
      nodeWgPk,
      url,
      makeCp: () =>
        new RosenpassSupervisor({
          config: cpConfig,
          iface: cpIf,
          peerWgPublicKey: nodeWgPk,
          spawn: spawnIn(topo.cp),
          backend: {
            async setPeerPsk(iface, peer, psk) {
              await Deno.writeTextFile(cpPskFile, psk, { mode: 0o600 });
              await sh(["wg", "set", iface, "peer", peer, "preshared-key", cpPskFile], topo.cp);
            },
          },
        }),
      async flushCpSession() {
        await sh(["wg", "set", cpIf, "peer", nodeWgPk, "remove"], topo.cp);
        await addPeer(cpPskFile);
      },
      stop,
    };
  } catch (e) {
    const err = await agentErr?.catch(() => "");
    await stop();
    throw new Error(`${e}\nagent stderr:\n${err?.slice(-4000) ?? ""}`);
  }
}

Deno.test({
  name:
    "rosenpass e2e: PSKs agree over real WireGuard, fail closed when the peer dies, recover (root)",
  ignore: !isRoot,
  async fn() {
    const r = await rig(6_000);
    let cp: RosenpassSupervisor | undefined;
    try {
      const { topo, nodeIf, cpIf } = r;
      cp = r.makeCp();
      await cp.start();
      const agreed = async () => {
        const [a, b] = [await wgPsk(topo.node, nodeIf), await wgPsk(topo.cp, cpIf)];
        return a !== "" && a !== "(none)" && a === b;
      };

      // 1. Both WireGuard devices carry the same rosenpass PSK and the tunnel works.
      assert.ok(await waitFor(agreed, 20_000, 200), "PSKs never agreed");
      assert.ok(await httpOk(topo.cp, r.url, 15_000), "no traffic with the exchanged PSK");
      const shared = await wgPsk(topo.node, nodeIf);

      // 2. cp's rosenpass dies: within the key lifetime the node installs a random PSK, and a
      //    its WireGuard session is dropped with it, so traffic stops at once (no rekey wait).
      assert.ok(await waitFor(agreed, 10_000, 200));
      const beforeKill = await wgPsk(topo.node, nodeIf);
      Deno.kill(cp.pid!, "SIGKILL");
      await cp.stop();
      cp = undefined;
      assert.ok(
        await waitFor(async () => (await wgPsk(topo.node, nodeIf)) !== beforeKill, 12_000, 200),
        "node kept the old PSK past its lifetime",
      );
      const random = await wgPsk(topo.node, nodeIf);
      assert.notEqual(random, await wgPsk(topo.cp, cpIf));
      assert.notEqual(random, btoa("\0".repeat(32)));
      assert.equal(await httpOk(topo.cp, r.url, 4_000), false, "traffic flowed on a random PSK");

      // 3. cp's rosenpass returns: the node re-initiates, PSKs agree and traffic flows again.
      cp = r.makeCp();
      await cp.start();
      assert.ok(await waitFor(agreed, 20_000, 200), "PSKs did not agree again");
      assert.notEqual(await wgPsk(topo.node, nodeIf), shared);
      await r.flushCpSession();
      assert.ok(await httpOk(topo.cp, r.url, 20_000), "no traffic after recovery");
    } finally {
      await cp?.stop();
      await r.stop();
    }
  },
});

Deno.test({
  name:
    "[slow ~135 s] rosenpass e2e: the PSK changes at rosenpass's rekey while traffic keeps flowing (root)",
  ignore: !isRoot || skipSlow,
  async fn() {
    const r = await rig(180_000);
    let cp: RosenpassSupervisor | undefined;
    try {
      const { topo, nodeIf, cpIf } = r;
      cp = r.makeCp();
      await cp.start();
      const psks = async () => [await wgPsk(topo.node, nodeIf), await wgPsk(topo.cp, cpIf)];
      assert.ok(
        await waitFor(
          async () => {
            const [a, b] = await psks();
            return a !== "(none)" && a === b;
          },
          20_000,
          200,
        ),
      );
      const [first] = await psks();
      assert.ok(await httpOk(topo.cp, r.url, 15_000));

      // One request every ~0.5 s through the tunnel while waiting for the rekey (responder
      // rekeys after 120 s); the loop is bounded by its deadline.
      let sent = 0, failed = 0, rekeyed = false, afterRekey = 0;
      const deadline = Date.now() + 170_000;
      while (Date.now() < deadline && afterRekey < 6) {
        sent++;
        if (!(await httpOnce(topo.cp, r.url))) failed++;
        if (!rekeyed) {
          const [a, b] = await psks();
          rekeyed = a !== first && a === b;
        } else afterRekey++; // keep going a little after the change, too
        await new Promise((res) => setTimeout(res, 500));
      }
      assert.ok(
        rekeyed,
        "no rekey within 170 s (rosenpass rekeys 130 s after the initiator's handshake)",
      );
      assert.ok(cp.status().exchanges >= 2);
      assert.ok(sent > 100, `only ${sent} requests sent`);
      assert.ok(failed <= 2, `${failed} of ${sent} requests failed across the rekey`);
    } finally {
      await cp?.stop();
      await r.stop();
    }
  },
});
