/**
 * `labman status` (a `labman/main.ts` process with the `labman` task's permission flags) against
 * a real loopback admin listener (lib/admin's handler serving the `/status` document labmand's
 * builder makes), against listeners that answer something else, and against a closed port.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runLabman } from "./helpers/labman_cli.ts";
import { type AdminStatus, createAdminHandler, type Readiness } from "../lib/admin/mod.ts";
import { buildAdminStatus } from "../labmand/admin_status.ts";
import { makeTestDir } from "./helpers/test_dirs.ts";

async function withAdmin(
  readiness: Readiness,
  fn: (url: string, port: number) => Promise<void>,
  status: (() => Promise<AdminStatus>) | null = () =>
    Promise.resolve(buildAdminStatus({
      readiness,
      dataPlane: {
        endpoints: [
          { name: "ollama", healthy: true, models: ["a", "b"], in_flight: 1, max_concurrent: null },
          { name: "vllm", healthy: false, models: [], in_flight: 0, max_concurrent: 4 },
        ],
        requests: { total: 7, errors: 0, in_flight: 1, queue_depth: 0 },
        capabilities: { models: ["a", "b"], endpoint_count: 2, max_concurrent_requests: null },
      },
      wireguard: {
        name: "labman0",
        backend: "userspace",
        peers: [{ publicKey: "cp", lastHandshakeAgeS: 40, rxBytes: 1, txBytes: 1, allowedIps: [] }],
      },
      pq: { state: "active" },
    })),
): Promise<void> {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    createAdminHandler({
      metrics: () => Promise.resolve(""),
      readiness: () => Promise.resolve(readiness),
      ...(status ? { status } : {}),
    }),
  );
  try {
    await fn(`http://127.0.0.1:${server.addr.port}`, server.addr.port);
  } finally {
    await server.shutdown();
    await server.finished;
  }
}

/** `labman status ARGS` as a process: exit code, stdout and stderr lines. */
async function status(args: string[]) {
  const r = await runLabman(["status", ...args]);
  const lines = (t: string) => t === "" ? [] : t.replace(/\n$/, "").split("\n");
  return { code: r.code, lines: lines(r.stdout), errors: lines(r.stderr) };
}

Deno.test("status summarises a ready labmand from its /status document", async () => {
  await withAdmin({ ready: true, checks: { endpoints: "1/2 healthy" } }, async (url) => {
    const c = await status(["--admin", url]);
    assert.equal(c.code, 0, c.errors.join("\n"));
    const text = c.lines.join("\n");
    assert.match(text, /labmand: +ready/);
    assert.match(text, /endpoints: +1\/2 healthy/);
    assert.match(text, /✓ ollama: up, 2 models, 1 in flight/);
    assert.match(text, /✗ vllm: DOWN, 0 models/);
    assert.match(text, /requests: +7 total, 1 in flight, 0 queued/);
    assert.match(text, /wireguard: +userspace backend, last handshake 40s ago/);
    assert.match(text, /rosenpass: +active/);
  });
});

Deno.test("status --json and exit 1 when not ready; admin address read from the config", async () => {
  await withAdmin({ ready: false, checks: { endpoints: "0/2 healthy" } }, async (_url, port) => {
    const dir = await makeTestDir({ prefix: "labman_status_" });
    try {
      const cfg = join(dir, "labman.toml");
      await Deno.writeTextFile(
        cfg,
        `[wireguard]\nmode = "off"\n\n[admin]\nlisten_port = ${port}\n`,
      );
      const c = await status(["--config", cfg, "--json"]);
      assert.equal(c.code, 1, c.errors.join("\n"));
      const json = JSON.parse(c.lines.join("\n"));
      assert.equal(json.reachable, true);
      assert.equal(json.ready, false);
      assert.equal(json.admin, `http://127.0.0.1:${port}`);
      assert.deepEqual(json.checks, { endpoints: "0/2 healthy" });
      assert.equal(json.endpointsHealthy, 1);
      assert.equal(json.requestsTotal, 7);
      assert.equal(json.rosenpass.state, "active");

      await Deno.writeTextFile(cfg, `[wireguard]\nmode = "off"\n\n[admin]\nenabled = false\n`);
      const d = await status(["--config", cfg]);
      assert.equal(d.code, 3);
      assert.match(
        d.errors.join("\n"),
        /admin listener is disabled in .*labman\.toml \(admin\.enabled = false\)/,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});

Deno.test("status exits 3 with a clear message when nothing listens", async () => {
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  const url = `http://127.0.0.1:${port}`;
  const c = await status(["--admin", url]);
  assert.equal(c.code, 3);
  assert.deepEqual(c.errors, [
    `labman status: labmand is not running or admin listener disabled (tried ${url})`,
  ]);

  const j = await status(["--admin", url, "--json"]);
  assert.equal(j.code, 3);
  const json = JSON.parse(j.lines[0]);
  assert.equal(json.reachable, false);
  assert.equal(json.admin, url);

  const u = await status(["--admin", "localhost:9464"]);
  assert.equal(u.code, 2);
  assert.match(u.errors[0], /--admin must be an http URL/);
});

Deno.test("status exits 3 and says why when /status is missing or not labmand's document", async () => {
  const ready = { ready: true, checks: {} };
  // An older labmand: no /status at all.
  await withAdmin(ready, async (url) => {
    const c = await status(["--admin", url]);
    assert.equal(c.code, 3);
    assert.match(
      c.errors.join("\n"),
      /Cannot read labmand's status at .*: this labmand has no \/status/,
    );
  }, null);
  // Something that is not labmand's document.
  await withAdmin(ready, async (url) => {
    const c = await status(["--admin", url, "--json"]);
    assert.equal(c.code, 3);
    const json = JSON.parse(c.lines.join("\n"));
    assert.equal(json.reachable, true);
    assert.match(json.error, /unexpected document/);
  }, () => Promise.resolve({ ready: "yes" } as unknown as AdminStatus));
});
