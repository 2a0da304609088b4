import assert from "node:assert/strict";
import { Registry } from "prom-client";
import { FakeBackend } from "./fake.ts";
import {
  bringUp,
  peerRoutes,
  status,
  tearDown,
  validateInterfaceSpec,
  wireguardMetrics,
} from "./interface.ts";
import { encodeKey } from "./keys.ts";
import type { WgDevice } from "./types.ts";

const k = (b: number) => encodeKey(new Uint8Array(32).fill(b));
const device: WgDevice = {
  name: "labman0",
  privateKey: k(1),
  listenPort: 51820,
  peers: [{
    publicKey: k(2),
    endpoint: "192.0.2.1:51820",
    allowedIps: ["10.90.0.1/32", "fd00::1/128"],
  }],
};

Deno.test("invariant 1: only a single /32 or /128 address is accepted", () => {
  for (const ok of ["10.90.0.2/32", "fd00::2/128"]) {
    validateInterfaceSpec({ name: "labman0", address: ok, routes: [] }, device);
  }
  for (
    const bad of ["10.90.0.2/24", "10.90.0.2", "10.90.0.0/31", "fd00::2/64", "0.0.0.0/0", "nope"]
  ) {
    assert.throws(
      () => validateInterfaceSpec({ name: "labman0", address: bad, routes: [] }, device),
      /wireguard.address/,
      bad,
    );
  }
});

Deno.test("invariant 1: routes must be the peer's allowed IPs, never a default route", () => {
  validateInterfaceSpec({
    name: "labman0",
    address: "10.90.0.2/32",
    routes: ["10.90.0.1/32", "fd00::1/128"],
  }, device);
  assert.throws(
    () =>
      validateInterfaceSpec({
        name: "labman0",
        address: "10.90.0.2/32",
        routes: ["192.168.1.0/24"],
      }, device),
    /route "192.168.1.0\/24": not an allowed IP of the control-plane peer \(10.90.0.1\/32, fd00::1\/128\)/,
  );
  const wide = { ...device, peers: [{ publicKey: k(2), allowedIps: ["0.0.0.0/0"] }] };
  assert.throws(
    () =>
      validateInterfaceSpec(
        { name: "labman0", address: "10.90.0.2/32", routes: ["0.0.0.0/0"] },
        wide,
      ),
    /never adds a default route/,
  );
  assert.deepEqual(
    peerRoutes({
      ...device,
      peers: [...device.peers, { publicKey: k(3), allowedIps: ["10.90.0.9/24"] }],
    }),
    [
      "10.90.0.1/32",
      "fd00::1/128",
      "10.90.0.0/24",
    ],
  );
});

Deno.test("bringUp creates then applies a full replace; a refused spec creates nothing", async () => {
  const backend = new FakeBackend();
  await assert.rejects(
    bringUp({ backend, spec: { name: "labman0", address: "10.90.0.2/24", routes: [] }, device }),
    /single \/32/,
  );
  assert.deepEqual(backend.calls, []);
  const spec = { name: "labman0", address: "10.90.0.2/32", routes: peerRoutes(device) };
  await bringUp({ backend, spec, device });
  assert.deepEqual(backend.calls, ["create labman0", "set labman0"]);
  assert.deepEqual(backend.links.get("labman0"), spec);
  const got = await backend.get("labman0");
  assert.equal(got.privateKey, k(1));
  assert.deepEqual(got.peers.map((p) => p.allowedIps), [["10.90.0.1/32", "fd00::1/128"]]);
  await tearDown({ backend, name: "labman0" });
  assert.equal(backend.links.size, 0);
});

Deno.test("bringUp removes the link when configuring the device fails", async () => {
  const backend = new FakeBackend();
  backend.set = () => Promise.reject(new Error("Cannot set device labman0: EINVAL"));
  await assert.rejects(
    bringUp({ backend, spec: { name: "labman0", address: "10.90.0.2/32", routes: [] }, device }),
    /EINVAL/,
  );
  assert.deepEqual(backend.calls, ["create labman0", "destroy labman0"]);
});

Deno.test("status and metrics: handshake age, byte counters, backend info", async () => {
  const backend = new FakeBackend();
  await bringUp({
    backend,
    spec: { name: "labman0", address: "10.90.0.2/32", routes: [] },
    device,
  });
  const registry = new Registry();
  const metrics = wireguardMetrics(registry);

  let s = await status(backend, "labman0", 1_000_000);
  assert.deepEqual(s.peers[0], {
    publicKey: k(2),
    endpoint: "192.0.2.1:51820",
    lastHandshakeAgeS: null,
    rxBytes: 0,
    txBytes: 0,
    allowedIps: ["10.90.0.1/32", "fd00::1/128"],
  });
  assert.equal(JSON.stringify(s).includes(k(1)), false, "status must not carry the private key");
  metrics.update(s);
  let text = await registry.metrics();
  assert.match(text, /labman_wireguard_backend_info\{backend="fake"\} 1/);
  assert.doesNotMatch(text, /labman_wireguard_last_handshake_age_seconds\{/);

  backend.stats.set(
    "labman0",
    new Map([[k(2), { lastHandshakeMs: 990_000, rxBytes: 500, txBytes: 300 }]]),
  );
  metrics.update(await status(backend, "labman0", 1_000_000));
  backend.stats.set(
    "labman0",
    new Map([[k(2), { lastHandshakeMs: 995_000, rxBytes: 800, txBytes: 400 }]]),
  );
  s = await status(backend, "labman0", 1_000_000);
  assert.equal(s.peers[0].lastHandshakeAgeS, 5);
  metrics.update(s);
  text = await registry.metrics();
  const peer = k(2);
  assert.ok(text.includes(`labman_wireguard_last_handshake_age_seconds{peer="${peer}"} 5`), text);
  assert.ok(text.includes(`labman_wireguard_received_bytes_total{peer="${peer}"} 800`), text);
  assert.ok(text.includes(`labman_wireguard_sent_bytes_total{peer="${peer}"} 400`), text);

  // Device recreated: counters restart instead of going negative.
  backend.stats.set(
    "labman0",
    new Map([[k(2), { lastHandshakeMs: 999_000, rxBytes: 10, txBytes: 20 }]]),
  );
  metrics.update(await status(backend, "labman0", 1_000_000));
  text = await registry.metrics();
  assert.ok(text.includes(`labman_wireguard_received_bytes_total{peer="${peer}"} 10`), text);

  // Peer removed: its series go away.
  await backend.set({ name: "labman0", peers: [{ publicKey: k(2), remove: true }] });
  metrics.update(await status(backend, "labman0", 1_000_000));
  assert.doesNotMatch(await registry.metrics(), /peer=/);
});
