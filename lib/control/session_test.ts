import assert from "node:assert/strict";
import { abortableSleep } from "../timing/mod.ts";
import { type ReferenceControlPlane, startReferenceControlPlane } from "../refcp/server.ts";
import { ControlPlaneClient } from "./client.ts";
import type { Capabilities, DesiredState, RegisterResponse, SlugEntry } from "./schema.ts";
import {
  ControlSession,
  type ControlSessionOptions,
  type HeartbeatStatus,
  type SessionLogger,
  type SessionState,
} from "./session.ts";
import { heartbeatStatus, randomKey } from "./_fixtures.ts";
import { until } from "../../tests/helpers/wait.ts";

const TOKEN = "tok-session";

function startCp(heartbeatIntervalS = 0.02): Promise<ReferenceControlPlane> {
  return startReferenceControlPlane({
    tokens: [TOKEN],
    wireguard: {
      publicKey: randomKey(),
      endpoint: "192.0.2.1:51820",
      allowedIps: ["10.90.0.1/32"],
    },
    heartbeatIntervalS,
  });
}

interface Harness extends AsyncDisposable {
  session: ControlSession;
  sleeps: number[];
  logs: { level: string; line: string }[];
  registered: RegisterResponse[];
  desired: DesiredState[];
  slugs: SlugEntry[][];
  states: SessionState[];
  status: HeartbeatStatus;
}

/** A session whose sleeps are recorded and shortened to ≤ 5 ms, with random = 0 (lowest jitter). */
function harness(
  cp: { url: string },
  extra: Partial<ControlSessionOptions> = {},
  token = TOKEN,
): Harness {
  const h = {
    sleeps: [] as number[],
    logs: [] as { level: string; line: string }[],
    registered: [] as RegisterResponse[],
    desired: [] as DesiredState[],
    slugs: [] as SlugEntry[][],
    states: [] as SessionState[],
    status: heartbeatStatus(),
    // A failing assertion must not leave the loops running into the next test.
    [Symbol.asyncDispose]: () => h.session.stop({ deregister: false, timeoutMs: 200 }),
  } as unknown as Harness;
  const log = (level: string) => (message: string, props: Record<string, unknown> = {}) =>
    h.logs.push({
      level,
      line: message.replace(/\{(\w+)\}/g, (_, k) => String(props[k])),
    });
  const logger: SessionLogger = {
    debug: log("debug"),
    info: log("info"),
    warning: log("warning"),
    error: log("error"),
  };
  h.session = new ControlSession({
    client: new ControlPlaneClient({ baseUrl: cp.url, token, timeoutMs: 2000 }),
    node: { name: "gpu-box-1", labman_version: "0.1.0" },
    wireguardPublicKey: randomKey(),
    statusProvider: () => structuredClone(h.status),
    minHeartbeatIntervalMs: 1,
    retryInitialMs: 100,
    retryMaxMs: 1000,
    random: () => 0,
    sleep: (ms, signal) => {
      h.sleeps.push(ms);
      return abortableSleep(Math.min(ms, 5), signal);
    },
    logger,
    onRegistered: (r) => h.registered.push(r),
    onDesiredState: (s) => h.desired.push(s),
    onSlugs: (e) => h.slugs.push(e),
    onStateChange: (s) => h.states.push(s),
    ...extra,
  });
  return h;
}

