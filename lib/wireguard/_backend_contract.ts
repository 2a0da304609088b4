/**
 * The one contract every {@linkcode WireGuardBackend} keeps (after hono's
 * `common.case.test.ts`): run against the fake (`backend_contract_test.ts`), the userspace
 * backend on wireguard-go (same file, root) and the kernel backend on a real wireguard.ko
 * (`tests/qemu/kernel_guest.ts`, under QEMU). Plain async functions rather than `Deno.test`s, so
 * the QEMU guest can run them without the test runner.
 *
 * Differences the backends may show, and only these, are normalised here: an unset PSK reads as
 * absent or all zeros, an unset keepalive as absent or 0, allowed IPs in any order, and the
 * error text of a read on a missing device.
 *
 * @module
 */
import assert from "node:assert/strict";
import { encodeKey, generateKeyPair, generatePresharedKey, ZERO_KEY } from "./keys.ts";
import { setPeerPsk } from "./peer_psk.ts";
import type { WgDevice, WgPeer, WireGuardBackend } from "./types.ts";

export interface ContractContext {
  backend: WireGuardBackend;
  /** A free interface name for this case; the case destroys it. */
  ifname: string;
  /** A /32 for the link, unused elsewhere on the host. */
  address: string;
  /** A free UDP port for `listen_port`. */
  listenPort: number;
}

export interface ContractCase {
  readonly name: string;
  run(ctx: ContractContext): Promise<void>;
}

const sorted = (xs: readonly string[] | undefined) => [...(xs ?? [])].sort();

/** The comparable part of a peer as `get` reports it. */
export function peerView(p: WgPeer): Record<string, unknown> {
  return {
    publicKey: p.publicKey,
    presharedKey: p.presharedKey === ZERO_KEY ? undefined : p.presharedKey,
    endpoint: p.endpoint,
    persistentKeepaliveS: p.persistentKeepaliveS || undefined,
    allowedIps: sorted(p.allowedIps),
  };
}

function peerOf(device: WgDevice, publicKey: string): WgPeer {
  const p = device.peers.find((x) => x.publicKey === publicKey);
  assert.ok(p, `peer ${publicKey} missing from ${device.name}`);
  return p;
}

const newKey = async () => encodeKey((await generateKeyPair()).publicKey);
const newPsk = () => encodeKey(generatePresharedKey());

async function withDevice(ctx: ContractContext, fn: () => Promise<void>): Promise<void> {
  await ctx.backend.create({ name: ctx.ifname, address: ctx.address, routes: [] });
  try {
    await fn();
  } finally {
    await ctx.backend.destroy(ctx.ifname);
  }
}

