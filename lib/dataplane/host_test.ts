import assert from "node:assert/strict";
import { LabmanConfigSchema } from "../config/schema.ts";
import type { DataPlaneSettings } from "./messages.ts";
import { mergeLedgers, startDataPlane } from "./host.ts";

const defaults = LabmanConfigSchema.parse({});
const settings: DataPlaneSettings = {
  bind: { hostname: "127.0.0.1", port: 18_998 },
  endpoints: [],
  apiKeys: {},
  health: defaults.health,
  proxy: defaults.proxy,
  logging: defaults.logging,
  localMode: true,
};
const workerUrl = new URL("../../tests/fixtures/crashing_worker.ts", import.meta.url);

function total(snapshot: unknown[], name: string): number {
  const metric = (snapshot as { name: string; values: { value: number }[] }[])
    .find((m) => m.name === name);
  return metric?.values.reduce((s, v) => s + v.value, 0) ?? NaN;
}

Deno.test("a crashed data-plane Worker is restarted; state replayed; counters stay monotonic", async () => {
  let fatal: string | null = null;
  const restarted = Promise.withResolvers<number>();
  const dp = await startDataPlane(settings, {
    workerUrl,
    restartMinMs: 10,
    onFatal: (m) => fatal = m,
    onRestart: ({ restarts }) => restarted.resolve(restarts),
  });
  try {
    await dp.setSlugs([{ slug: "a", tenant: "t", model: "m" }, {
      slug: "b",
      tenant: "t",
      model: "m",
    }]);
    for (let i = 0; i < 3; i++) await dp.status();
    assert.equal(total(await dp.metrics(), "labman_proxy_requests_total"), 3);

    await dp.reconfigure(settings).catch(() => {}); // the Worker dies handling it
    assert.equal(await restarted.promise, 1);
    assert.equal(dp.restarts(), 1);
    assert.equal(fatal, null, "a crash is not fatal to the daemon");

    // The successor got the slug table again, and the counts of the dead Worker were kept.
    const status = await dp.status() as unknown as { slugs: number; requests: { total: number } };
    assert.equal(status.slugs, 2);
    assert.equal(status.requests.total, 4, "heartbeat totals include the dead Worker's 3");
    const snapshot = await dp.metrics();
    assert.equal(total(snapshot, "labman_proxy_requests_total"), 4, "3 carried + 1 new");
    assert.equal(total(snapshot, "labman_dataplane_restarts_total"), 1);
  } finally {
    await dp.shutdown(0);
  }
});

Deno.test("with restarts disabled a crash is reported once through onFatal", async () => {
  const fatal = Promise.withResolvers<string>();
  const dp = await startDataPlane(settings, {
    workerUrl,
    restart: false,
    onFatal: (m) => fatal.resolve(m),
  });
  try {
    await dp.reconfigure(settings).catch(() => {});
    assert.match(await fatal.promise, /simulated data-plane crash/);
  } finally {
    await dp.shutdown(0);
  }
});

Deno.test("a hand-over's successor is born with the slug table and accepting flag (before it binds)", async () => {
  const dp = await startDataPlane(settings, { workerUrl });
  try {
    await dp.setSlugs([{ slug: "a", tenant: "t", model: "m" }]);
    await dp.setAccepting(false, "maintenance");
    const before = await dp.status() as unknown as { acceptingAtInit: boolean | null };
    assert.equal(before.acceptingAtInit, null, "the first Worker had nothing to inherit");
    await dp.handover(settings, 0);
    const after = await dp.status() as unknown as { slugs: number; acceptingAtInit: boolean };
    assert.equal(after.slugs, 1);
    assert.equal(after.acceptingAtInit, false);
  } finally {
    await dp.shutdown(0);
  }
});

Deno.test("mergeLedgers: one ledger as is; a hand-over's two summed per key", async () => {
  const row = (tenant: string, requests: number) => ({
    tenant,
    slug: "s",
    endpoint: "e",
    model: "m",
    requests,
    prompt_tokens: requests * 10,
    completion_tokens: requests * 2,
    total_tokens: requests * 12,
  });
  assert.deepEqual(await mergeLedgers([]), []);
  assert.deepEqual(await mergeLedgers([[], [row("t1", 1)]]), [row("t1", 1)]);
  assert.deepEqual(
    await mergeLedgers([[row("t1", 1), row("t2", 4)], [row("t1", 2)]]),
    [row("t1", 3), row("t2", 4)],
  );
});
