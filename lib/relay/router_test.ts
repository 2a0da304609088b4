import assert from "node:assert/strict";
import { decodeEnvelope, type Envelope, makeEnvelope } from "../protocol/mod.ts";
import { type AgentLink, LABMAN_AGENT_ID, RelayRouter } from "./router.ts";

function fakeLink(connId: number, accept = () => true) {
  const sent: Envelope[] = [];
  const closed: number[] = [];
  const link: AgentLink = {
    connId,
    send(text) {
      if (!accept()) return false;
      sent.push(decodeEnvelope(text));
      return true;
    },
    close: (code) => void closed.push(code),
  };
  return { link, sent, closed };
}

function setup(opts: Partial<ConstructorParameters<typeof RelayRouter>[0]> = {}) {
  const up: Envelope[] = [];
  let now = 1_000;
  const router = new RelayRouter({
    sendUp: (env) => void up.push(env),
    now: () => now,
    directiveTtlMs: 5_000,
    directiveQueueMax: 2,
    siteId: "node-1",
    ...opts,
  });
  return { router, up, tick: (ms: number) => now += ms };
}

const frame = (
  kind: string,
  payload: Record<string, unknown>,
  extra: Record<string, unknown> = {},
) => JSON.stringify({ msg_id: crypto.randomUUID(), direction: "up", kind, payload, ...extra });
const down = (kind: string, payload: Record<string, unknown>, agentId?: string) =>
  JSON.stringify(makeEnvelope(kind as "drain", payload as never, {
    direction: "down",
    ...(agentId ? { agent_id: agentId } : {}),
  }));
const flush = () => new Promise((r) => setTimeout(r, 0));

Deno.test("router: register first, stable agent_id, site_id stamped, disconnect notice", () => {
  const { router, up } = setup();
  const a = fakeLink(1);
  router.connected(a.link);
  router.fromAgent(1, frame("heartbeat", { status: "ready" }));
  assert.equal(a.sent[0]!.payload.code, "NOT_REGISTERED");
  router.fromAgent(
    1,
    frame("register_agent", { agent_version: "1" }, { agent_id: LABMAN_AGENT_ID }),
  );
  assert.equal(a.sent[1]!.payload.code, "AGENT_MISMATCH");
  router.fromAgent(1, frame("register_agent", { agent_version: "1" }, { agent_id: "pm" }));
  router.fromAgent(1, frame("heartbeat", { status: "ready" }));
  assert.deepEqual(up.map((e) => [e.kind, e.agent_id, e.site_id]), [
    ["register_agent", "pm", "node-1"],
    ["heartbeat", "pm", "node-1"],
  ]);
  router.disconnected(1);
  assert.deepEqual(up.at(-1)!.payload, { status: "disconnected", source: "labman" });
  assert.equal(router.agents()[0]!.connected, false);
});

Deno.test("router: a newer connection for the same agent replaces the old one", () => {
  const { router } = setup();
  const a = fakeLink(1), b = fakeLink(2);
  router.connected(a.link);
  router.connected(b.link);
  router.fromAgent(1, frame("register_agent", { agent_version: "1" }, { agent_id: "pm" }));
  router.fromAgent(2, frame("register_agent", { agent_version: "1" }, { agent_id: "pm" }));
  assert.deepEqual(a.closed, [4409]);
  assert.equal(router.connectedAgents, 1);
});

