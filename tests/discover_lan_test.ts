/**
 * `labman discover` and the LAN, in network namespaces: a vLLM-dialect server on a LAN host is
 * found only when the operator names that host with `--hosts`, and gets no packet otherwise.
 *
 * Run directly (`deno run -A tests/discover_lan_test.ts <ip>`), this file is the LAN host: a
 * mock vLLM on <ip>:8000 that prints one hello line, answers "stats" lines with its request
 * counters, and exits on "stop".
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { startMockLlm } from "../lib/mockllm/mod.ts";
import { taskFlags } from "./helpers/labmand_process.ts";
import { createTopology, run, spawnDenoInNetns, stopChild } from "./helpers/netns.ts";

if (import.meta.main) {
  const mock = await startMockLlm({
    dialect: "vllm",
    models: ["Qwen/Qwen3-8B"],
    hostname: Deno.args[0]!,
    port: 8000,
  });
  console.log(JSON.stringify({ ready: true, url: mock.url }));
  const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
  for await (const chunk of lines) {
    if (chunk.includes("stats")) console.log(JSON.stringify(mock.stats().requests));
    if (chunk.includes("stop")) break;
  }
  await mock.close();
  Deno.exit(0);
}

const isRoot = Deno.uid() === 0;
if (!isRoot) console.log("discover_lan_test: skipped — needs root for network namespaces");
const SELF = fileURLToPath(import.meta.url);
const LABMAN = fileURLToPath(new URL("../labman/main.ts", import.meta.url));

Deno.test({
  name: "labman discover stays on loopback unless --hosts names a LAN host",
  ignore: !isRoot,
  async fn() {
    const t = await createTopology();
    let lanHost: Awaited<ReturnType<typeof spawnDenoInNetns>> | undefined;
    try {
      lanHost = await spawnDenoInNetns(t.lan, SELF, [t.lanHostIp]);
      assert.equal(lanHost.hello.ready, true);
      const flags = await taskFlags("labman");
      const discover = (...args: string[]) =>
        run([Deno.execPath(), "run", ...flags, LABMAN, "discover", "--json", ...args], {
          ns: t.node,
          timeoutMs: 60_000,
        });
      const stats = async () => {
        const w = lanHost!.child.stdin.getWriter();
        await w.write(new TextEncoder().encode("stats\n"));
        w.releaseLock();
        return JSON.parse(await lanHost!.out.next(5000)) as Record<string, number>;
      };

      const local = await discover("--timeout-ms", "1000");
      assert.equal(local.code, 1, local.stderr);
      assert.deepEqual(JSON.parse(local.stdout).hosts, ["127.0.0.1"]);
      assert.deepEqual(await stats(), {}, "the LAN host got no request");

      const lan = await discover("--hosts", t.lanHostIp, "--timeout-ms", "1000");
      assert.equal(lan.code, 0, lan.stderr);
      const found = JSON.parse(lan.stdout);
      assert.deepEqual(found.hosts, ["127.0.0.1", t.lanHostIp]);
      assert.deepEqual(
        found.servers.map((s: Record<string, unknown>) => [s.kind, s.base_url, s.models]),
        [["vllm", `http://${t.lanHostIp}:8000/v1`, ["Qwen/Qwen3-8B"]]],
      );
      const seen = await stats();
      assert.ok((seen["/v1/models"] ?? 0) >= 1, JSON.stringify(seen));
      assert.ok(
        !Object.keys(seen).some((p) => /completions|embeddings/.test(p)),
        "discovery never asks for a completion",
      );
    } finally {
      if (lanHost) {
        const w = lanHost.child.stdin.getWriter();
        await w.write(new TextEncoder().encode("stop\n")).catch(() => {});
        w.releaseLock();
        await lanHost.child.stdin.close().catch(() => {});
        await stopChild(lanHost.child);
        await lanHost.err;
      }
      await t.cleanup();
    }
  },
});
