import assert from "node:assert/strict";
import { FakeBackend } from "./fake.ts";
import { setPeerPsk } from "./peer_psk.ts";
import { encodeKey } from "./keys.ts";

const key = (n: number) => encodeKey(new Uint8Array(32).fill(n));

async function fixture() {
  const b = new FakeBackend();
  await b.create({ name: "lm0", address: "10.90.0.7/32", routes: ["10.90.0.1/32"] });
  await b.set({
    name: "lm0",
    peers: [{
      publicKey: key(1),
      presharedKey: key(2),
      endpoint: "192.0.2.1:51820",
      persistentKeepaliveS: 25,
      allowedIps: ["10.90.0.1/32"],
    }],
  });
  b.stats.set("lm0", new Map([[key(1), { rxBytes: 500, lastHandshakeMs: 1_000 }]]));
  return b;
}

Deno.test("setPeerPsk: a rotation only changes the PSK and keeps the session", async () => {
  const b = await fixture();
  const before = b.calls.length;
  await setPeerPsk(b, "lm0", key(1), key(3));
  assert.equal(b.calls.length - before, 1, "one update-only set");
  const peer = (await b.get("lm0")).peers[0];
  assert.equal(peer.presharedKey, key(3));
  assert.equal(peer.endpoint, "192.0.2.1:51820");
});

Deno.test("setPeerPsk with dropSession removes and re-adds the peer with its config and the new PSK", async () => {
  const b = await fixture();
  const before = b.calls.length;
  await setPeerPsk(b, "lm0", key(1), key(4), { dropSession: true });
  assert.equal(b.calls.length - before, 2, "remove, then re-add");
  const peers = (await b.get("lm0")).peers;
  assert.equal(peers.length, 1);
  assert.equal(peers[0].presharedKey, key(4));
  assert.equal(peers[0].endpoint, "192.0.2.1:51820");
  assert.equal(peers[0].persistentKeepaliveS, 25);
  assert.deepEqual(peers[0].allowedIps, ["10.90.0.1/32"]);
  await assert.rejects(
    setPeerPsk(b, "lm0", key(9), key(4), { dropSession: true }),
    /no such peer/,
  );
});