Deno.test("session: register, heartbeats, desired state + slug push, final 'stopping' heartbeat and deregister", async () => {
  await using cp = await startCp();
  await using h = harness(cp);
  h.session.start();
  await until(() => h.registered.length === 1, "registration");
  const nodeId = h.session.nodeId!;
  assert.equal(h.session.state, "registered");
  assert.equal(h.session.heartbeatIntervalMs, 20);
  await until(() => cp.heartbeats(nodeId).length >= 2, "heartbeats");
  assert.deepEqual(h.desired, ["active"]);

  cp.setDesiredState(nodeId, "draining");
  cp.setSlugs("*", [{ slug: "s-9", tenant: "acme", endpoint: "ollama", model: "llama3:8b" }]);
  await until(() => h.desired.length === 2, "desired state");
  await until(() => h.slugs.length === 1, "slugs");
  assert.deepEqual(h.desired, ["active", "draining"]);
  assert.deepEqual(h.slugs[0], [{
    slug: "s-9",
    tenant: "acme",
    endpoint: "ollama",
    model: "llama3:8b",
  }]);
  assert.equal(h.session.desiredState, "draining");

  await h.session.stop();
  const beats = cp.heartbeats(nodeId);
  assert.equal(beats.at(-1)!.state, "stopping");
  assert.ok(beats.slice(0, -1).every((b) => b.state === "active"));
  assert.deepEqual(cp.nodes(), [], "deregistered");
  assert.deepEqual(cp.requests().at(-1), {
    method: "DELETE",
    path: `/api/v1/nodes/${nodeId}`,
    status: 204,
    nodeId,
  });
  assert.deepEqual(h.states, ["registering", "registered", "stopping", "stopped"]);
  await h.session.stop(); // idempotent
});

Deno.test("session: 401 → state error, one clear error line, no retries, no final heartbeat", async () => {
  await using cp = await startCp();
  await using h = harness(cp, {}, "revoked-token");
  h.session.start();
  await h.session.finished;
  assert.equal(h.session.state, "error");
  assert.equal(h.session.lastError?.kind, "auth");
  const errors = h.logs.filter((l) => l.level === "error");
  assert.equal(errors.length, 1);
  assert.equal(
    errors[0]!.line,
    "Cannot register with the control plane: it rejected the node token (401): unauthorized: missing or unknown node token — check control_plane.node_token_file; get a new token from the control plane",
  );
  assert.ok(!JSON.stringify(h.logs).includes("revoked-token"));
  await h.session.stop();
  assert.equal(cp.requests().length, 1, "one register attempt, nothing at stop");
  assert.equal(h.session.state, "error");
});

Deno.test("session: 503 twice then success → retried with jittered exponential backoff", async () => {
  await using cp = await startCp(60);
  await cp.setMode({ failStatus: 503, failCount: 2 });
  await using h = harness(cp);
  h.session.start();
  await until(() => h.registered.length === 1, "registration");
  // random = 0 → lower edge of [cap/2, cap]: 50, then 100.
  assert.deepEqual(h.sleeps.slice(0, 2), [50, 100]);
  // Heartbeats may follow the registration; the attempts are the first three requests.
  assert.deepEqual(cp.requests().slice(0, 3).map((r) => r.status), [503, 503, 200]);
  assert.equal(
    h.logs.filter((l) => l.level === "warning").length,
    1,
    "repeated identical failures log once",
  );
  assert.ok(h.logs.some((l) => l.level === "info" && /after 2 failed attempts/.test(l.line)));
  await h.session.stop({ deregister: false });
  assert.equal(cp.nodes().length, 1, "deregister: false keeps the node");
});

Deno.test("session: Retry-After is honoured for registration and heartbeats", async () => {
  await using cp = await startCp(0.02);
  await cp.setMode({ failStatus: 429, retryAfterS: 7, failCount: 1 });
  await using h = harness(cp);
  h.session.start();
  await until(() => h.registered.length === 1, "registration");
  assert.equal(h.sleeps[0], 7000);
  await cp.setMode({ failStatus: 503, retryAfterS: 3, failCount: 1, failOn: "heartbeat" });
  const before = h.sleeps.length;
  await until(() => h.sleeps.slice(before).includes(3000), "heartbeat retry");
  await h.session.stop();
});

