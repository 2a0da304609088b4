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

Deno.test("upstream link: a control plane that stops reading leaves frames in the bounded outbox, not in memory", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let held: Deno.Conn | undefined;
  const served = (async () => {
    const conn = held = await listener.accept();
    const buf = new Uint8Array(4096);
    const n = (await conn.read(buf))!;
    const key = /Sec-WebSocket-Key: (\S+)/i.exec(new TextDecoder().decode(buf.subarray(0, n)))![1];
    const digest = await crypto.subtle.digest(
      "SHA-1",
      new TextEncoder().encode(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"),
    );
    const accept = btoa(String.fromCharCode(...new Uint8Array(digest)));
    await conn.write(new TextEncoder().encode(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
    ));
    // …and never read again.
  })();
  const link = new UpstreamLink({
    url: `ws://127.0.0.1:${(listener.addr as Deno.NetAddr).port}/`,
    token: "tok",
    maxMessages: 100_000,
    maxBytes: 512 * 1024 * 1024,
    onFrame: () => {},
  });
  link.start();
  await served;
  for (let i = 0; i < 200 && !link.connected; i++) await new Promise((r) => setTimeout(r, 10));
  const pad = "p".repeat(4000);
  for (let i = 0; i < 10_000; i++) {
    const env = makeEnvelope("metrics", { cpu_pct: 1, pad }, { agent_id: "pm" });
    link.send(env.msg_id, encodeEnvelope(env));
  }
  await new Promise((r) => setTimeout(r, 300));
  const s = link.stats();
  // 40 MB offered; the socket took what the kernel buffers hold plus the 1 MiB write queue.
  assert.ok(s.sent < 10_000, `sent ${s.sent}`);
  assert.equal(s.queued, 10_000, "nothing is lost: unsent frames wait in the outbox");
  held?.close();
  await link.stop();
  listener.close();
});
