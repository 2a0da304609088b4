import assert from "node:assert/strict";
import fc from "fast-check";
import {
  decodeSockaddr,
  encodeSockaddr,
  getDeviceMessage,
  getFamilyMessage,
  parseDeviceDump,
  parseFamilyId,
  setDeviceMessages,
  WGDEVICE_A_FLAGS,
  WGDEVICE_A_IFNAME,
  WGDEVICE_A_LISTEN_PORT,
  WGDEVICE_A_PEERS,
  WGDEVICE_A_PRIVATE_KEY,
  WGPEER_A_ALLOWEDIPS,
  WGPEER_A_FLAGS,
  WGPEER_A_PUBLIC_KEY,
  WGPEER_F_REPLACE_ALLOWEDIPS,
  WGPEER_F_UPDATE_ONLY,
} from "./genl.ts";
import { encodeKey } from "./keys.ts";
import { attr, NLM_F_DUMP, NLM_F_REQUEST, NLMSG_DONE, parseAttrs, parseMessages } from "./nlmsg.ts";
import type { WgDevice, WgPeer } from "./types.ts";
import { hexBytes, loadVector, toHex } from "./_vectors.ts";

const key = (b: number) => encodeKey(new Uint8Array(32).fill(b));
const keyN = (n: number) => {
  const k = new Uint8Array(32);
  new DataView(k.buffer).setUint32(0, n + 1);
  return encodeKey(k);
};

Deno.test("GETFAMILY request and reply match the vector", () => {
  const v = loadVector("genl_getfamily_wireguard.json");
  assert.equal(toHex(getFamilyMessage("wireguard")), toHex(hexBytes(v.hex)));
  assert.equal(parseFamilyId(parseMessages(hexBytes(v.reply_hex!))[0]), v.expect.family_id);
});

Deno.test("SET_DEVICE with every attribute matches the vector", () => {
  const v = loadVector("wg_set_device.json");
  const msgs = setDeviceMessages(35, {
    name: "wg0",
    privateKey: key(0x11),
    listenPort: 51820,
    replacePeers: true,
    peers: [{
      publicKey: key(0x22),
      presharedKey: key(0x33),
      endpoint: "192.0.2.2:51820",
      persistentKeepaliveS: 25,
      replaceAllowedIps: true,
      allowedIps: ["10.90.0.1/32"],
    }],
  });
  assert.equal(msgs.length, 1);
  assert.equal(toHex(msgs[0]), toHex(hexBytes(v.hex)));
});

Deno.test("GET_DEVICE dump in two messages coalesces the split peer", () => {
  const msgs = parseMessages(hexBytes(loadVector("wg_get_device_dump.json").hex));
  assert.equal(msgs.length, 3);
  assert.equal(msgs[2].type, NLMSG_DONE);
  const dev = parseDeviceDump(msgs.slice(0, 2));
  assert.deepEqual(dev, {
    name: "wg0",
    ifindex: 7,
    listenPort: 51820,
    fwmark: 0,
    privateKey: key(0x11),
    publicKey: key(0x55),
    peers: [
      {
        publicKey: key(0x22),
        presharedKey: key(0x33),
        lastHandshakeMs: 1_700_000_000_500,
        rxBytes: 1000,
        txBytes: 2000,
        persistentKeepaliveS: 25,
        protocolVersion: 1,
        endpoint: "192.0.2.2:51820",
        allowedIps: ["10.90.0.1/32", "10.90.0.2/32"],
      },
      { publicKey: key(0x44), allowedIps: ["fd00::/64"] },
    ],
  });
});

Deno.test("GET_DEVICE request is a dump by name", () => {
  const [m] = parseMessages(getDeviceMessage(35, "labman0"));
  assert.equal(m.type, 35);
  assert.equal(m.flags, NLM_F_REQUEST | NLM_F_DUMP);
  assert.deepEqual(Array.from(m.payload.subarray(0, 4)), [0, 1, 0, 0]);
  assert.equal(attr.str(parseAttrs(m.payload.subarray(4))[0]), "labman0");
});

Deno.test("sockaddr: family host order, port network order, v4 and v6", () => {
  assert.equal(toHex(encodeSockaddr("192.0.2.2:51820")), "0200ca6cc00002020000000000000000");
  const v6 = encodeSockaddr("[2001:db8::1]:443");
  assert.equal(v6.length, 28);
  assert.equal(toHex(v6.subarray(0, 8)), "0a0001bb00000000");
  assert.equal(decodeSockaddr(v6), "[2001:db8::1]:443");
  assert.equal(decodeSockaddr(new Uint8Array(16)), undefined);
});

function attrsOf(msg: Uint8Array) {
  return parseAttrs(parseMessages(msg)[0].payload.subarray(4));
}