Deno.test("session: 404 on heartbeat → registers again", async () => {
  await using cp = await startCp();
  await using h = harness(cp);
  h.session.start();
  await until(() => h.registered.length === 1, "registration");
  const first = h.session.nodeId!;
  await until(() => cp.heartbeats(first).length >= 1, "heartbeat");
  assert.ok(cp.forgetNode(first));
  await until(() => h.registered.length === 2, "re-registration");
  assert.notEqual(h.session.nodeId, first);
  await until(() => cp.heartbeats(h.session.nodeId!).length >= 1, "heartbeat as new node");
  assert.ok(h.logs.some((l) => /does not know this node \(404\)/.test(l.line)));
  await h.session.stop();
});

Deno.test("session: control plane offline at start → retries, registers once it is up", async () => {
  await using cp = await startCp();
  await cp.setMode({ offline: true });
  await using h = harness(cp);
  h.session.start();
  await until(() => h.sleeps.length >= 3, "three failed attempts");
  assert.equal(h.session.state, "registering");
  assert.deepEqual(
    h.sleeps.slice(0, 4),
    [50, 100, 200, 400].slice(0, Math.min(4, h.sleeps.length)),
  );
  await cp.setMode({});
  await until(() => h.registered.length === 1, "registration");
  assert.equal(h.session.state, "registered");
  assert.ok(
    h.logs.some((l) => l.level === "warning" && /check control_plane.base_url/.test(l.line)),
  );
  await h.session.stop();
});

Deno.test("session: capabilities are sent only when changed since the last acknowledged one", async () => {
  await using cp = await startCp();
  await using h = harness(cp);
  h.session.start();
  await until(() => h.registered.length === 1, "registration");
  const id = h.session.nodeId!;
  await until(() => cp.heartbeats(id).length >= 2, "heartbeats");
  assert.ok(cp.heartbeats(id).every((b) => b.capabilities === undefined));

  // Order-only change of models is not a change.
  h.status.capabilities = {
    ...h.status.capabilities,
    models: [...h.status.capabilities.models].reverse(),
  };
  const changed: Capabilities = {
    models: ["llama3:8b", "qwen3:4b"],
    endpoint_count: 2,
    max_concurrent_requests: null,
  };
  // The first heartbeat carrying the change fails: the next one must carry it again.
  await cp.setMode({ failStatus: 502, failCount: 1, failOn: "heartbeat" });
  h.status.capabilities = changed;
  const n0 = cp.heartbeats(id).length;
  await until(() => cp.heartbeats(id).length >= n0 + 2, "two heartbeats after the change");
  const after = cp.heartbeats(id).slice(n0);
  assert.deepEqual(after[0]!.capabilities, changed);
  assert.ok(after.slice(1).every((b) => b.capabilities === undefined));
  assert.deepEqual(cp.nodes()[0]!.capabilities, changed);
  assert.ok(cp.requests().some((r) => r.status === 502));
  await h.session.stop();
});

Deno.test("session: heartbeat auth failure → error state, loop ends; stop still tries the final heartbeat and DELETE", async () => {
  await using cp = await startCp();
  await using h = harness(cp);
  h.session.start();
  await until(() => h.registered.length === 1, "registration");
  await cp.setMode({ failStatus: 403, failOn: "heartbeat" });
  await h.session.finished;
  assert.equal(h.session.state, "error");
  const count = cp.requests().length;
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(cp.requests().length, count, "no heartbeats after the rejection");
  await h.session.stop();
  const after = cp.requests().slice(count);
  assert.deepEqual(after.map((r) => [r.method, r.status]), [["POST", 403], ["DELETE", 204]]);
  assert.equal(cp.nodes().length, 0);
  assert.equal(h.session.state, "error");
});

Deno.test("session: a DELETE answered 500 is retried within the stop timeout", async () => {
  await using cp = await startCp();
  await using h = harness(cp);
  h.session.start();
  await until(() => h.registered.length === 1, "registration");
  await cp.setMode({ failStatus: 500, failOn: "deregister", failCount: 2 });
  await h.session.stop();
  const deletes = cp.requests().filter((r) => r.method === "DELETE");
  assert.deepEqual(deletes.map((r) => r.status), [500, 500, 204]);
  assert.equal(cp.nodes().length, 0);
  assert.ok(h.logs.some((l) => /retrying in/.test(l.line)), JSON.stringify(h.logs));
});

