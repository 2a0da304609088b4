/**
 * `labman status` (a `labman/main.ts` process with the `labman` task's permission flags) against
 * a real loopback admin listener (lib/admin's handler serving prom-client metrics) and against a
 * closed port.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runLabman } from "./helpers/labman_cli.ts";
import { createAdminHandler, type Readiness } from "../lib/admin/mod.ts";
import { createDataPlaneMetrics } from "../lib/telemetry/mod.ts";

async function withAdmin(
  readiness: Readiness,
  fn: (url: string, port: number) => Promise<void>,
): Promise<void> {
  const m = createDataPlaneMetrics();
  m.endpointUp.set({ endpoint: "ollama" }, 1);
  m.endpointUp.set({ endpoint: "vllm" }, 0);
  m.endpointModels.set({ endpoint: "ollama" }, 2);
  m.endpointModels.set({ endpoint: "vllm" }, 0);
  m.inFlight.set({ endpoint: "ollama" }, 1);
  m.requests.inc({ model: "s1", endpoint: "ollama", status: "200" }, 7);
  m.queueDepth.set(0);
  const supervisor = `# TYPE labman_wireguard_backend_info gauge
labman_wireguard_backend_info{backend="userspace"} 1
labman_wireguard_last_handshake_age_seconds{peer="cp"} 40
labman_rosenpass_state{state="active"} 1
labman_rosenpass_state{state="stale"} 0
`;
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    createAdminHandler({
      metrics: async () => (await m.registry.metrics()) + supervisor,
      readiness: () => Promise.resolve(readiness),
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

Deno.test("status summarises a ready labmand from /readyz and /metrics", async () => {
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
    const dir = await Deno.makeTempDir({ prefix: "labman_status_" });
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
