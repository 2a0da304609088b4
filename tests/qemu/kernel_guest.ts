/**
 * Runs inside the QEMU guest (a kernel with wireguard.ko, root, host `/` read-only over 9p):
 * exercises the real KernelBackend through lib/wireguard's public API and prints one line
 * `LABMAN-KERNEL-RESULT {json}` on the console for tests/wireguard_kernel_test.ts to assert.
 * Every check runs even if an earlier one failed; each records its error.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  bringUp,
  encodeKey,
  generateKeyPair,
  generatePresharedKey,
  KernelBackend,
  peerRoutes,
  selectBackend,
  setPeerPsk,
  status,
  type WgDevice,
  type WgPeer,
  type WireGuardBackend,
} from "../../lib/wireguard/mod.ts";
// Internals, used only to count the netlink messages of a split SET and a multi-part dump.
import { getDeviceMessage, setDeviceMessages } from "../../lib/wireguard/genl.ts";
import { resolveWireGuardFamily } from "../../lib/wireguard/kernel.ts";
import { NETLINK_GENERIC, NetlinkSocket } from "../../lib/wireguard/netlink_socket.ts";
import { RESULT_MARKER } from "./qemu.ts";
import { BACKEND_CONTRACT, BACKEND_CONTRACT_NAMES } from "../../lib/wireguard/_backend_contract.ts";

/**
 * Every check the guest reports, in order; the host test requires each one, and each to pass.
 * The `contract:` checks are the backend contract suite every backend runs.
 */
export const CHECKS: readonly string[] = [
  "select auto picks kernel",
  "bringUp address, mtu and routes",
  "get round-trips every field",
  "wg show agrees",
  "setPeerPsk changes only the PSK",
  "destroy removes the link",
  "two netns handshake and pass traffic",
  "nothing left behind",
  ...BACKEND_CONTRACT_NAMES.map((n) => `contract: ${n}`),
  "large peer list split and merged",
];

export interface CheckResult {
  name: string;
  ok: boolean;
  ms: number;
  error?: string;
}

export interface GuestResult {
  checks: CheckResult[];
  info: Record<string, string | number | boolean>;
  totalMs: number;
}

const dec = new TextDecoder();
const BUSYBOX = Deno.env.get("LMBUSYBOX") ?? "busybox";

async function run(cmd: string[], timeoutMs = 30_000) {
  const child = new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
  }, timeoutMs);
  try {
    const out = await child.output();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  } finally {
    clearTimeout(timer);
  }
}

