import assert from "node:assert/strict";
import { join } from "node:path";
import { formatIssue } from "./issue.ts";
import {
  configCandidates,
  DEFAULT_CONFIG_PATHS,
  findConfigFile,
  loadConfig,
  type LoadResult,
  parseConfigText,
} from "./load.ts";

const LOCAL =
  `[wireguard]\nmode = "off"\n[[endpoints]]\nname = "a"\nbase_url = "http://127.0.0.1:1"\n`;

function errorLines(r: LoadResult): string[] {
  assert.equal(r.ok, false);
  return r.ok ? [] : r.errors.map(formatIssue);
}

Deno.test("a TOML syntax error becomes one issue with line and column", () => {
  const r = parseConfigText(
    "[proxy]\nlisten_port = 8080\nlisten_addr = \n",
    "/etc/labman/labman.toml",
  );
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.equal(r.errors.length, 1);
  const [e] = r.errors;
  assert.equal(e.line, 3);
  assert.equal(e.column, 15);
  assert.equal(e.path, "");
  assert.match(formatIssue(e), /^\/etc\/labman\/labman\.toml:3:15: invalid TOML: invalid value/);
  assert.ok(!formatIssue(e).includes("\n"), "one line");
});

Deno.test("duplicate keys are a syntax error with a line", () => {
  const [line] = errorLines(parseConfigText("[proxy]\nlisten_port = 1\nlisten_port = 2\n", "f"));
  assert.match(line, /^f:3:\d+: invalid TOML: /);
});

Deno.test("an unknown key gets an edit-distance suggestion", () => {
  const lines = errorLines(parseConfigText(`[proxy]\nlisten_prot = 8080\n` + LOCAL, "f.toml"));
  assert.deepEqual(lines, [
    "f.toml:2: proxy.listen_prot: unknown field 'listen_prot' — did you mean 'listen_port'?",
  ]);
});

Deno.test("an unknown key far from any field lists the allowed ones", () => {
  const [line] = errorLines(parseConfigText(`colour = "red"\n` + LOCAL, "f"));
  assert.match(
    line,
    /^f:1: colour: unknown field 'colour' — allowed here: control_plane, wireguard,/,
  );
});

Deno.test("schema and cross-field errors are reported together, in line order", () => {
  const text = `[proxy]
listen_prot = 8080
listen_addr = "0.0.0.0"
[wireguard]
mode = "off"
[health]
jitter = 0.9
[[endpoints]]
name = "a"
base_url = "http://127.0.0.1:1"
[[endpoints]]
name = "a"
base_url = "http://127.0.0.1:2/api"
max_concurrent = "4"
`;
  const lines = errorLines(parseConfigText(text, "cfg.toml"));
  assert.deepEqual(lines.map((l) => l.split(": ").slice(0, 2).join(": ")), [
    "cfg.toml:2: proxy.listen_prot",
    "cfg.toml:3: proxy.listen_addr",
    "cfg.toml:7: health.jitter",
    "cfg.toml:12: endpoints[1].name",
    "cfg.toml:13: endpoints[1].base_url",
    "cfg.toml:14: endpoints[1].max_concurrent",
  ]);
  assert.match(lines[2], /must be ≤ 0\.5 \(got 0\.9\)/);
  assert.match(lines[5], /must be a number \(got the string "4"\)/);
});

Deno.test("a broken steering field (wireguard.mode) stops cross-field noise", () => {
  const lines = errorLines(parseConfigText(`[wireguard]\nmode = "of"\n`, "f"));
  assert.deepEqual(lines, [
    'f:2: wireguard.mode: must be one of "auto", "kernel", "userspace", "off" (got the string "of") — did you mean "off"?',
  ]);
});

