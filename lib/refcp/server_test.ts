import assert from "node:assert/strict";
import { ErrorBodySchema, RegisterResponseSchema } from "../control/schema.ts";
import { heartbeatStatus, randomKey, registerRequest } from "../control/_fixtures.ts";
import { startReferenceControlPlane } from "./server.ts";

const TOKENS = ["tok-a", "tok-b"];

function startCp(historyLimit?: number) {
  return startReferenceControlPlane({
    tokens: TOKENS,
    wireguard: {
      publicKey: randomKey(),
      endpoint: "192.0.2.1:51820",
      allowedIps: ["10.90.0.1/32"],
    },
    heartbeatIntervalS: 15,
    ...(historyLimit ? { historyLimit } : {}),
  });
}

async function call(
  url: string,
  method: string,
  body?: unknown,
  token: string | null = "tok-a",
): Promise<{ status: number; json: unknown; headers: Headers }> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(url, {
    method,
    headers,
    ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined, headers: res.headers };
}

function assertError(r: { status: number; json: unknown }, status: number, code: string) {
  assert.equal(r.status, status, JSON.stringify(r.json));
  const parsed = ErrorBodySchema.parse(r.json);
  assert.equal(parsed.error.code, code);
  assert.ok(parsed.error.message.length > 0);
}

Deno.test("refcp rejects malformed bodies with 400 and the error body", async () => {
  await using cp = await startCp();
  const reg = `${cp.url}/api/v1/nodes/register`;
  assertError(await call(reg, "POST", "{not json"), 400, "bad_request");
  assertError(await call(reg, "POST", { protocol_version: 1 }), 400, "bad_request");
  assertError(
    await call(reg, "POST", { ...registerRequest(), protocol_version: 2 }),
    400,
    "unsupported_protocol_version",
  );
  const leaky = await call(reg, "POST", {
    ...registerRequest(),
    node: { name: "n", labman_version: "1", endpoint_url: "http://192.168.1.5:11434" },
  });
  assertError(leaky, 400, "bad_request");
  assert.match(
    (leaky.json as { error: { message: string } }).error.message,
    /node: Unrecognized key/,
  );
  const ok = await call(reg, "POST", registerRequest());
  const id = RegisterResponseSchema.parse(ok.json).node_id;
  const { capabilities: _c, ...hb } = heartbeatStatus();
  assertError(
    await call(`${cp.url}/api/v1/nodes/${id}/heartbeat`, "POST", { ...hb, state: "bogus" }),
    400,
    "bad_request",
  );
  assertError(
    await call(`${cp.url}/api/v1/nodes/${id}/heartbeat`, "POST", "[]"),
    400,
    "bad_request",
  );
  assert.equal(cp.heartbeats(id).length, 0);
});

Deno.test("refcp auth: 401 without/unknown token, 403 for another token's node", async () => {
  await using cp = await startCp();
  const reg = `${cp.url}/api/v1/nodes/register`;
  const none = await call(reg, "POST", registerRequest(), null);
  assertError(none, 401, "unauthorized");
  assert.equal(none.headers.get("www-authenticate"), 'Bearer realm="labman"');
  assertError(await call(reg, "POST", registerRequest(), "tok-zzz"), 401, "unauthorized");
  const req = registerRequest();
  const id = RegisterResponseSchema.parse((await call(reg, "POST", req)).json).node_id;
  const { capabilities: _c, ...hb } = heartbeatStatus();
  assertError(
    await call(`${cp.url}/api/v1/nodes/${id}/heartbeat`, "POST", hb, "tok-b"),
    403,
    "forbidden",
  );
  assertError(
    await call(`${cp.url}/api/v1/nodes/${id}`, "DELETE", undefined, "tok-b"),
    403,
    "forbidden",
  );
  assertError(await call(reg, "POST", req, "tok-b"), 403, "forbidden");
});

Deno.test("refcp routes: 404 unknown route/node, 405 wrong method, 426 plain GET on the WebSocket path", async () => {
  await using cp = await startCp();
  assertError(await call(`${cp.url}/api/v2/nodes/register`, "POST", {}), 404, "not_found");
  const { capabilities: _c, ...hb } = heartbeatStatus();
  assertError(
    await call(`${cp.url}/api/v1/nodes/nope/heartbeat`, "POST", hb),
    404,
    "node_not_found",
  );
  assertError(await call(`${cp.url}/api/v1/nodes/nope`, "DELETE"), 404, "node_not_found");
  const wrong = await call(`${cp.url}/api/v1/nodes/register`, "GET");
  assertError(wrong, 405, "method_not_allowed");
  assert.equal(wrong.headers.get("allow"), "POST");
  // The relay endpoint speaks WebSocket only; a plain GET is told to upgrade.
  const ws = await call(`${cp.url}/api/v1/ws`, "GET");
  assertError(ws, 426, "upgrade_required");
  assert.equal(ws.headers.get("upgrade"), "websocket");
});

Deno.test("refcp: addresses are /32 from the pool, stable per WireGuard key; history is bounded", async () => {
  await using cp = await startCp(3);
  const reg = `${cp.url}/api/v1/nodes/register`;
  const a = registerRequest();
  const ra = RegisterResponseSchema.parse((await call(reg, "POST", a)).json);
  const rb = RegisterResponseSchema.parse((await call(reg, "POST", registerRequest())).json);
  assert.equal(ra.wireguard.address, "10.90.0.2/32");
  assert.equal(rb.wireguard.address, "10.90.0.3/32");
  assert.notEqual(ra.node_id, rb.node_id);
  // Deregistered, then back: same key keeps its address.
  assert.equal((await call(`${cp.url}/api/v1/nodes/${ra.node_id}`, "DELETE")).status, 204);
  const ra2 = RegisterResponseSchema.parse((await call(reg, "POST", a)).json);
  assert.equal(ra2.wireguard.address, "10.90.0.2/32");
  const { capabilities: _c, ...hb } = heartbeatStatus();
  for (let i = 0; i < 5; i++) {
    await call(`${cp.url}/api/v1/nodes/${ra2.node_id}/heartbeat`, "POST", { ...hb, uptime_s: i });
  }
  assert.deepEqual(cp.heartbeats(ra2.node_id).map((h) => h.uptime_s), [2, 3, 4]);
  assert.equal(cp.nodes().find((n) => n.nodeId === ra2.node_id)?.state, "active");
});

Deno.test("refcp failure injection: failCount, failOn, offline and back", async () => {
  await using cp = await startCp();
  const reg = `${cp.url}/api/v1/nodes/register`;
  await cp.setMode({ failStatus: 503, failCount: 2, retryAfterS: 4, failOn: "register" });
  const f = await call(reg, "POST", registerRequest());
  assertError(f, 503, "unavailable");
  assert.equal(f.headers.get("retry-after"), "4");
  assert.equal((f.json as { error: { retry_after_s: number } }).error.retry_after_s, 4);
  assertError(await call(`${cp.url}/api/v1/nodes/x`, "DELETE"), 404, "node_not_found"); // not targeted
  assertError(await call(reg, "POST", registerRequest()), 503, "unavailable");
  assert.equal((await call(reg, "POST", registerRequest())).status, 200);
  const url = cp.url;
  await cp.setMode({ offline: true });
  await assert.rejects(fetch(reg, { method: "POST" }));
  await cp.setMode({});
  assert.equal(cp.url, url);
  assert.equal((await call(reg, "POST", registerRequest())).status, 200);
});