async function sh(cmd: string[]): Promise<string> {
  const r = await run(cmd);
  if (r.code !== 0) throw new Error(`${cmd.join(" ")} exited ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

const sorted = (xs: string[] | undefined): string[] => [...(xs ?? [])].sort();
const b64 = (k: Uint8Array): string => encodeKey(k);
const ZERO_KEY = b64(new Uint8Array(32));

interface IpLink {
  ifname: string;
  mtu: number;
  flags: string[];
  linkinfo?: { info_kind?: string };
}

async function linkNames(): Promise<string[]> {
  return (JSON.parse(await sh(["ip", "-j", "link", "show"])) as IpLink[]).map((l) => l.ifname);
}

/** `ip -j route show dev X` destinations, normalised to CIDR form. */
async function routesOf(dev: string, family: "-4" | "-6"): Promise<string[]> {
  const rs = JSON.parse(await sh(["ip", "-j", family, "route", "show", "dev", dev])) as {
    dst: string;
  }[];
  return rs.map((r) => r.dst.includes("/") ? r.dst : `${r.dst}/${family === "-4" ? 32 : 128}`)
    .sort();
}

/** Field-by-field comparison of a peer read back against what was set. */
function assertPeer(got: WgPeer | undefined, want: WgPeer, what: string): void {
  assert.ok(got, `${what}: peer ${want.publicKey} missing`);
  assert.equal(got.publicKey, want.publicKey, `${what}: publicKey`);
  // The kernel always reports a PSK; all zeros means none.
  assert.equal(got.presharedKey, want.presharedKey ?? ZERO_KEY, `${what}: presharedKey`);
  assert.equal(got.endpoint, want.endpoint, `${what}: endpoint`);
  assert.equal(got.persistentKeepaliveS, want.persistentKeepaliveS ?? 0, `${what}: keepalive`);
  assert.deepEqual(sorted(got.allowedIps), sorted(want.allowedIps), `${what}: allowedIps`);
  assert.equal(got.protocolVersion, 1, `${what}: protocolVersion`);
}

async function main(): Promise<GuestResult> {
  const started = performance.now();
  const checks: CheckResult[] = [];
  const info: GuestResult["info"] = {};
  const check = async (name: string, fn: () => Promise<void>) => {
    const t = performance.now();
    try {
      await fn();
      checks.push({ name, ok: true, ms: Math.round(performance.now() - t) });
    } catch (e) {
      const error = e instanceof Error
        ? `${e.message}\n${e.stack ?? ""}`.slice(0, 1500)
        : String(e);
      checks.push({ name, ok: false, ms: Math.round(performance.now() - t), error });
    }
  };
  info.kernel = Deno.osRelease();
  const linksBefore = await linkNames();

  let backend: WireGuardBackend | undefined;
  await check("select auto picks kernel", async () => {
    const sel = await selectBackend("auto");
    backend = sel.backend;
    info.selectReason = sel.reason;
    assert.equal(sel.backend.kind, "kernel");
    assert.ok(sel.backend instanceof KernelBackend, "not a KernelBackend");
    assert.match(sel.reason, /^auto: kernel WireGuard present \(genl family id \d+\)$/);
    assert.deepEqual(await linkNames(), linksBefore, "the probe left a link behind");
  });
  const be = backend ?? new KernelBackend();

  // --- labman0: the interface as labmand brings it up ---
  const node = await generateKeyPair();
  const cp = await generateKeyPair();
  const psk1 = b64(generatePresharedKey());
  const cpPeer: WgPeer = {
    publicKey: b64(cp.publicKey),
    presharedKey: psk1,
    endpoint: "192.0.2.1:51820",
    persistentKeepaliveS: 25,
    allowedIps: ["10.90.0.1/32", "10.91.0.0/24"],
  };
  const device: WgDevice = {
    name: "labman0",
    privateKey: b64(node.privateKey),
    listenPort: 51820,
    peers: [cpPeer],
  };

  await check("bringUp address, mtu and routes", async () => {
    await bringUp({
      backend: be,
      spec: { name: "labman0", address: "10.90.0.2/32", routes: peerRoutes(device) },
      device,
    });
    const [link] = JSON.parse(
      await sh(["ip", "-j", "-d", "link", "show", "dev", "labman0"]),
    ) as IpLink[];
    assert.equal(link.linkinfo?.info_kind, "wireguard");
    assert.equal(link.mtu, 1420);
    assert.ok(link.flags.includes("UP"), `flags ${link.flags}`);
    const [addrs] = JSON.parse(await sh(["ip", "-j", "addr", "show", "dev", "labman0"])) as {
      addr_info: { family: string; local: string; prefixlen: number }[];
    }[];
    assert.deepEqual(
      addrs.addr_info.map((a) => `${a.family} ${a.local}/${a.prefixlen}`),
      ["inet 10.90.0.2/32"],
      "exactly one /32 and no IPv6 link-local",
    );
    assert.deepEqual(await routesOf("labman0", "-4"), ["10.90.0.1/32", "10.91.0.0/24"]);
    assert.deepEqual(await routesOf("labman0", "-6"), []);
  });

  await check("get round-trips every field", async () => {
    const got = await be.get("labman0");
    assert.equal(got.name, "labman0");
    assert.equal(got.privateKey, device.privateKey);
    assert.equal(got.publicKey, b64(node.publicKey));
    assert.equal(got.listenPort, 51820);
    assert.equal(got.fwmark ?? 0, 0);
    assert.equal(got.peers.length, 1);
    assertPeer(got.peers[0], cpPeer, "labman0");
    assert.equal(got.peers[0].lastHandshakeMs ?? 0, 0, "no handshake yet");
    assert.equal(got.peers[0].rxBytes, 0);
  });

  await check("wg show agrees", async () => {
    const got = await be.get("labman0");
    const [dev, peer, ...rest] = (await sh(["wg", "show", "labman0", "dump"])).trim().split("\n")
      .map((l) => l.split("\t"));
    assert.equal(rest.length, 0, "one peer");
    assert.deepEqual(dev, [got.privateKey, got.publicKey, String(got.listenPort), "off"]);
    const p = got.peers[0];
    assert.deepEqual(
      [peer[0], peer[1], peer[2], sorted(peer[3].split(",")).join(","), peer[7]],
      [p.publicKey, p.presharedKey, p.endpoint, sorted(p.allowedIps).join(","), "25"],
    );
    assert.equal(peer[4], "0", "latest handshake");
  });

  await check("setPeerPsk changes only the PSK", async () => {
    const before = await be.get("labman0");
    const psk2 = b64(generatePresharedKey());
    await setPeerPsk(be, "labman0", cpPeer.publicKey, psk2);
    const after = await be.get("labman0");
    assert.equal(after.peers[0].presharedKey, psk2);
    const strip = (d: WgDevice) => ({
      ...d,
      peers: d.peers.map(({ presharedKey: _, txBytes: _t, lastHandshakeMs: _h, ...p }) => ({
        ...p,
        allowedIps: sorted(p.allowedIps),
      })),
    });
    assert.deepEqual(strip(after), strip(before));
    const shown = (await sh(["wg", "show", "labman0", "preshared-keys"])).trim();
    assert.equal(shown, `${cpPeer.publicKey}\t${psk2}`);
    // update-only: a PSK for an unknown peer must not create one.
    await setPeerPsk(be, "labman0", b64(crypto.getRandomValues(new Uint8Array(32))), psk2);
    assert.equal((await be.get("labman0")).peers.length, 1, "setPeerPsk created a peer");
  });

  await check("destroy removes the link", async () => {
    await be.destroy("labman0");
    assert.ok(!(await linkNames()).includes("labman0"), "labman0 still listed");
    assert.notEqual((await run(["ip", "link", "show", "dev", "labman0"])).code, 0);
    const left = (await sh(["ip", "route", "show", "table", "all"])).split("\n")
      .filter((l) => /10\.9[01]\.0\./.test(l));
    assert.deepEqual(left, [], "routes of labman0 left behind");
    await assert.rejects(be.get("labman0"), /ENODEV/);
    await be.destroy("labman0"); // idempotent
  });

  // --- two kernel interfaces talking: lmwga (root netns) <-> lmwgb (netns lmns-b) ---
  await check("two netns handshake and pass traffic", async () => {
    const a = await generateKeyPair(), b = await generateKeyPair();
    const psk = b64(generatePresharedKey());
    const devA: WgDevice = {
      name: "lmwga",
      privateKey: b64(a.privateKey),
      listenPort: 51901,
      peers: [{
        publicKey: b64(b.publicKey),
        presharedKey: psk,
        endpoint: "127.0.0.1:51902",
        allowedIps: ["10.77.0.2/32"],
      }],
    };
    const devB: WgDevice = {
      name: "lmwgb",
      privateKey: b64(b.privateKey),
      listenPort: 51902,
      peers: [{
        publicKey: b64(a.publicKey),
        presharedKey: psk,
        endpoint: "127.0.0.1:51901",
        allowedIps: ["10.77.0.1/32"],
      }],
    };
    const ns = "lmns-b";
    const ac = new AbortController();
    let server: Deno.HttpServer<Deno.NetAddr> | undefined;
    try {
      await bringUp({
        backend: be,
        spec: { name: "lmwga", address: "10.77.0.1/32", routes: peerRoutes(devA) },
        device: devA,
      });
      // B is configured through the backend too, then moved into its own namespace. Its UDP
      // socket stays in the namespace that created it (root), so both ends meet on 127.0.0.1.
      await bringUp({
        backend: be,
        spec: { name: "lmwgb", address: "10.77.0.2/32", routes: [] },
        device: devB,
      });
      await sh(["ip", "netns", "add", ns]);
      await sh(["ip", "link", "set", "lmwgb", "netns", ns]);
      await sh(["ip", "-n", ns, "link", "set", "lo", "up"]);
      await sh(["ip", "-n", ns, "addr", "add", "10.77.0.2/32", "dev", "lmwgb"]);
      await sh(["ip", "-n", ns, "link", "set", "lmwgb", "up"]);
      await sh(["ip", "-n", ns, "route", "add", "10.77.0.1/32", "dev", "lmwgb"]);

      const ping = await run([BUSYBOX, "ping", "-c", "3", "-w", "20", "10.77.0.2"], 30_000);
      info.ping = ping.stdout.trim().split("\n").at(-1) ?? "";
      assert.equal(ping.code, 0, `ping through the tunnel failed: ${ping.stdout}${ping.stderr}`);

      server = Deno.serve(
        { hostname: "10.77.0.1", port: 0, signal: ac.signal, onListen: () => {} },
        () => new Response("labman-ok\n"),
      );
      const url = `http://10.77.0.1:${server.addr.port}/`;
      // curl from the host root (busybox-static's wget segfaults in Debian 12).
      const curl = await run(["ip", "netns", "exec", ns, "curl", "-sS", "-m", "15", url], 30_000);
      assert.equal(
        curl.stdout,
        "labman-ok\n",
        `HTTP from ${ns} over the tunnel: exit ${curl.code}: ${curl.stderr}`,
      );

      const got = (await be.get("lmwga")).peers[0];
      assert.ok((got.lastHandshakeMs ?? 0) > 0, "no handshake recorded");
      assert.ok((got.rxBytes ?? 0) > 0 && (got.txBytes ?? 0) > 0, "no bytes counted");
      const st = await status(be, "lmwga");
      const age = st.peers[0].lastHandshakeAgeS;
      assert.ok(age !== null && age < 120, `handshake age ${age}`);
      info.handshakeAgeS = Math.round(age);
      const hs = (await sh(["ip", "netns", "exec", ns, "wg", "show", "lmwgb", "latest-handshakes"]))
        .trim().split("\t");
      assert.equal(hs[0], b64(a.publicKey));
      assert.ok(Number(hs[1]) > 0, "B saw no handshake");
    } finally {
      ac.abort();
      await server?.finished;
      await be.destroy("lmwga").catch(() => {});
      await run(["ip", "netns", "del", ns]);
    }
  });

  await check("nothing left behind", async () => {
    for (const n of ["labman0", "lmwga", "lmwgb"]) await be.destroy(n);
    assert.deepEqual(await linkNames(), linksBefore);
  });

  // --- the contract suite every backend runs (lib/wireguard/_backend_contract.ts) ---
  for (const [i, c] of BACKEND_CONTRACT.entries()) {
    await check(`contract: ${c.name}`, async () => {
      const ifname = `lmct${i}`;
      try {
        await c.run({
          backend: be,
          ifname,
          address: `198.18.0.${i + 2}/32`,
          listenPort: 51950 + i,
        });
      } finally {
        await be.destroy(ifname).catch(() => {});
      }
      assert.deepEqual(await linkNames(), linksBefore, "the case left a link behind");
    });
  }

  // --- a big device: SET split over many messages, GET dump in many parts ---
  await check("large peer list split and merged", async () => {
    const t0 = performance.now();
    const big = "lmbig0";
    const peers: WgPeer[] = [];
    for (let i = 0; i < 1000; i++) {
      peers.push({
        publicKey: b64(crypto.getRandomValues(new Uint8Array(32))),
        allowedIps: [
          `10.${100 + (i >> 8)}.${i & 255}.0/24`,
          `fd00:${(i + 1).toString(16)}::/64`,
        ],
      });
    }
    // One peer with more allowed IPs than fit in a message: continued across messages both ways.
    const wide: WgPeer = {
      publicKey: b64(crypto.getRandomValues(new Uint8Array(32))),
      presharedKey: b64(generatePresharedKey()),
      endpoint: "[2001:db8::1]:51820",
      persistentKeepaliveS: 0,
      allowedIps: Array.from({ length: 500 }, (_, j) => `10.200.${j >> 8}.${j & 255}/32`),
    };
    peers.splice(500, 0, wide);
    const dev: WgDevice = {
      name: big,
      privateKey: b64((await generateKeyPair()).privateKey),
      listenPort: 51830,
      replacePeers: true,
      peers,
    };
    info.bigPrepMs = Math.round(performance.now() - t0);
    await be.create({ name: big, address: "10.98.0.1/32", routes: [] });
    // Stale peers that the big set's REPLACE_PEERS (first message only) must drop. Kept few:
    // the kernel removes peers one by one with a synchronize_net(), ~16 ms each under TCG.
    const stale = Array.from({ length: 3 }, () => ({
      publicKey: b64(crypto.getRandomValues(new Uint8Array(32))),
      allowedIps: ["10.100.0.0/24"],
    }));
    await be.set({ name: big, peers: stale });
    assert.equal((await be.get(big)).peers.length, 3);
    info.setMessages = setDeviceMessages(1, dev).length;
    const t = performance.now();
    await be.set(dev);
    info.setMs = Math.round(performance.now() - t);
    assert.ok(Number(info.setMessages) > 10, `only ${info.setMessages} SET messages`);

    const sock = NetlinkSocket.open(NETLINK_GENERIC);
    try {
      const fam = await resolveWireGuardFamily(sock);
      info.familyId = fam;
      info.dumpMessages = (await sock.request(getDeviceMessage(fam, big), "dump")).length;
    } finally {
      sock.close();
    }
    assert.ok(Number(info.dumpMessages) > 1, "dump came in one message");

    const t2 = performance.now();
    const got = await be.get(big);
    info.getMs = Math.round(performance.now() - t2);
    assert.equal(got.listenPort, 51830);
    assert.equal(got.peers.length, peers.length, "peer count (stale peers replaced)");
    assert.equal(new Set(got.peers.map((p) => p.publicKey)).size, peers.length, "duplicates");
    const byKey = new Map(got.peers.map((p) => [p.publicKey, p]));
    for (const want of peers) assertPeer(byKey.get(want.publicKey), want, big);
    info.allowedIpsRead = got.peers.reduce((n, p) => n + (p.allowedIps?.length ?? 0), 0);

    info.verifyMs = Math.round(performance.now() - t2);
    const wgPeers = (await sh(["wg", "show", big, "peers"])).trim().split("\n");
    assert.equal(wgPeers.length, peers.length, "wg show peers");
    const wgIps = (await sh(["wg", "show", big, "allowed-ips"])).trim().split("\n")
      .reduce((n, l) => n + l.split("\t")[1].split(" ").length, 0);
    assert.equal(wgIps, 2500, "wg show allowed-ips");

    info.wgShowMs = Math.round(performance.now() - t2);
    // Not destroyed: the kernel frees peers one by one with an RCU grace period each (~16 ms
    // under TCG, 16 s for this device), and RTM_DELLINK is already checked on labman0. The
    // guest powers off right after this check.
  });

  await be.close();
  return { checks, info, totalMs: Math.round(performance.now() - started) };
}

if (import.meta.main) {
  let result: GuestResult;
  try {
    result = await main();
  } catch (e) {
    result = {
      checks: [{ name: "guest crashed", ok: false, ms: 0, error: String(e) }],
      info: {},
      totalMs: 0,
    };
  }
  console.log(RESULT_MARKER + JSON.stringify(result));
  Deno.exit(0);
}
