/**
 * One log format for the whole daemon: labmand runs as a process (the `labmand` task's flags);
 * a line the data-plane Worker writes (registry health) and one the supervisor writes (ready)
 * have the same shape, in JSON and in text. The Worker formats its own lines (it has no env
 * permission and loads no logging library), so this is where a drift would show.
 */
import assert from "node:assert/strict";
import { startMockLlm } from "../lib/mockllm/mod.ts";
import { freePort } from "./helpers/netns.ts";
import { startLabmand } from "./helpers/labmand_process.ts";
import { makeTestDir } from "./helpers/test_dirs.ts";

async function config(format: "json" | "text", mockUrl: string): Promise<string> {
  const dir = await makeTestDir({ prefix: "labman-log-lines-" });
  const path = `${dir}/labman.toml`;
  await Deno.writeTextFile(
    path,
    `[wireguard]
mode = "off"

[proxy]
listen_port = ${freePort()}

[admin]
enabled = false

[logging]
level = "info"
format = "${format}"

[[endpoints]]
name = "gpu"
base_url = "${mockUrl}"
`,
  );
  return path;
}

const WORKER_LINE = /endpoint .*gpu.* is healthy/;
const SUPERVISOR_LINE = /labmand ready/;

Deno.test("log lines: the Worker's JSON lines have the supervisor's shape", async () => {
  await using mock = await startMockLlm({ models: ["llama-3-8b"] });
  await using labmand = await startLabmand(await config("json", mock.url));
  const worker = await labmand.waitForLog((l) => WORKER_LINE.test(String(l.message)));
  const supervisor = await labmand.waitForLog((l) => SUPERVISOR_LINE.test(String(l.message)));
  assert.equal(worker.logger, "labman.registry");
  assert.equal(supervisor.logger, "labman.labmand");
  for (const line of [worker, supervisor]) {
    assert.deepEqual(Object.keys(line), ["@timestamp", "level", "message", "logger", "properties"]);
    assert.match(String(line["@timestamp"]), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.equal(line.level, "INFO");
    assert.equal(typeof line.properties, "object");
  }
  assert.deepEqual(worker.properties, { endpoint: "gpu", count: 1, from: "unknown" });
  assert.equal(worker.message, 'endpoint "gpu" is healthy (1 models)');
});

Deno.test("log lines: the Worker's text lines have the supervisor's shape", async () => {
  await using mock = await startMockLlm({ models: ["llama-3-8b"] });
  await using labmand = await startLabmand(await config("text", mock.url), { expectReady: false });
  const raw = (re: RegExp) =>
    labmand.waitForLog((l) => l.raw === true && re.test(String(l.message)), 20_000);
  const worker = String((await raw(WORKER_LINE)).message);
  const supervisor = String((await raw(SUPERVISOR_LINE)).message);
  const shape =
    /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \+00 (TRC|DBG|INF|WRN|ERR|FTL) labman·([a-z]+): (.*)$/;
  const w = shape.exec(worker), s = shape.exec(supervisor);
  assert.ok(w, `Worker line out of shape: ${JSON.stringify(worker)}`);
  assert.ok(s, `supervisor line out of shape: ${JSON.stringify(supervisor)}`);
  assert.deepEqual([w[1], w[2]], ["INF", "registry"]);
  assert.deepEqual([s[1], s[2]], ["INF", "labmand"]);
  assert.equal(w[3], 'endpoint "gpu" is healthy (1 models) endpoint=gpu count=1 from=unknown');
  assert.ok(!(worker + supervisor).includes("\x1b"), "NO_COLOR: no colour codes in either");
});
