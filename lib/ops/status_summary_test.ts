import assert from "node:assert/strict";
import { type AdminStatus, AdminStatusSchema } from "../admin/mod.ts";
import { formatStatus, summarizeStatus } from "./status_summary.ts";

const STATUS: AdminStatus = {
  ready: true,
  checks: { endpoints: "1/2 healthy", tunnel: "up" },
  endpoints: [
    { name: "vllm", healthy: false, models: 0, in_flight: 0, kind: null, condition: "down" },
    {
      name: "ollama",
      healthy: true,
      models: 3,
      in_flight: 2,
      kind: "llamacpp",
      condition: "overloaded",
      server_slots: 4,
      server_running: 4,
    },
  ],
  requests: { total: 42, in_flight: 2, queue_depth: 1 },
  wireguard: { backend: "userspace", last_handshake_age_s: 30 },
  rosenpass: { state: "active", psk_age_s: 42 },
};

Deno.test("summarizeStatus reads readiness, endpoints, traffic, WireGuard and PQ state", () => {
  assert.ok(AdminStatusSchema.safeParse(STATUS).success);
  const s = summarizeStatus({ admin: "http://127.0.0.1:9464", status: STATUS });
  assert.equal(s.ready, true);
  assert.deepEqual(s.checks, { endpoints: "1/2 healthy", tunnel: "up" });
  assert.deepEqual(s.endpoints, [
    {
      name: "ollama",
      up: true,
      models: 3,
      inFlight: 2,
      kind: "llamacpp",
      condition: "overloaded",
      serverSlots: 4,
      serverRunning: 4,
    },
    { name: "vllm", up: false, models: 0, inFlight: 0, condition: "down" },
  ]);
  assert.equal(s.endpointsHealthy, 1);
  assert.equal(s.requestsTotal, 42);
  assert.equal(s.inFlight, 2);
  assert.equal(s.queueDepth, 1);
  assert.deepEqual(s.wireguard, { backend: "userspace", lastHandshakeAgeS: 30 });
  assert.deepEqual(s.rosenpass, { state: "active", pskAgeS: 42 });

  const text = formatStatus(s);
  assert.match(text, /labmand: +ready/);
  assert.match(text, /endpoints: +1\/2 healthy/);
  assert.match(
    text,
    /✓ ollama \(llamacpp\): up, overloaded, 3 models, 2 in flight, server slots 4\/4 busy/,
  );
  assert.match(text, /✗ vllm: DOWN, 0 models/);
  assert.match(text, /requests: +42 total, 2 in flight, 1 queued/);
  assert.match(text, /wireguard: +userspace backend, last handshake 30s ago/);
  assert.match(text, /rosenpass: +active, PSK age 42s/);
});

Deno.test("summarizeStatus leaves out what the document does not carry", () => {
  const s = summarizeStatus({
    admin: "http://127.0.0.1:1",
    status: {
      ready: false,
      checks: { endpoints: "0/0 healthy" },
      wireguard: { backend: "kernel", last_handshake_age_s: null },
    },
  });
  assert.equal(s.ready, false);
  assert.equal(s.requestsTotal, undefined);
  assert.equal(s.rosenpass, undefined);
  assert.deepEqual(s.wireguard, { backend: "kernel", lastHandshakeAgeS: null });
  const text = formatStatus(s);
  assert.match(text, /NOT READY \(endpoints: 0\/0 healthy\)/);
  assert.match(text, /endpoints: +none reported/);
  assert.match(text, /no handshake yet/);
  assert.doesNotMatch(text, /rosenpass|requests/);
});