export const BACKEND_CONTRACT: readonly ContractCase[] = [
  {
    name: "create gives an empty device; set keys and port; get round-trips them",
    run: (ctx) =>
      withDevice(ctx, async () => {
        const empty = await ctx.backend.get(ctx.ifname);
        assert.equal(empty.name, ctx.ifname);
        assert.deepEqual(empty.peers, []);
        const me = await generateKeyPair();
        await ctx.backend.set({
          name: ctx.ifname,
          privateKey: encodeKey(me.privateKey),
          listenPort: ctx.listenPort,
          peers: [],
        });
        const got = await ctx.backend.get(ctx.ifname);
        assert.equal(got.privateKey, encodeKey(me.privateKey));
        assert.equal(got.publicKey, encodeKey(me.publicKey), "public key derived from the private");
        assert.equal(got.listenPort, ctx.listenPort);
        assert.deepEqual(got.peers, []);
      }),
  },
  {
    name: "a peer round-trips every field; no handshake is reported before one happens",
    run: (ctx) =>
      withDevice(ctx, async () => {
        const peer: WgPeer = {
          publicKey: await newKey(),
          presharedKey: newPsk(),
          endpoint: "192.0.2.1:51820",
          persistentKeepaliveS: 25,
          allowedIps: ["10.90.0.1/32", "10.91.0.0/24", "fd00:90::/64"],
        };
        await ctx.backend.set({ name: ctx.ifname, peers: [peer] });
        const got = peerOf(await ctx.backend.get(ctx.ifname), peer.publicKey);
        assert.deepEqual(peerView(got), peerView(peer));
        // No private key yet: a handshake cannot complete. (tx may count initiation attempts:
        // a persistent keepalive makes a real backend try at once.)
        assert.equal(got.lastHandshakeMs ?? 0, 0);
        assert.equal(got.rxBytes ?? 0, 0);
      }),
  },
  {
    name: "set merges: allowed IPs add or replace, update-only never creates, remove deletes",
    run: (ctx) =>
      withDevice(ctx, async () => {
        const a = await newKey(), b = await newKey(), c = await newKey();
        const name = ctx.ifname;
        await ctx.backend.set({ name, peers: [{ publicKey: a, allowedIps: ["10.1.0.1/32"] }] });
        await ctx.backend.set({ name, peers: [{ publicKey: a, allowedIps: ["10.1.0.2/32"] }] });
        let dev = await ctx.backend.get(name);
        assert.deepEqual(sorted(peerOf(dev, a).allowedIps), ["10.1.0.1/32", "10.1.0.2/32"]);
        await ctx.backend.set({
          name,
          peers: [{ publicKey: a, replaceAllowedIps: true, allowedIps: ["10.1.0.3/32"] }],
        });
        await ctx.backend.set({
          name,
          peers: [{ publicKey: b, updateOnly: true, endpoint: "192.0.2.2:1" }],
        });
        await ctx.backend.set({ name, peers: [{ publicKey: c, allowedIps: [] }] });
        dev = await ctx.backend.get(name);
        assert.deepEqual(peerOf(dev, a).allowedIps, ["10.1.0.3/32"]);
        assert.deepEqual(
          dev.peers.map((p) => p.publicKey).sort(),
          [a, c].sort(),
          "update-only created a peer",
        );
        await ctx.backend.set({ name, peers: [{ publicKey: a, remove: true }] });
        dev = await ctx.backend.get(name);
        assert.deepEqual(dev.peers.map((p) => p.publicKey), [c]);
      }),
  },
  {
    name: "replacePeers replaces the whole peer set and keeps the device keys",
    run: (ctx) =>
      withDevice(ctx, async () => {
        const me = await generateKeyPair();
        const a = await newKey(), b = await newKey();
        const name = ctx.ifname;
        await ctx.backend.set({
          name,
          privateKey: encodeKey(me.privateKey),
          peers: [{ publicKey: a, allowedIps: ["10.2.0.1/32"] }],
        });
        await ctx.backend.set({
          name,
          replacePeers: true,
          peers: [{ publicKey: b, allowedIps: ["10.2.0.2/32"] }],
        });
        const dev = await ctx.backend.get(name);
        assert.deepEqual(dev.peers.map((p) => p.publicKey), [b]);
        assert.equal(dev.privateKey, encodeKey(me.privateKey));
      }),
  },
  {
    name: "setPeerPsk changes only the PSK and never creates a peer",
    run: (ctx) =>
      withDevice(ctx, async () => {
        const peer: WgPeer = {
          publicKey: await newKey(),
          presharedKey: newPsk(),
          endpoint: "192.0.2.3:51820",
          persistentKeepaliveS: 15,
          allowedIps: ["10.3.0.1/32"],
        };
        await ctx.backend.set({ name: ctx.ifname, peers: [peer] });
        const psk = newPsk();
        await setPeerPsk(ctx.backend, ctx.ifname, peer.publicKey, psk);
        const dev = await ctx.backend.get(ctx.ifname);
        assert.deepEqual(
          peerView(peerOf(dev, peer.publicKey)),
          peerView({ ...peer, presharedKey: psk }),
        );
        await setPeerPsk(ctx.backend, ctx.ifname, await newKey(), newPsk());
        assert.equal((await ctx.backend.get(ctx.ifname)).peers.length, 1, "a PSK created a peer");
      }),
  },
  {
    name:
      "setPeerPsk with dropSession keeps endpoint, keepalive and allowed IPs; unknown peer fails",
    run: (ctx) =>
      withDevice(ctx, async () => {
        const peer: WgPeer = {
          publicKey: await newKey(),
          endpoint: "192.0.2.4:51820",
          persistentKeepaliveS: 25,
          allowedIps: ["10.4.0.1/32", "10.4.1.0/24"],
        };
        await ctx.backend.set({ name: ctx.ifname, peers: [peer] });
        const psk = newPsk();
        await setPeerPsk(ctx.backend, ctx.ifname, peer.publicKey, psk, { dropSession: true });
        const got = peerOf(await ctx.backend.get(ctx.ifname), peer.publicKey);
        assert.deepEqual(peerView(got), peerView({ ...peer, presharedKey: psk }));
        const stranger = await newKey();
        await assert.rejects(
          setPeerPsk(ctx.backend, ctx.ifname, stranger, psk, { dropSession: true }),
          /Cannot set the PSK of peer .* no such peer/,
        );
      }),
  },
  {
    name: "destroy removes the device; get then fails; destroy is idempotent",
    async run(ctx) {
      await ctx.backend.create({ name: ctx.ifname, address: ctx.address, routes: [] });
      await ctx.backend.destroy(ctx.ifname);
      await assert.rejects(ctx.backend.get(ctx.ifname));
      await ctx.backend.destroy(ctx.ifname);
    },
  },
  {
    name: "create replaces a device of the same name with an empty one",
    run: (ctx) =>
      withDevice(ctx, async () => {
        await ctx.backend.set({ name: ctx.ifname, peers: [{ publicKey: await newKey() }] });
        await ctx.backend.create({ name: ctx.ifname, address: ctx.address, routes: [] });
        assert.deepEqual((await ctx.backend.get(ctx.ifname)).peers, []);
      }),
  },
];

/** Names of the cases, for runners that must report each one (the QEMU guest). */
export const BACKEND_CONTRACT_NAMES: readonly string[] = BACKEND_CONTRACT.map((c) => c.name);
