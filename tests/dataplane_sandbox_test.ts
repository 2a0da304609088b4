import assert from "node:assert/strict";
import { startDataPlane } from "../lib/dataplane/mod.ts";
import { LabmanConfigSchema } from "../lib/config/schema.ts";

Deno.test("data-plane Worker: Deno refuses other hosts, files, processes, env and other binds", async () => {
  const defaults = LabmanConfigSchema.parse({});
  await using endpoint = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => Response.json({ object: "list", data: [] }),
  );
  // A real listener the Worker is NOT allowed to reach: a refusal must come from Deno's
  // permission check, not from a closed port.
  await using other = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response("leak"),
  );
  const dp = await startDataPlane({
    bind: { hostname: "127.0.0.1", port: 18_999 },
    endpoints: [{
      name: "e",
      base_url: `http://127.0.0.1:${endpoint.addr.port}/v1`,
      models_include: [`http://127.0.0.1:${other.addr.port}/`],
    }],
    apiKeys: {},
    health: defaults.health,
    proxy: defaults.proxy,
    logging: defaults.logging,
    localMode: true,
  }, { workerUrl: new URL("./fixtures/sandbox_probe_worker.ts", import.meta.url) });
  const findings = await dp.status() as unknown as Record<string, string>;
  await dp.shutdown(0);
  assert.deepEqual(findings, {
    endpointFetch: "allowed",
    otherHostFetch: "NotCapable",
    otherPortConnect: "NotCapable",
    fileRead: "NotCapable",
    processStart: "NotCapable",
    envRead: "NotCapable",
    bindOther: "NotCapable",
  });
});