Deno.test("session: a DELETE failing until the stop bound gives up without promising a retry", async () => {
  await using cp = await startCp();
  await using h = harness(cp);
  h.session.start();
  await until(() => h.registered.length === 1, "registration");
  await cp.setMode({ failStatus: 503, failOn: "deregister" });
  await h.session.stop({ timeoutMs: 300 });
  const last = h.logs.filter((l) => l.level === "warning").at(-1)!.line;
  assert.match(last, /^deregistration failed, giving up: /);
  assert.doesNotMatch(last, /will retry/);
  assert.ok(cp.requests().filter((r) => r.method === "DELETE").length >= 2, "retried first");
  assert.equal(cp.nodes().length, 1);
});

Deno.test("session: a throwing callback is logged and does not stop the loops", async () => {
  await using cp = await startCp();
  await using h = harness(cp, {
    onRegistered: () => {
      throw new Error("boom");
    },
  });
  h.session.start();
  await until(
    () => h.session.nodeId !== undefined && cp.heartbeats(h.session.nodeId).length >= 2,
    "heartbeats",
  );
  assert.ok(
    h.logs.some((l) => l.level === "error" && l.line === "onRegistered callback threw: boom"),
  );
  await h.session.stop();
});

Deno.test("session: a tiny interval from the control plane is raised to minHeartbeatIntervalMs", async () => {
  await using cp = await startCp(0.001);
  await using h = harness(cp, { minHeartbeatIntervalMs: 1000 });
  h.session.start();
  await until(() => h.registered.length === 1, "registration");
  assert.equal(h.session.heartbeatIntervalMs, 1000);
});

Deno.test("session: stop is bounded when the control plane hangs", async () => {
  await using cp = await startCp(60);
  await using h = harness(cp);
  h.session.start();
  await until(() => h.registered.length === 1, "registration");
  await cp.setMode({ latencyMs: 30_000 });
  const t0 = Date.now();
  await h.session.stop({ timeoutMs: 100 });
  assert.ok(Date.now() - t0 < 5000);
  assert.equal(h.session.state, "stopped");
  assert.ok(h.logs.some((l) => l.level === "warning" && /final heartbeat failed/.test(l.line)));
});

Deno.test("session: beatNow sends the next heartbeat at once; outcomes and retries are reported", async () => {
  await using cp = await startCp(60); // a minute between beats: only beatNow can send one
  await cp.setMode({ failStatus: 503, failCount: 2, failOn: "register" });
  const retries: string[] = [];
  const outcomes: boolean[] = [];
  await using h = harness(cp, {
    sleep: (ms, signal) => abortableSleep(Math.min(ms, 60_000), signal),
    retryInitialMs: 10,
    retryMaxMs: 20,
    onRegisterRetry: (err, delay) => retries.push(`${err.kind} ${err.status} ${delay}`),
    onHeartbeat: (o) => outcomes.push(o.ok),
  });
  h.session.start();
  await until(() => h.registered.length === 1, "registration");
  assert.deepEqual(retries, ["transient 503 5", "transient 503 10"]);
  const nodeId = h.session.nodeId!;
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(cp.heartbeats(nodeId).length, 0);
  h.session.beatNow();
  await until(() => cp.heartbeats(nodeId).length === 1, "the early heartbeat");
  assert.deepEqual(outcomes, [true]);
  await cp.setMode({ failStatus: 500, failOn: "heartbeat", failCount: 1 });
  h.session.beatNow();
  await until(() => outcomes.includes(false), "a failed heartbeat reported");
  assert.deepEqual(outcomes.slice(0, 2), [true, false]);
  await h.session.stop({ deregister: false, timeoutMs: 500 });
});