Deno.test("a large SET splits like wireguard-tools: device attrs once, peers resumed", () => {
  const peers: WgPeer[] = Array.from({ length: 120 }, (_, i) => ({
    publicKey: keyN(i),
    presharedKey: key(0x33),
    endpoint: `192.0.2.${i % 250 + 1}:51820`,
    persistentKeepaliveS: 25,
    replaceAllowedIps: true,
    allowedIps: [`10.${i}.0.0/16`, `fd00:${(i + 1).toString(16)}::/64`],
  }));
  // One peer with so many IPs that it must continue across messages.
  peers.splice(60, 0, {
    publicKey: key(0x77),
    updateOnly: true,
    replaceAllowedIps: true,
    presharedKey: key(0x34),
    allowedIps: Array.from({ length: 400 }, (_, i) => `10.200.${i >> 8}.${i & 255}/32`),
  });
  const device: WgDevice = {
    name: "labman0",
    privateKey: key(0x11),
    listenPort: 51820,
    replacePeers: true,
    peers,
  };
  const msgs = setDeviceMessages(35, device, 4096);
  assert.ok(msgs.length > 5, `${msgs.length} messages`);
  for (const [i, m] of msgs.entries()) {
    assert.ok(m.length <= 4096);
    const types = attrsOf(m).map((a) => a.type);
    assert.equal(types[0], WGDEVICE_A_IFNAME);
    if (i === 0) {
      assert.ok(types.includes(WGDEVICE_A_PRIVATE_KEY) && types.includes(WGDEVICE_A_FLAGS));
      assert.ok(types.includes(WGDEVICE_A_LISTEN_PORT));
    } else {
      assert.deepEqual(types, [WGDEVICE_A_IFNAME, WGDEVICE_A_PEERS], `message ${i}`);
    }
  }
  // Continuations of the big peer carry only key, UPDATE_ONLY and more IPs (no REPLACE_ALLOWEDIPS,
  // which would wipe the IPs sent so far, and no PSK).
  const parts = msgs.flatMap((m) =>
    attrsOf(m).filter((a) => a.type === WGDEVICE_A_PEERS).flatMap((p) => parseAttrs(p.value))
      .map((n) => parseAttrs(n.value))
      .filter((pa) =>
        pa.some((a) => a.type === WGPEER_A_PUBLIC_KEY && encodeKey(a.value) === key(0x77))
      )
  );
  assert.ok(parts.length >= 2, `big peer in ${parts.length} parts`);
  const flagsOf = (pa: typeof parts[0]) => attr.u32(pa.find((a) => a.type === WGPEER_A_FLAGS)!);
  assert.equal(flagsOf(parts[0]), WGPEER_F_UPDATE_ONLY | WGPEER_F_REPLACE_ALLOWEDIPS);
  for (const cont of parts.slice(1)) {
    assert.equal(flagsOf(cont), WGPEER_F_UPDATE_ONLY);
    assert.deepEqual(
      cont.map((a) => a.type).sort(),
      [WGPEER_A_PUBLIC_KEY, WGPEER_A_FLAGS, WGPEER_A_ALLOWEDIPS].sort(),
    );
  }
  // The messages re-read as a dump give back exactly what was asked (same nesting as GET).
  const back = parseDeviceDump(msgs.flatMap((m) => parseMessages(m)));
  assert.equal(back.peers.length, peers.length);
  for (const [i, p] of peers.entries()) {
    assert.equal(back.peers[i].publicKey, p.publicKey);
    assert.deepEqual(back.peers[i].allowedIps, p.allowedIps);
  }
});

Deno.test("property: any peer list survives split + coalesce, every message within budget", () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ id: fc.nat(1_000_000), ips: fc.nat(300) }), { maxLength: 40 }),
      fc.integer({ min: 512, max: 8192 }),
      (spec, budget) => {
        const seen = new Set<number>();
        const peers = spec.filter((s) => !seen.has(s.id) && seen.add(s.id)).map((s) => ({
          publicKey: keyN(s.id),
          allowedIps: Array.from({ length: s.ips }, (_, i) => `10.${i >> 8}.${i & 255}.0/24`),
        }));
        const msgs = setDeviceMessages(35, { name: "wg0", peers }, budget);
        for (const m of msgs) assert.ok(m.length <= budget);
        const back = parseDeviceDump(msgs.flatMap((m) => parseMessages(m)));
        assert.deepEqual(
          back.peers.map((p) => [p.publicKey, p.allowedIps]),
          peers.map((p) => [p.publicKey, p.allowedIps]),
        );
      },
    ),
    { numRuns: 60 },
  );
});

Deno.test("SET validates every peer before producing any message", () => {
  assert.throws(
    () =>
      setDeviceMessages(35, { name: "wg0", peers: [{ publicKey: key(1) }, { publicKey: "nope" }] }),
    /Cannot decode peer public key/,
  );
  assert.throws(
    () =>
      setDeviceMessages(35, {
        name: "wg0",
        peers: [{ publicKey: key(1), allowedIps: ["1.2.3.4/40"] }],
      }),
    /prefix length/,
  );
  assert.throws(() => setDeviceMessages(35, { name: "wg0", peers: [] }, 100), /budget/);
});
