import assert from "node:assert/strict";
import { startReferenceControlPlane } from "../refcp/server.ts";
import { ControlPlaneClient } from "./client.ts";
import { ControlPlaneError } from "./errors.ts";
import { heartbeatStatus, randomKey, randomRosenpassKey, registerRequest } from "./_fixtures.ts";

const TOKEN = "node-token-123";
const CP_KEY = randomKey();

function startCp(extra: { heartbeatIntervalS?: number; rosenpass?: boolean } = {}) {
  return startReferenceControlPlane({
    tokens: [TOKEN],
    wireguard: { publicKey: CP_KEY, endpoint: "192.0.2.1:51820", allowedIps: ["10.90.0.1/32"] },
    ...(extra.rosenpass
      ? { rosenpass: { publicKeyB64: randomRosenpassKey(), endpoint: "192.0.2.1:9999" } }
      : {}),
    heartbeatIntervalS: extra.heartbeatIntervalS ?? 15,
  });
}

function hb() {
  const { capabilities: _c, ...rest } = heartbeatStatus();
  return rest;
}

async function rejects(p: Promise<unknown>): Promise<ControlPlaneError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ControlPlaneError, String(err));
    return err;
  }
  throw new Error("expected a ControlPlaneError");
}

Deno.test("register → heartbeat → deregister against the reference control plane", async () => {
  await using cp = await startCp({ rosenpass: true });
  const client = new ControlPlaneClient({ baseUrl: cp.url + "/", token: TOKEN });
  const req = registerRequest({ rosenpass_public_key: randomRosenpassKey() });
  const reg = await client.register(req);
  assert.equal(reg.wireguard.address, "10.90.0.2/32");
  assert.equal(reg.wireguard.peer.public_key, CP_KEY);
  assert.deepEqual(reg.wireguard.peer.allowed_ips, ["10.90.0.1/32"]);
  assert.equal(reg.rosenpass?.peer_endpoint, "192.0.2.1:9999");
  assert.equal(reg.websocket_url, `ws://127.0.0.1:${cp.port}/api/v1/ws`);
  assert.equal(reg.heartbeat_interval_s, 15);
  // Same key → same node and address.
  const again = await client.register(req);
  assert.equal(again.node_id, reg.node_id);
  assert.equal(again.wireguard.address, reg.wireguard.address);

  cp.setDesiredState(reg.node_id, "maintenance");
  cp.setSlugs(reg.node_id, [{ slug: "s-1", tenant: "acme", model: "llama3:8b" }]);
  const r1 = await client.heartbeat(reg.node_id, hb());
  assert.equal(r1.desired_state, "maintenance");
  assert.deepEqual(r1.slugs, [{ slug: "s-1", tenant: "acme", model: "llama3:8b" }]);
  const r2 = await client.heartbeat(reg.node_id, hb());
  assert.equal(r2.slugs, undefined, "slugs are pushed once");
  assert.equal(cp.heartbeats(reg.node_id).length, 2);

  await client.deregister(reg.node_id);
  assert.deepEqual(cp.nodes(), []);
  await client.deregister(reg.node_id); // 404 → already gone, not an error
  const nf = await rejects(client.heartbeat(reg.node_id, hb()));
  assert.equal(nf.kind, "not_found");
});

Deno.test("401 → auth error with the actionable message", async () => {
  await using cp = await startCp();
  const client = new ControlPlaneClient({ baseUrl: cp.url, token: "wrong" });
  const err = await rejects(client.register(registerRequest()));
  assert.equal(err.kind, "auth");
  assert.equal(err.status, 401);
  assert.match(
    err.message,
    /^Cannot register with the control plane: it rejected the node token \(401\).* — check control_plane.node_token_file; get a new token from the control plane$/,
  );
  assert.ok(!err.message.includes("wrong"), "the token never appears in messages");
});

Deno.test("503 with Retry-After → transient error carrying retryAfterS", async () => {
  await using cp = await startCp();
  await cp.setMode({ failStatus: 503, retryAfterS: 7, failCount: 1 });
  const client = new ControlPlaneClient({ baseUrl: cp.url, token: TOKEN });
  const err = await rejects(client.register(registerRequest()));
  assert.equal(err.kind, "transient");
  assert.equal(err.retryAfterS, 7);
  assert.equal(err.code, "unavailable");
  await client.register(registerRequest()); // failCount used up
});

Deno.test("connection refused and timeouts are transient", async () => {
  await using cp = await startCp();
  const url = cp.url;
  await cp.setMode({ offline: true });
  const refused = await rejects(
    new ControlPlaneClient({ baseUrl: url, token: TOKEN }).register(registerRequest()),
  );
  assert.equal(refused.kind, "transient");
  assert.match(refused.message, /check control_plane.base_url and the network; will retry$/);
  await cp.setMode({ latencyMs: 300 });
  const slow = await rejects(
    new ControlPlaneClient({ baseUrl: url, token: TOKEN, timeoutMs: 30 }).register(
      registerRequest(),
    ),
  );
  assert.equal(slow.kind, "transient");
  assert.match(slow.message, /no answer within 30 ms/);
});

Deno.test("a 200 that is not protocol v1 is fatal and says so", async () => {
  const html = () => Promise.resolve(new Response("<html>login</html>", { status: 200 }));
  const c1 = new ControlPlaneClient({ baseUrl: "http://cp.invalid", token: TOKEN, fetch: html });
  const e1 = await rejects(c1.register(registerRequest()));
  assert.equal(e1.kind, "fatal");
  assert.match(e1.message, /not JSON — check control_plane.base_url/);
  const wrong = () => Promise.resolve(Response.json({ node_id: "x" }));
  const c2 = new ControlPlaneClient({ baseUrl: "http://cp.invalid", token: TOKEN, fetch: wrong });
  const e2 = await rejects(c2.register(registerRequest()));
  assert.equal(e2.kind, "fatal");
  assert.match(e2.message, /does not match protocol v1 \(wireguard: /);
});

Deno.test("requests go to {base_url}/api/v1/… with the bearer token; invalid requests are never sent", async () => {
  const seen: { url: string; auth: string | null; method: string }[] = [];
  const fake: typeof fetch = (input, init) => {
    seen.push({
      url: String(input),
      auth: new Headers(init?.headers).get("authorization"),
      method: init?.method ?? "GET",
    });
    return Promise.resolve(new Response(null, { status: 204 }));
  };
  const client = new ControlPlaneClient({
    baseUrl: "https://cp.example/prefix/",
    token: "t0k",
    fetch: fake,
  });
  await client.deregister("n-1");
  assert.deepEqual(seen, [{
    url: "https://cp.example/prefix/api/v1/nodes/n-1",
    auth: "Bearer t0k",
    method: "DELETE",
  }]);
  const bad = await rejects(client.heartbeat("n-1", { ...hb(), uptime_s: -1 }));
  assert.equal(bad.kind, "fatal");
  assert.match(bad.message, /uptime_s: .* this is a labman bug/);
  assert.equal(seen.length, 1);
  assert.throws(
    () => new ControlPlaneClient({ baseUrl: "cp.example", token: "t" }),
    /is not a URL/,
  );
  assert.throws(
    () => new ControlPlaneClient({ baseUrl: "http://cp", token: "" }),
    /node_token_file/,
  );
});
