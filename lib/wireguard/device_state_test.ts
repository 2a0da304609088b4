import assert from "node:assert/strict";
import { applyDelta } from "./device_state.ts";
import { encodeKey } from "./keys.ts";

const k = (b: number) => encodeKey(new Uint8Array(32).fill(b));

Deno.test("applyDelta folds deltas into a full replace_peers state", () => {
  let s = applyDelta(undefined, {
    name: "wg",
    privateKey: k(1),
    listenPort: 51820,
    replacePeers: true,
    peers: [
      { publicKey: k(2), endpoint: "192.0.2.1:1", allowedIps: ["10.0.0.1/32"] },
      { publicKey: k(3), allowedIps: ["10.0.0.3/32"] },
    ],
  });
  s = applyDelta(s, {
    name: "wg",
    peers: [
      { publicKey: k(2), updateOnly: true, presharedKey: k(9), allowedIps: ["10.0.0.2/32"] },
      { publicKey: k(3), remove: true },
      { publicKey: k(4), updateOnly: true, allowedIps: ["10.0.0.4/32"] },
    ],
  });
  assert.deepEqual(s, {
    name: "wg",
    privateKey: k(1),
    listenPort: 51820,
    replacePeers: true,
    peers: [{
      publicKey: k(2),
      replaceAllowedIps: true,
      presharedKey: k(9),
      endpoint: "192.0.2.1:1",
      allowedIps: ["10.0.0.1/32", "10.0.0.2/32"],
    }],
  });
  s = applyDelta(s, {
    name: "wg",
    peers: [{ publicKey: k(2), replaceAllowedIps: true, allowedIps: ["10.0.0.9/32"] }],
  });
  assert.deepEqual(s.peers[0].allowedIps, ["10.0.0.9/32"]);
  assert.deepEqual(applyDelta(s, { name: "wg", replacePeers: true, peers: [] }).peers, []);
  assert.equal(applyDelta(s, { name: "wg", peers: [] }).privateKey, k(1));
});