Deno.test("router: directives held with TTL and bound, then answered; correlation enforced", async () => {
  const { router, up, tick } = setup();
  await router.fromControlPlane(down("preload_model", { model: "m" }, "pm"));
  await router.fromControlPlane(down("evict_model", { model: "m" }, "pm"));
  await router.fromControlPlane(down("evict_model", { model: "n" }, "pm"));
  assert.deepEqual(up.map((e) => [e.kind, e.payload.status ?? e.payload.code]), [
    ["ack", "queued"],
    ["ack", "queued"],
    ["error", "QUEUE_FULL"],
  ]);
  const a = fakeLink(1);
  router.connected(a.link);
  router.fromAgent(1, frame("register_agent", { agent_version: "1" }, { agent_id: "pm" }));
  await flush();
  assert.deepEqual(a.sent.map((e) => e.kind), ["preload_model", "evict_model"]);
  // Another agent may not answer pm's directive.
  const b = fakeLink(2);
  router.connected(b.link);
  router.fromAgent(2, frame("register_agent", { agent_version: "1" }, { agent_id: "other" }));
  router.fromAgent(2, frame("ack", {}, { correlation_id: a.sent[0]!.msg_id }));
  assert.equal(b.sent.at(-1)!.payload.code, "AGENT_MISMATCH");
  router.fromAgent(1, frame("ack", {}, { correlation_id: a.sent[0]!.msg_id }));
  assert.equal(up.at(-1)!.correlation_id, a.sent[0]!.msg_id);

  up.length = 0;
  await router.fromControlPlane(down("restart_agent", {}, "gone"));
  tick(5_001);
  router.expire();
  assert.deepEqual(up.map((e) => [e.kind, e.payload.status ?? e.payload.code]), [
    ["ack", "queued"],
    ["error", "AGENT_UNAVAILABLE"],
  ]);
});

Deno.test("router: direction enforced from the control plane; duplicates dropped; local directives", async () => {
  const slugs: unknown[] = [];
  const drains: string[] = [];
  const { router, up } = setup({
    onUpdateRegistry: (s) => Promise.resolve(void slugs.push(s)),
    onDrain: (r) => Promise.resolve(void drains.push(r)),
  });
  await router.fromControlPlane(frame("heartbeat", { status: "ready" }, { msg_id: "bad-1" }));
  assert.equal(up.at(-1)!.payload.code, "WRONG_DIRECTION");
  assert.equal(up.at(-1)!.correlation_id, "bad-1");
  const upd = down("update_registry", { slugs: [{ slug: "s", tenant: "t", model: "m" }] });
  await router.fromControlPlane(upd);
  await router.fromControlPlane(upd);
  assert.equal(slugs.length, 1, "a resent directive is applied once");
  assert.equal(router.counters.duplicates, 1);
  await router.fromControlPlane(down("drain", { reason: "why" }));
  assert.deepEqual(drains, ["why"]);
  assert.equal(up.at(-1)!.payload.status, "completed");
});

Deno.test("router: a slow agent's directive is held instead of lost; repeated invalid frames close", async () => {
  const { router } = setup({ maxInvalidFrames: 3 });
  let ok = true;
  const a = fakeLink(1, () => ok);
  router.connected(a.link);
  router.fromAgent(1, frame("register_agent", { agent_version: "1" }, { agent_id: "pm" }));
  ok = false;
  await router.fromControlPlane(down("preload_model", { model: "m" }, "pm"));
  assert.equal(router.agents()[0]!.queued_directives, 1);
  ok = true;
  for (let i = 0; i < 3; i++) router.fromAgent(1, "nope");
  assert.deepEqual(a.closed, [1008]);
});

Deno.test("router: directives for many invented agents cannot grow memory past the held bounds", async () => {
  const { router, up } = setup({ maxHeldAgents: 3, maxHeldBytes: 2000 });
  for (let i = 0; i < 10; i++) {
    await router.fromControlPlane(down("restart_agent", {}, `ghost-${i}`));
  }
  const codes = up.map((e) => e.payload.status ?? e.payload.code);
  assert.deepEqual(codes.slice(0, 3), ["queued", "queued", "queued"]);
  assert.ok(codes.slice(3).every((c) => c === "QUEUE_FULL"), codes.join());
  up.length = 0;
  const big = "z".repeat(900);
  await router.fromControlPlane(down("restart_agent", { reason: big }, "ghost-0"));
  await router.fromControlPlane(down("restart_agent", { reason: big }, "ghost-0"));
  assert.deepEqual(up.map((e) => e.payload.status ?? e.payload.code), ["queued", "QUEUE_FULL"]);
});
