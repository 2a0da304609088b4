/**
 * The example config and the docs must describe exactly the schema (drift fails here), and
 * `labman config check` must behave as documented.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runLabman } from "./helpers/labman_cli.ts";
import { schemaKeyPaths } from "../lib/config/_schema_paths.ts";
import { indexKeys } from "../lib/config/locate_key.ts";
import { formatIssue, jsonSchema, LabmanConfigSchema, parseConfigText } from "../lib/config/mod.ts";
import { makeTestDir } from "./helpers/test_dirs.ts";

const ROOT = new URL("../", import.meta.url);
const EXAMPLE = new URL("labman.example.toml", ROOT);
const DOCS = new URL("docs/configuration.md", ROOT);
const COMMENTED = /^#\s?((\[[^\]]*\]+)|([A-Za-z_][A-Za-z0-9_.]*\s*=.*))$/;

/** Uncomments `# key = value` and `# [table]` lines: those document optional settings. */
function uncomment(text: string): string {
  return text.split("\n").map((l) => COMMENTED.test(l) ? l.replace(/^#\s?/, "") : l).join("\n");
}

/** Key paths written in `text`, array indices replaced by `[]`, array elements dropped. */
function documentedKeys(text: string): Set<string> {
  const out = new Set<string>();
  for (const path of indexKeys(text).keys()) {
    if (/\[\d+\]$/.test(path)) continue;
    out.add(path.replace(/\[\d+\]/g, "[]"));
  }
  return out;
}

function diff(a: Set<string>, b: Set<string>): string[] {
  return [...a].filter((x) => !b.has(x)).sort();
}

Deno.test("labman.example.toml parses and validates", async () => {
  const text = await Deno.readTextFile(EXAMPLE);
  const r = parseConfigText(text, "labman.example.toml");
  assert.ok(r.ok, r.ok ? "" : r.errors.map(formatIssue).join("\n"));
  assert.deepEqual(r.warnings.map(formatIssue), []);
  assert.deepEqual(r.config.endpoints.map((e) => e.base_url), [
    "http://127.0.0.1:11434/v1",
    "http://192.168.1.20:8000/v1",
  ]);
});

Deno.test("labman.example.toml documents exactly the schema's fields", async () => {
  const documented = documentedKeys(uncomment(await Deno.readTextFile(EXAMPLE)));
  const schema = new Set(schemaKeyPaths(LabmanConfigSchema));
  assert.deepEqual(diff(schema, documented), [], "schema fields missing from the example");
  assert.deepEqual(diff(documented, schema), [], "example keys that the schema does not have");
});

Deno.test("every setting in labman.example.toml has a comment above it", async () => {
  const lines = uncomment(await Deno.readTextFile(EXAMPLE)).split("\n");
  const original = (await Deno.readTextFile(EXAMPLE)).split("\n");
  const bare: string[] = [];
  lines.forEach((line, i) => {
    if (!/^[A-Za-z_"][^=]*=/.test(line)) return;
    // The line above is a description, or another commented-out alternative with its own.
    const above = original[i - 1] ?? "";
    if (!above.startsWith("#")) bare.push(`${i + 1}: ${line}`);
  });
  assert.deepEqual(bare, []);
});

Deno.test("docs/configuration.md names every schema field", async () => {
  const docs = await Deno.readTextFile(DOCS);
  const missing = schemaKeyPaths(LabmanConfigSchema).filter((p) => !docs.includes("`" + p + "`"));
  assert.deepEqual(missing, []);
});

Deno.test("jsonSchema describes the config file", () => {
  const s = jsonSchema() as { type: string; properties: Record<string, unknown> };
  assert.equal(s.type, "object");
  assert.deepEqual(Object.keys(s.properties), Object.keys(LabmanConfigSchema.shape));
});

interface Captured {
  code: number;
  out: string;
  err: string;
}

/** `labman config check ARGS` as a process with the `labman` task's permission flags. */
async function check(args: string[]): Promise<Captured> {
  const r = await runLabman(["config", "check", ...args]);
  return { code: r.code, out: r.stdout.trimEnd(), err: r.stderr.trimEnd() };
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await makeTestDir({ prefix: "labman_check_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The example, with its secret files moved into `dir` (created with mode 0600). */
async function exampleIn(dir: string): Promise<string> {
  let text = await Deno.readTextFile(EXAMPLE);
  for (const name of ["node_token", "vllm.key"]) {
    const path = join(dir, name);
    await Deno.writeTextFile(path, "secret\n", { mode: 0o600 });
    await Deno.chmod(path, 0o600);
    text = text.replace(`/etc/labman/${name}`, path);
  }
  text = text.replaceAll("/var/lib/labman/", join(dir, "state") + "/");
  const file = join(dir, "labman.toml");
  await Deno.writeTextFile(file, text);
  return file;
}

Deno.test("config check prints the normalised config and warnings, exit 0", async () => {
  await withDir(async (dir) => {
    const file = await exampleIn(dir);
    const r = await check(["--config", file]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /base_url = "http:\/\/127\.0\.0\.1:11434\/v1"/);
    assert.match(r.out, /\[\[endpoints\]\]/);
    // WireGuard and Rosenpass keys do not exist yet: warnings only.
    assert.match(
      r.err,
      /warning: .*wireguard\.private_key_path: .* will be created by `labman keygen`/,
    );
    assert.match(r.err, /warning: .*rosenpass\.secret_key_path: /);
  });
});

Deno.test("config check takes the file as its only argument, like promtool and nginx -t", async () => {
  await withDir(async (dir) => {
    const file = await exampleIn(dir);
    const r = await check([file]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, new RegExp(`^# ${file}\n`));
    const two = await check([file, file]);
    assert.equal(two.code, 2);
    assert.match(two.err, /Cannot check .* one config file at a time/);
    const both = await check(["--config", file, join(dir, "other.toml")]);
    assert.equal(both.code, 2);
  });
});

Deno.test("config check redacts an inline node token", async () => {
  await withDir(async (dir) => {
    const file = join(dir, "labman.toml");
    await Deno.writeTextFile(
      file,
      `[control_plane]\nbase_url = "http://127.0.0.1:9"\nnode_token = "tok-123456"\n[wireguard]\nmode = "off"\n`,
      { mode: 0o600 },
    );
    const r = await check(["-c", file]);
    assert.equal(r.code, 0, r.err);
    assert.ok(!r.out.includes("tok-123456"));
    assert.match(r.out, /node_token = "\*\*\*"/);
    const j = await check(["-c", file, "--json"]);
    assert.equal(j.code, 0);
    const body = JSON.parse(j.out);
    assert.equal(body.ok, true);
    assert.equal(body.config.control_plane.node_token, "***");
  });
});

Deno.test("config check lists every error on stderr, exit 1, no stack trace", async () => {
  await withDir(async (dir) => {
    const file = join(dir, "labman.toml");
    await Deno.writeTextFile(
      file,
      `[proxy]\nlisten_prot = 1\nlisten_addr = "0.0.0.0"\n[wireguard]\nmode = "off"\n`,
    );
    const r = await check(["--config", file]);
    assert.equal(r.code, 1);
    assert.equal(r.out, "");
    assert.ok(
      r.err.includes(
        `error: ${file}:2: proxy.listen_prot: unknown field 'listen_prot' — did you mean 'listen_port'?`,
      ),
      r.err,
    );
    assert.ok(
      r.err.includes(`error: ${file}:3: proxy.listen_addr: "0.0.0.0" binds every interface`),
    );
    assert.match(r.err, /2 errors$/);
    assert.ok(!/\n\s+at /.test(r.err), "no stack trace");
    const j = await check(["--config", file, "--json"]);
    assert.equal(j.code, 1);
    assert.equal(JSON.parse(j.out).errors.length, 2);
  });
});

Deno.test("config check: missing file exit 1, syntax error with line, bad option exit 2", async () => {
  await withDir(async (dir) => {
    const missing = await check(["--config", join(dir, "none.toml")]);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /none\.toml: Cannot read config file: it does not exist/);
    const file = join(dir, "bad.toml");
    await Deno.writeTextFile(file, "[proxy\n");
    const syntax = await check(["--config", file]);
    assert.equal(syntax.code, 1);
    assert.match(syntax.err, new RegExp(`${file}:1:\\d+: invalid TOML`));
    const usage = await check(["--bogus"]);
    assert.equal(usage.code, 2);
    assert.match(usage.err, /Usage: labman config check/);
    const help = await check(["--help"]);
    assert.equal(help.code, 0);
    assert.match(help.out, /--config PATH/);
  });
});
