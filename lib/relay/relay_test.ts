/**
 * The relay in-process against the reference control plane: observers, connection limits and
 * the HTTP answers of the Portman listener. (labmand-as-a-process cases: tests/relay_*_test.ts.)
 */
import assert from "node:assert/strict";
import { PortmanSchema } from "../config/schema.ts";
import { makeEnvelope } from "../protocol/mod.ts";
import { startReferenceControlPlane } from "../refcp/mod.ts";
import { encodeKey, generateKeyPair } from "../wireguard/mod.ts";
import { startRelay } from "./relay.ts";

const SECRET = "s3cret-s3cret-s3cret-s3cret";

async function setup(portman: Record<string, unknown> = {}) {
  const cp = await startReferenceControlPlane({
    tokens: ["t"],
    wireguard: {
      publicKey: encodeKey((await generateKeyPair()).publicKey),
      endpoint: "127.0.0.1:1",
      allowedIps: ["10.90.0.1/32"],
    },
  });
  const relay = await startRelay({
    portman: PortmanSchema.parse({ listen_port: 1, ...portman }),
    port: 0,
    secret: SECRET,
    upstream: { url: `${cp.url.replace("http", "ws")}/api/v1/ws`, token: "t" },
    siteId: "node-1",
  });
  await cp.relay.waitForConnections(1);
  return {
    cp,
    relay,
    url: (path: string) => `ws://127.0.0.1:${relay.addr.port}${path}`,
    async [Symbol.asyncDispose]() {
      await relay.stop();
      await cp.close();
    },
  };
}

function client(url: string, secret: string | null = SECRET) {
  const ws = new WebSocket(
    url,
    (secret ? { headers: { authorization: `Bearer ${secret}` } } : {}) as unknown as string[],
  );
  const got: Record<string, unknown>[] = [];
  const waiters = new Set<() => void>();
  ws.onmessage = (e) => {
    got.push(JSON.parse(String(e.data)));
    for (const w of waiters) w();
  };
  const closed = new Promise<CloseEvent>((r) => ws.addEventListener("close", (e) => r(e)));
  return {
    ws,
    got,
    closed,
    opened: new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      ws.onerror = () => reject(new Error("refused"));
    }),
    waitFor(pred: (m: Record<string, unknown>) => boolean) {
      return new Promise<Record<string, unknown>>((resolve, reject) => {
        const check = () => {
          const hit = got.find(pred);
          if (hit) {
            clearTimeout(t);
            waiters.delete(check);
            resolve(hit);
          }
        };
        const t = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`not received: ${JSON.stringify(got)}`));
        }, 5000);
        waiters.add(check);
        check();
      });
    },
    async close() {
      if (ws.readyState <= WebSocket.OPEN) ws.close();
      await closed;
    },
  };
}

Deno.test("observe: subscribe by kind sees relayed traffic both ways; discover lists agents", async () => {
  await using s = await setup();
  const obs = client(s.url("/observe"));
  await obs.opened;
  obs.ws.send(JSON.stringify({ command: "subscribe", kinds: ["register_agent", "preload_model"] }));
  await obs.waitFor((m) => m.event === "subscribed");
  obs.ws.send(JSON.stringify({ command: "discover" }));
  await obs.waitFor((m) => m.event === "agents");

  const pm = client(s.url("/agent"));
  await pm.opened;
  pm.ws.send(
    JSON.stringify(makeEnvelope("register_agent", { agent_version: "1" }, { agent_id: "a1" })),
  );
  pm.ws.send(JSON.stringify(makeEnvelope("heartbeat", { status: "ready" }, { agent_id: "a1" })));
  const reg = await obs.waitFor((m) => m.kind === "register_agent");
  assert.equal(reg.site_id, "node-1");
  const listed = await obs.waitFor((m) =>
    m.event === "agents" && (m.agents as unknown[]).length === 1
  );
  assert.equal((listed.agents as { agent_id: string }[])[0]!.agent_id, "a1");
  s.cp.relay.send(makeEnvelope("preload_model", { model: "m" }, { agent_id: "a1" }));
  await obs.waitFor((m) => m.kind === "preload_model");
  await s.cp.relay.waitFor((e) => e.kind === "heartbeat");
  assert.ok(!obs.got.some((m) => m.kind === "heartbeat"), "not subscribed to heartbeat");

  obs.ws.send("nonsense");
  await obs.waitFor((m) => m.event === "error" && m.code === "INVALID_COMMAND");
  await pm.close();
  await obs.close();
});

Deno.test("portman listener: wrong path 404, plain GET 426, connection limit 503, binary frame refused", async () => {
  await using s = await setup({ max_connections: 2 });
  const base = s.url("").replace("ws:", "http:");
  const r404 = await fetch(`${base}/nope`);
  assert.equal(r404.status, 404);
  await r404.body?.cancel();
  const r426 = await fetch(`${base}/agent`);
  assert.equal(r426.status, 426);
  await r426.body?.cancel();

  const a = client(s.url("/agent")), b = client(s.url("/agent"));
  await a.opened;
  await b.opened;
  const c = client(s.url("/agent"));
  await assert.rejects(c.opened);
  await c.closed;

  a.ws.send(new Uint8Array([1, 2, 3]));
  const err = await a.waitFor((m) => m.kind === "error");
  assert.equal((err.payload as { code: string }).code, "INVALID_ENVELOPE");
  await a.close();
  await b.close();
});
