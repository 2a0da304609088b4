/**
 * `labman discover` as operators run it: the real CLI process (the `labman` task's permission
 * flags) against mock servers playing real dialects on loopback ports.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { parse as parseToml } from "smol-toml";
import { startMockLlm } from "../lib/mockllm/mod.ts";
import { taskFlags } from "./helpers/labmand_process.ts";
import { freePort } from "./helpers/netns.ts";
import { makeTestDir, TEST_ROOT } from "./helpers/test_dirs.ts";

const MAIN = fileURLToPath(new URL("../labman/main.ts", import.meta.url));

async function labman(
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  const flags = await taskFlags("labman");
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, MAIN, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const dec = new TextDecoder();
  return { code: r.code, stdout: dec.decode(r.stdout), stderr: dec.decode(r.stderr) };
}

Deno.test("labman discover: finds and identifies servers, prints pasteable [[endpoints]]", async () => {
  await using ollama = await startMockLlm({
    dialect: "ollama",
    models: ["llama3.2:3b", "qwen3:8b"],
  });
  await using vllm = await startMockLlm({ dialect: "vllm", models: ["Qwen/Qwen3-8B"] });
  await using tgi = await startMockLlm({ dialect: "tgi", models: ["HuggingFaceTB/SmolLM2-1.7B"] });
  const closed = freePort();
  const dir = await makeTestDir({ prefix: "labman-discover-" });
  // A config that already has the vLLM server: printing skips it, and names avoid "ollama".
  await Deno.writeTextFile(
    `${dir}/labman.toml`,
    `[[endpoints]]\nname = "ollama"\nbase_url = "http://127.0.0.1:1/v1"\n\n` +
      `[[endpoints]]\nname = "gpu"\nbase_url = "${vllm.url}"\n`,
  );
  const ports = `${ollama.port},${vllm.port},${tgi.port},${closed}`;
  const r = await labman("discover", "--config", `${dir}/labman.toml`, "--ports", ports);
  await Deno.remove(dir, { recursive: true });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /Probed 4 host:port pairs \(127\.0\.0\.1;/);
  assert.match(
    r.stderr,
    /found Ollama 0\.6\.5 at http:\/\/127\.0\.0\.1:\d+\/v1 — llama3\.2:3b, qwen3:8b/,
  );
  assert.match(r.stderr, /found vLLM 0\.8\.5 at .* — Qwen\/Qwen3-8B/);
  assert.match(r.stderr, /found Text Generation Inference 3\.0\.1/);
  const doc = parseToml(r.stdout) as { endpoints: Record<string, string>[] };
  assert.deepEqual(doc.endpoints.map((e) => [e.name, e.base_url, e.kind]), [
    ["ollama-2", ollama.url, "ollama"],
    ["tgi", tgi.url, "tgi"],
  ]);
  assert.match(r.stderr, /http:\/\/127\.0\.0\.1:\d+\/v1 is already configured as endpoint "gpu"/);
  assert.match(r.stdout, /# models: "llama3\.2:3b", "qwen3:8b"/);
});

Deno.test("labman discover --json, and exit 1 when nothing is found", async () => {
  await using kobold = await startMockLlm({ dialect: "koboldcpp", models: ["Mistral-7B"] });
  const r = await labman("discover", "--json", "--ports", String(kobold.port));
  assert.equal(r.code, 0, r.stderr);
  const got = JSON.parse(r.stdout);
  assert.deepEqual(got.hosts, ["127.0.0.1"], "loopback only by default");
  assert.deepEqual(
    got.servers.map((s: Record<string, unknown>) => [s.kind, s.port, s.models]),
    [["koboldcpp", kobold.port, ["koboldcpp/Mistral-7B"]]],
  );
  const none = await labman("discover", "--ports", String(freePort()));
  assert.equal(none.code, 1);
  assert.match(none.stderr, /No LLM server found\./);
  assert.equal(none.stdout, "");
});

Deno.test("labman discover --write appends new endpoints, keeps comments, skips configured ones", async () => {
  await using llama = await startMockLlm({ dialect: "llamacpp", models: ["tiny"] });
  await using sglang = await startMockLlm({ dialect: "sglang", models: ["Qwen/Qwen3-8B"] });
  const dir = await makeTestDir({ prefix: "labman-discover-" });
  try {
    const path = `${dir}/labman.toml`;
    const before = `# node config — hand written
[wireguard]
mode = "off" # no tunnel here

[[endpoints]]
# already known
name = "box"
base_url = "${llama.url.replace("/v1", "")}"
`;
    await Deno.writeTextFile(path, before, { mode: 0o640 });
    const ports = `${llama.port},${sglang.port}`;
    const r = await labman("discover", "--write", "--config", path, "--ports", ports);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /is already configured as endpoint "box"/);
    assert.match(r.stderr, /Added 1 endpoint\(s\) to .*: sglang\./);
    const after = await Deno.readTextFile(path);
    assert.ok(after.startsWith(before), "comments and layout kept");
    const doc = parseToml(after) as { endpoints: Record<string, string>[] };
    assert.deepEqual(doc.endpoints.map((e) => [e.name, e.kind ?? null]), [
      ["box", null],
      ["sglang", "sglang"],
    ]);
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o640, "file mode kept");
    const check = await labman("config", "check", "--config", path);
    assert.equal(check.code, 0, check.stderr + check.stdout);
    const again = await labman("discover", "--write", "--config", path, "--ports", ports);
    assert.match(again.stderr, /Nothing to add/);
    assert.equal(await Deno.readTextFile(path), after);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("labman discover rejects bad --hosts, --ports and missing configs clearly", async () => {
  const wide = await labman("discover", "--hosts", "10.0.0.0/8");
  assert.equal(wide.code, 2);
  assert.match(wide.stderr, /ranges wider than \/24 are refused/);
  const port = await labman("discover", "--ports", "80,http");
  assert.equal(port.code, 2);
  assert.match(port.stderr, /--ports "http": not a port number/);
  const missing = `${TEST_ROOT}/nonexistent/labman.toml`;
  const read = await labman("discover", "--config", missing);
  assert.equal(read.code, 2);
  assert.ok(
    read.stderr.includes(`Cannot read ${missing}: no such file — check --config`),
    read.stderr,
  );
  const cfg = await labman("discover", "--write", "--config", missing);
  assert.equal(cfg.code, 2);
  assert.ok(
    cfg.stderr.includes(`Cannot write endpoints: no config file at ${missing}`),
    cfg.stderr,
  );
  // Outside labman's directories Deno will not even say whether it exists: told where it must be.
  for (const write of [[], ["--write"]]) {
    const outside = await labman("discover", ...write, "--config", "/nonexistent/labman.toml");
    assert.equal(outside.code, 2);
    assert.match(
      outside.stderr,
      /Cannot read \/nonexistent\/labman\.toml: \/nonexistent\/labman\.toml is outside the directories labman may read \(\/etc\/labman, .*\) — pass --config PATH of a config under \/etc\/labman/,
    );
    assert.doesNotMatch(outside.stderr, /NotCapable|--allow-read|at .*\.ts:\d+/);
  }
});
