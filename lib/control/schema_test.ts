import assert from "node:assert/strict";
import { z } from "zod";
import {
  ErrorBodySchema,
  HeartbeatRequestSchema,
  HeartbeatResponseSchema,
  HostPortSchema,
  RegisterRequestSchema,
  RegisterResponseSchema,
  ROSENPASS_PUBLIC_KEY_B64_CHARS,
} from "./schema.ts";
import { heartbeatStatus, randomKey, randomRosenpassKey, registerRequest } from "./_fixtures.ts";

const registerResponse = () => ({
  node_id: "n-1",
  wireguard: {
    address: "10.90.0.7/32",
    peer: {
      public_key: randomKey(),
      endpoint: "cp.example.net:51820",
      allowed_ips: ["10.90.0.1/32"],
    },
  },
  heartbeat_interval_s: 15,
  websocket_url: "wss://cp.example.net/api/v1/ws",
});

Deno.test("RegisterRequest accepts a full request including a Rosenpass key", () => {
  const req = registerRequest({
    node: { name: "n", labman_version: "1", region: "eu", description: "lab" },
    rosenpass_public_key: randomRosenpassKey(),
  });
  assert.equal(req.rosenpass_public_key!.length, ROSENPASS_PUBLIC_KEY_B64_CHARS);
  assert.equal(ROSENPASS_PUBLIC_KEY_B64_CHARS, 698_880);
  assert.ok(RegisterRequestSchema.safeParse(req).success);
});

Deno.test("RegisterRequest rejects bad keys, versions and extra fields", () => {
  const bad: unknown[] = [
    { ...registerRequest(), protocol_version: 2 },
    { ...registerRequest(), wireguard_public_key: "abc" },
    // 32 bytes need a final symbol whose low bits are zero.
    { ...registerRequest(), wireguard_public_key: "A".repeat(42) + "B=" },
    { ...registerRequest(), rosenpass_public_key: "AAAA" },
    { ...registerRequest(), extra: 1 },
    { ...registerRequest(), node: { name: "n", labman_version: "1", lan_ip: "192.168.1.2" } },
    {
      ...registerRequest(),
      capabilities: { models: [], endpoint_count: -1, max_concurrent_requests: null },
    },
  ];
  for (const b of bad) {
    assert.equal(
      RegisterRequestSchema.safeParse(b).success,
      false,
      JSON.stringify(b).slice(0, 200),
    );
  }
});

Deno.test("HeartbeatRequest: endpoints carry names only; URLs in extra fields are rejected", () => {
  const { capabilities: _c, ...status } = heartbeatStatus();
  assert.ok(HeartbeatRequestSchema.safeParse(status).success);
  const leaky = {
    ...status,
    endpoints: [{ ...status.endpoints[0], base_url: "http://192.168.1.20:11434" }],
  };
  assert.equal(HeartbeatRequestSchema.safeParse(leaky).success, false);
  assert.equal(HeartbeatRequestSchema.safeParse({ ...status, state: "sleeping" }).success, false);
});

Deno.test("RegisterResponse: single-host address, host:port endpoint, ws(s) URL; unknown fields stripped", () => {
  const ok = RegisterResponseSchema.parse({ ...registerResponse(), future_field: 1 });
  assert.equal("future_field" in ok, false);
  const wg = registerResponse().wireguard;
  const cases: [string, unknown][] = [
    ["/24 address", { ...registerResponse(), wireguard: { ...wg, address: "10.90.0.0/24" } }],
    ["no port", {
      ...registerResponse(),
      wireguard: { ...wg, peer: { ...wg.peer, endpoint: "cp" } },
    }],
    ["http ws url", { ...registerResponse(), websocket_url: "http://cp/ws" }],
    ["empty allowed_ips", {
      ...registerResponse(),
      wireguard: { ...wg, peer: { ...wg.peer, allowed_ips: [] } },
    }],
    ["node id with slash", { ...registerResponse(), node_id: "a/b" }],
  ];
  for (const [name, c] of cases) {
    assert.equal(RegisterResponseSchema.safeParse(c).success, false, name);
  }
  assert.ok(
    RegisterResponseSchema.safeParse({
      ...registerResponse(),
      wireguard: { ...wg, address: "fd00::7/128" },
    }).success,
  );
});

Deno.test("HostPort accepts hostnames, IPv4 and bracketed IPv6, rejects bad ports", () => {
  for (const ok of ["cp.example.net:51820", "192.0.2.1:1", "[2001:db8::1]:65535"]) {
    assert.ok(HostPortSchema.safeParse(ok).success, ok);
  }
  for (const bad of ["cp:0", "cp:65536", "2001:db8::1:51820", "cp", ":51820", "http://cp:1"]) {
    assert.equal(HostPortSchema.safeParse(bad).success, false, bad);
  }
});

Deno.test("HeartbeatResponse and ErrorBody parse the documented shapes", () => {
  assert.deepEqual(
    HeartbeatResponseSchema.parse({
      desired_state: "draining",
      slugs: [{ slug: "s1", tenant: "t", model: "m" }],
    }),
    { desired_state: "draining", slugs: [{ slug: "s1", tenant: "t", model: "m" }] },
  );
  assert.equal(HeartbeatResponseSchema.safeParse({ desired_state: "stopping" }).success, false);
  assert.ok(
    ErrorBodySchema.safeParse({ error: { code: "x", message: "y", retry_after_s: 3 } }).success,
  );
});

/** Invariant 8: nothing in what the node sends may be a LAN address, URL or endpoint host. */
Deno.test("minimal metadata: node → control plane schemas have no URL/IP/host fields and are closed", () => {
  const forbidden = /(url|uri|ip|host|addr|lan|mac|serial|user|email|token|secret|private)/i;
  const allowedNames = new Set(["description"]);
  function walk(s: Record<string, unknown>, path: string) {
    if (s.type === "object") {
      assert.equal(s.additionalProperties, false, `${path} must be closed`);
    }
    for (
      const [k, v] of Object.entries(
        (s.properties ?? {}) as Record<string, Record<string, unknown>>,
      )
    ) {
      if (!allowedNames.has(k)) assert.equal(forbidden.test(k), false, `${path}.${k}`);
      walk(v, `${path}.${k}`);
    }
    if (s.items) walk(s.items as Record<string, unknown>, `${path}[]`);
    for (const alt of (s.anyOf ?? []) as Record<string, unknown>[]) walk(alt, path);
  }
  walk(
    z.toJSONSchema(RegisterRequestSchema, { io: "input" }) as Record<string, unknown>,
    "register",
  );
  walk(
    z.toJSONSchema(HeartbeatRequestSchema, { io: "input" }) as Record<string, unknown>,
    "heartbeat",
  );
});