Deno.test("missing required fields and wrong types are explained", () => {
  const lines = errorLines(
    parseConfigText(`[wireguard]\nmode = "off"\n[[endpoints]]\nname = 3\n`, "f"),
  );
  assert.deepEqual(lines, [
    "f:3: endpoints[0].base_url: is required",
    "f:4: endpoints[0].name: must be a string (got 3)",
  ]);
  const name = errorLines(parseConfigText(LOCAL.replace('name = "a"', 'name = "a b"'), "f"));
  assert.match(
    name[0],
    /endpoints\[0\]\.name: must be 1-64 letters, digits, '_', '\.' or '-' \(got the string "a b"\)/,
  );
});

Deno.test("parseConfigText returns the normalised config and never throws", () => {
  const r = parseConfigText(LOCAL, "f");
  assert.ok(r.ok);
  assert.equal(r.config.endpoints[0].base_url, "http://127.0.0.1:1/v1");
  assert.equal(r.config.proxy.listen_port, 8080);
  for (const junk of ["\u0000", "[[", "a = [1,", '"""', "= = =", "x = 1e999999"]) {
    const out = parseConfigText(junk, "f");
    assert.equal(typeof out.ok, "boolean");
  }
});

Deno.test("search order: --config only, else /etc/labman then ./labman.toml", () => {
  assert.deepEqual(configCandidates("/tmp/x.toml"), ["/tmp/x.toml"]);
  assert.deepEqual(configCandidates(), ["/etc/labman/labman.toml", "./labman.toml"]);
  assert.deepEqual([...DEFAULT_CONFIG_PATHS], configCandidates());
  const both = new Set(["/etc/labman/labman.toml", "./labman.toml"]);
  assert.equal(findConfigFile(configCandidates(), (p) => both.has(p)), "/etc/labman/labman.toml");
  assert.equal(findConfigFile(configCandidates(), (p) => p === "./labman.toml"), "./labman.toml");
  assert.equal(findConfigFile(configCandidates(), () => false), undefined);
  // An explicit path that does not exist never falls back to the defaults.
  assert.equal(findConfigFile(configCandidates("/missing"), (p) => both.has(p)), undefined);
});

Deno.test("loadConfig reads options.path and reports its file name", async () => {
  const dir = await Deno.makeTempDir({ prefix: "labman_cfg_" });
  try {
    const file = join(dir, "labman.toml");
    await Deno.writeTextFile(file, LOCAL);
    const r = await loadConfig({ path: file, checkKeyFiles: false });
    assert.ok(r.ok);
    assert.equal(r.file, file);
    await Deno.writeTextFile(file, LOCAL + "bogus = 1\n");
    const bad = await loadConfig({ path: file });
    assert.equal(bad.ok, false);
    if (!bad.ok) assert.equal(bad.errors[0].file, file);
    const missing = await loadConfig({ path: join(dir, "nope.toml") });
    assert.equal(missing.ok, false);
    if (!missing.ok) {
      assert.match(
        formatIssue(missing.errors[0]),
        /nope\.toml: Cannot read config file: it does not exist/,
      );
    }
    const isDir = await loadConfig({ path: dir });
    assert.equal(isDir.ok, false);
    if (!isDir.ok) assert.match(isDir.errors[0].message, /^Cannot read config file: /);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadConfig warns when an inline node token sits in a group-readable file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "labman_cfg_" });
  try {
    const file = join(dir, "labman.toml");
    await Deno.writeTextFile(
      file,
      `[control_plane]\nbase_url = "http://127.0.0.1:9"\nnode_token = "s3cret"\n` + LOCAL,
    );
    await Deno.chmod(file, 0o644);
    const r = await loadConfig({ path: file });
    assert.ok(r.ok);
    const w = r.warnings.find((i) => i.path === "control_plane.node_token");
    assert.ok(w);
    assert.equal(w.line, 3);
    assert.equal(w.fix, `move it to control_plane.node_token_file, or run: chmod 600 ${file}`);
    await Deno.chmod(file, 0o600);
    const quiet = await loadConfig({ path: file });
    assert.ok(quiet.ok && !quiet.warnings.some((i) => i.path === "control_plane.node_token"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
