import assert from "node:assert/strict";
import { join } from "node:path";
import { formatIssue } from "./issue.ts";
import { checkKeyFiles, type KeyFileStat } from "./key_files.ts";
import { parseConfigText } from "./load.ts";
import { LabmanConfigSchema } from "./schema.ts";

async function withDir(fn: (dir: string) => Promise<void> | void): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "labman_keys_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function writeSecret(path: string, mode: number): Promise<void> {
  await Deno.writeTextFile(path, "secret\n");
  await Deno.chmod(path, mode);
}

function configText(dir: string): string {
  return `[control_plane]
base_url = "https://cp.example.net"
node_token_file = "${join(dir, "token")}"
[wireguard]
private_key_path = "${join(dir, "wg.key")}"
[rosenpass]
secret_key_path = "${join(dir, "pqsk")}"
[[endpoints]]
name = "vllm"
base_url = "http://192.168.1.20:8000"
api_key_file = "${join(dir, "vllm.key")}"
`;
}

Deno.test("key files with mode 0600 pass", async () => {
  await withDir(async (dir) => {
    for (const f of ["token", "wg.key", "pqsk", "vllm.key"]) await writeSecret(join(dir, f), 0o600);
    const r = parseConfigText(configText(dir), "t.toml", { checkKeyFiles: true });
    assert.ok(r.ok, r.ok ? "" : r.errors.map(formatIssue).join("\n"));
    assert.deepEqual(r.warnings, []);
  });
});

Deno.test("a key file of mode 0644 is an error naming the chmod to run", async () => {
  await withDir(async (dir) => {
    for (const f of ["token", "wg.key", "pqsk"]) await writeSecret(join(dir, f), 0o600);
    await writeSecret(join(dir, "vllm.key"), 0o644);
    const r = parseConfigText(configText(dir), "t.toml", { checkKeyFiles: true });
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.equal(r.errors.length, 1);
    const [e] = r.errors;
    assert.equal(e.path, "endpoints[0].api_key_file");
    assert.equal(e.line, 11);
    assert.match(e.message, /has mode 0644/);
    assert.equal(e.fix, `run: chmod 600 ${join(dir, "vllm.key")}`);
  });
});

Deno.test("missing WireGuard/Rosenpass keys warn; a missing token file is an error", async () => {
  await withDir((dir) => {
    const r = parseConfigText(configText(dir), "t.toml", { checkKeyFiles: true });
    assert.equal(r.ok, false);
    if (r.ok) return;
    const paths = r.errors.map((e) => e.path).sort();
    assert.deepEqual(paths, ["control_plane.node_token_file", "endpoints[0].api_key_file"]);
    assert.match(
      formatIssue(r.errors[0]),
      /does not exist — write the secret to it, then run: chmod 600/,
    );
    const warnings = r.warnings.map(formatIssue);
    assert.equal(warnings.length, 2);
    for (const w of warnings) assert.match(w, /will be created by `labman keygen`/);
  });
});

Deno.test("key files are not checked unless asked, nor WG/Rosenpass keys in local mode", () => {
  const calls: string[] = [];
  const stat = (p: string): KeyFileStat => {
    calls.push(p);
    return { kind: "missing" };
  };
  const text = configText("/nonexistent");
  assert.ok(parseConfigText(text, "t.toml", { stat }).ok);
  assert.deepEqual(calls, []);
  const local = LabmanConfigSchema.parse({ wireguard: { mode: "off" } });
  assert.deepEqual(checkKeyFiles(local, stat), { errors: [], warnings: [] });
  assert.deepEqual(calls, []);
});

Deno.test("a directory or unreadable path is an error", () => {
  const config = LabmanConfigSchema.parse({
    control_plane: { base_url: "https://x", node_token_file: "/dir" },
    wireguard: { mode: "off" },
  });
  const dirResult = checkKeyFiles(config, () => ({ kind: "other" }));
  assert.match(dirResult.errors[0].message, /is not a regular file/);
  const denied = checkKeyFiles(config, () => ({ kind: "error", message: "Permission denied" }));
  assert.match(denied.errors[0].message, /cannot check \/dir: Permission denied/);
});
