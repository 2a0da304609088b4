import assert from "node:assert/strict";
import { AdminStatusSchema, createAdminHandler, startAdminServer } from "./mod.ts";

Deno.test("admin handler serves metrics, healthz and readyz", async () => {
  let ready = false;
  const h = createAdminHandler({
    metrics: () => Promise.resolve("labman_up 1\n"),
    readiness: () =>
      Promise.resolve({ ready, checks: { proxy: ready ? "listening" : "starting" } }),
  });
  const m = await h(new Request("http://x/metrics"));
  assert.equal(m.status, 200);
  assert.match(m.headers.get("content-type")!, /text\/plain; version=0\.0\.4/);
  assert.equal(await m.text(), "labman_up 1\n");
  assert.equal((await h(new Request("http://x/healthz"))).status, 200);
  const notReady = await h(new Request("http://x/readyz"));
  assert.equal(notReady.status, 503);
  assert.match(await notReady.text(), /proxy: starting/);
  ready = true;
  const r = await h(new Request("http://x/readyz"));
  assert.equal(r.status, 200);
  assert.match(await r.text(), /^ready\nproxy: listening/);
  const post = await h(new Request("http://x/metrics", { method: "POST" }));
  assert.equal(post.status, 405);
  await post.body?.cancel();
  const nf = await h(new Request("http://x/nope"));
  assert.equal(nf.status, 404);
  await nf.body?.cancel();
});

Deno.test("admin listener refuses non-loopback addresses (invariant 3)", () => {
  for (const hostname of ["0.0.0.0", "::", "192.168.1.5", "10.90.0.7"]) {
    assert.throws(
      () =>
        startAdminServer({
          hostname,
          port: 0,
          metrics: () => Promise.resolve(""),
          readiness: () => Promise.resolve({ ready: true, checks: {} }),
        }),
      /must bind loopback/,
    );
  }
});

Deno.test("admin /status: the JSON document when wired, 404 otherwise", async () => {
  const base = {
    metrics: () => Promise.resolve(""),
    readiness: () => Promise.resolve({ ready: true, checks: {} }),
  };
  const without = createAdminHandler(base);
  assert.equal((await without(new Request("http://127.0.0.1/status"))).status, 404);
  const doc = { ready: false, checks: { state: "starting" } };
  const withStatus = createAdminHandler({ ...base, status: () => Promise.resolve(doc) });
  const res = await withStatus(new Request("http://127.0.0.1/status"));
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /application\/json/);
  assert.deepEqual(AdminStatusSchema.parse(await res.json()), doc);
});
