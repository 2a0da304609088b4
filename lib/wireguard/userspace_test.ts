import assert from "node:assert/strict";
import { encodeKey, generateKeyPair, generatePresharedKey } from "./keys.ts";
import { setPeerPsk } from "./peer_psk.ts";
import { NetlinkLinkOps } from "./rtnl.ts";
import { parseErrno, UapiError } from "./uapi.ts";
import { uapiExchange, UserspaceBackend } from "./userspace.ts";

const isRoot = Deno.uid() === 0;
const rand = () => crypto.getRandomValues(new Uint16Array(1))[0].toString(16);

async function wgDump(name: string): Promise<string[][]> {
  const out = await new Deno.Command("wg", { args: ["show", name, "dump"], stdout: "piped" })
    .output();
  assert.ok(out.success);
  return new TextDecoder().decode(out.stdout).trim().split("\n").map((l) => l.split("\t"));
}

Deno.test({
  name: "userspace backend: create, set, get, psk, partial set, restart, destroy (root)",
  ignore: !isRoot,
  async fn() {
    const name = `lmus${rand()}`;
    const links = new NetlinkLinkOps();
    const backend = new UserspaceBackend({ links, restartWindowMs: 60_000 });
    try {
      const me = await generateKeyPair();
      const peer = await generateKeyPair();
      const psk = encodeKey(generatePresharedKey());
      await backend.create({ name, address: "192.0.2.201/32", routes: ["198.51.100.201/32"] });
      const link = await links.getLink(name);
      assert.equal(link?.flags! & 1, 1);
      assert.equal(link?.mtu, 1420);
      assert.deepEqual(
        (await links.listAddresses(name)).map((a) => `${a.address}/${a.prefixLen}`),
        [
          "192.0.2.201/32",
        ],
      );
      assert.ok(
        (await links.listRoutes(name)).some((r) => r.dst === "198.51.100.201" && r.dstLen === 32),
      );

      await backend.set({
        name,
        privateKey: encodeKey(me.privateKey),
        listenPort: 0,
        replacePeers: true,
        peers: [{
          publicKey: encodeKey(peer.publicKey),
          presharedKey: psk,
          endpoint: "192.0.2.99:51820",
          persistentKeepaliveS: 25,
          replaceAllowedIps: true,
          allowedIps: ["198.51.100.201/32"],
        }],
      });
      const dev = await backend.get(name);
      assert.equal(dev.privateKey, encodeKey(me.privateKey));
      assert.ok(dev.listenPort! > 0);
      assert.equal(dev.peers.length, 1);
      assert.equal(dev.peers[0].presharedKey, psk);
      assert.deepEqual(dev.peers[0].allowedIps, ["198.51.100.201/32"]);
      assert.equal(dev.peers[0].lastHandshakeMs, 0);
      // `wg show` reads the same socket: what we set is what the tool sees.
      const [ifLine, peerLine] = await wgDump(name);
      assert.equal(ifLine[0], encodeKey(me.privateKey));
      assert.equal(ifLine[1], encodeKey(me.publicKey));
      assert.deepEqual(peerLine.slice(0, 4), [
        encodeKey(peer.publicKey),
        psk,
        "192.0.2.99:51820",
        "198.51.100.201/32",
      ]);

      const psk2 = encodeKey(generatePresharedKey());
      await setPeerPsk(backend, name, encodeKey(peer.publicKey), psk2);
      assert.equal((await backend.get(name)).peers[0].presharedKey, psk2);

      // A set is not transactional: lines before the bad one stay applied.
      const reply = await uapiExchange(
        backend.socketPath(name),
        "set=1\nfwmark=42\nno_such_key=1\n\n",
      );
      assert.throws(
        () => parseErrno(reply),
        (e: unknown) => e instanceof UapiError && e.errno === 22,
      );
      assert.equal((await backend.get(name)).fwmark, 42);

      // Kill wireguard-go: the supervisor restarts it and restores link and device state.
      const pid = backend.pid(name)!;
      Deno.kill(pid, "SIGKILL");
      let restored = undefined;
      for (let i = 0; i < 100 && !restored; i++) {
        await new Promise((r) => setTimeout(r, 50));
        const now = backend.pid(name);
        if (now && now !== pid) restored = await backend.get(name).catch(() => undefined);
      }
      assert.ok(restored, "wireguard-go was not restarted within 5 s");
      assert.equal(restored.privateKey, encodeKey(me.privateKey));
      assert.equal(restored.peers[0].presharedKey, psk2);
      assert.deepEqual((await links.listAddresses(name)).map((a) => a.address), ["192.0.2.201"]);

      await backend.destroy(name);
      assert.equal(await links.getLink(name), undefined);
      await assert.rejects(Deno.stat(backend.socketPath(name)), Deno.errors.NotFound);
      await backend.destroy(name); // idempotent
      await assert.rejects(backend.get(name), /not created/);
    } finally {
      await backend.close();
      await links.deleteLink(name).catch(() => {});
      links.close();
    }
  },
});

Deno.test({
  name:
    "userspace backend: a stale link of the same name is replaced; bad binary fails clearly (root)",
  ignore: !isRoot,
  async fn() {
    const name = `lmus${rand()}`;
    const links = new NetlinkLinkOps();
    const backend = new UserspaceBackend({ links });
    const broken = new UserspaceBackend({ links, wireguardGo: "/bin/false", startTimeoutMs: 2000 });
    try {
      await links.createLink(name, "veth");
      await backend.create({ name, address: "192.0.2.202/32", routes: [] });
      assert.equal((await links.getLink(name))?.kind, "tun");
      await backend.destroy(name);
      await assert.rejects(
        broken.create({ name, address: "192.0.2.203/32", routes: [] }),
        /Cannot start wireguard-go for .*exited/,
      );
      assert.equal(await links.getLink(name), undefined);
    } finally {
      await backend.close();
      await broken.close();
      await links.deleteLink(name).catch(() => {});
      links.close();
    }
  },
});
