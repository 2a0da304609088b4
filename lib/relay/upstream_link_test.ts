import assert from "node:assert/strict";
import { encodeEnvelope, makeEnvelope } from "../protocol/mod.ts";
import { type ReferenceControlPlane, startReferenceControlPlane } from "../refcp/mod.ts";
import { encodeKey, generateKeyPair } from "../wireguard/mod.ts";
import { UpstreamLink } from "./upstream_link.ts";

async function cp(ackUpstream = true): Promise<ReferenceControlPlane> {
  return await startReferenceControlPlane({
    tokens: ["tok"],
    wireguard: {
      publicKey: encodeKey((await generateKeyPair()).publicKey),
      endpoint: "192.0.2.1:51820",
      allowedIps: ["10.90.0.1/32"],
    },
    relay: { ackUpstream },
  });
}

function linkTo(c: ReferenceControlPlane, opts: { maxMessages?: number; token?: string } = {}) {
  const link: UpstreamLink = new UpstreamLink({
    url: `${c.url.replace("http", "ws")}/api/v1/ws`,
    token: opts.token ?? "tok",
    maxMessages: opts.maxMessages ?? 100,
    retryInitialMs: 20,
    retryMaxMs: 100,
    onFrame: (text) => {
      const env = JSON.parse(text);
      if (env.kind === "ack") link.confirm(env.correlation_id);
    },
  });
  return link;
}

function send(link: UpstreamLink, i: number): string {
  const env = makeEnvelope("metrics", { cpu_pct: i }, { agent_id: "pm" });
  link.send(env.msg_id, encodeEnvelope(env));
  return env.msg_id;
}

const ids = (c: ReferenceControlPlane) => c.relay.messages().map((m) => m.envelope.msg_id);

Deno.test("upstream link: buffers while the control plane is away, delivers the newest within the bound in order", async () => {
  await using c = await cp();
  await c.setMode({ offline: true });
  const link = linkTo(c, { maxMessages: 10 });
  link.start();
  const sent = Array.from({ length: 30 }, (_, i) => send(link, i));
  assert.equal(link.stats().queued, 10);
  assert.equal(link.stats().dropped, 20);
  await c.setMode({});
  await c.relay.waitForConnections(1);
  await c.relay.waitFor((e) => e.msg_id === sent.at(-1));
  assert.deepEqual(ids(c), sent.slice(20));
  // Acked frames leave the outbox.
  for (let i = 0; i < 50 && link.stats().queued > 0; i++) {
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(link.stats().queued, 0);
  await link.stop();
});

Deno.test("upstream link: without acks, unconfirmed frames are replayed after a drop and the control plane sees duplicates by msg_id", async () => {
  await using c = await cp(false);
  const link = linkTo(c);
  link.start();
  await c.relay.waitForConnections(1);
  const sent = Array.from({ length: 5 }, (_, i) => send(link, i));
  await c.relay.waitFor((e) => e.msg_id === sent.at(-1));
  c.relay.dropConnections();
  await c.relay.waitForConnections(1);
  for (let i = 0; i < 100 && c.relay.duplicates < 5; i++) {
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(c.relay.duplicates, 5);
  assert.deepEqual(ids(c), sent);
  await link.stop();
});

Deno.test("upstream link: a wrong node token never connects; it keeps retrying with backoff", async () => {
  await using c = await cp();
  const link = linkTo(c, { token: "nope" });
  link.start();
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(c.relay.connections, 0);
  assert.equal(link.connected, false);
  assert.ok(c.requests().filter((r) => r.path === "/api/v1/ws" && r.status === 401).length >= 2);
  await link.stop();
});
