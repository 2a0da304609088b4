import assert from "node:assert/strict";
import { type ConfigIssue, formatIssue } from "./issue.ts";
import { type LoadResult, parseConfigText } from "./load.ts";
import { LabmanConfigSchema } from "./schema.ts";
import { normaliseEndpointUrl, proxyListenAddr, validateConfig } from "./validate.ts";

const PEER_KEY = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=";
const LOCAL = `[wireguard]\nmode = "off"\n`;
const CP = `[control_plane]\nbase_url = "https://cp.example.net"\nnode_token_file = "/t"\n`;
const STATIC = `[wireguard]\naddress = "10.90.0.5/32"\n[wireguard.peer]\npublic_key = "${PEER_KEY}"
allowed_ips = ["10.90.0.1/32"]\n[rosenpass]\npeer_public_key_path = "/cp.pqpk"\n`;
const EP = `[[endpoints]]\nname = "ollama"\nbase_url = "http://127.0.0.1:11434"\n`;

function run(toml: string): LoadResult {
  return parseConfigText(toml, "t.toml");
}

function errorsOf(toml: string): ConfigIssue[] {
  const r = run(toml);
  assert.equal(r.ok, false, "expected the config to be rejected");
  return r.ok ? [] : r.errors;
}

function okConfig(toml: string) {
  const r = run(toml);
  assert.ok(r.ok, r.ok ? "" : r.errors.map(formatIssue).join("\n"));
  return r;
}

/** Asserts one issue has `path` and a message (or fix) containing `fragment`. */
function assertIssue(issues: ConfigIssue[], path: string, fragment: string): ConfigIssue {
  const hit = issues.find((i) => i.path === path && formatIssue(i).includes(fragment));
  assert.ok(
    hit,
    `no issue at ${path} containing "${fragment}" in:\n${issues.map(formatIssue).join("\n")}`,
  );
  return hit;
}

Deno.test("valid configs: local mode, control-plane mode and static-peer mode", () => {
  okConfig(LOCAL + EP);
  okConfig(CP + EP);
  okConfig(STATIC + EP);
});

Deno.test("local mode needs no control plane, no keys and ignores rosenpass", () => {
  const r = okConfig(LOCAL + EP + `[rosenpass]\nlisten = "not an address"\n`);
  assert.equal(r.config.control_plane, undefined);
  assert.equal(proxyListenAddr(r.config), "127.0.0.1");
});

Deno.test("control_plane.base_url must be an http(s) URL", () => {
  const errs = errorsOf(CP.replace("https://cp.example.net", "cp.example.net") + EP);
  const issue = assertIssue(errs, "control_plane.base_url", "not an http(s) URL");
  assert.equal(issue.line, 2);
  assertIssue(
    errorsOf(CP.replace("https://", "ftp://") + EP),
    "control_plane.base_url",
    'scheme is "ftp"',
  );
});

Deno.test("control_plane.base_url loses trailing slashes; plain http warns unless loopback", () => {
  const r = okConfig(CP.replace("https://cp.example.net", "http://cp.example.net/api/") + EP);
  assert.equal(r.config.control_plane?.base_url, "http://cp.example.net/api");
  assertIssue(r.warnings, "control_plane.base_url", "unencrypted");
  const local = okConfig(CP.replace("https://cp.example.net", "http://127.0.0.1:8000") + EP);
  assert.deepEqual(local.warnings, []);
});

Deno.test("endpoint base_url must be an http(s) URL without credentials", () => {
  const bad = (url: string) => errorsOf(LOCAL + EP.replace("http://127.0.0.1:11434", url));
  assertIssue(bad("127.0.0.1:11434"), "endpoints[0].base_url", "not an http(s) URL");
  assertIssue(bad("not a url"), "endpoints[0].base_url", 'use e.g. "http://127.0.0.1:11434/v1"');
  assertIssue(bad("http://u:p@h:1/v1"), "endpoints[0].base_url", "endpoints[0].api_key_file");
  assertIssue(bad("http://h:1/v1?x=1"), "endpoints[0].base_url", "query");
});

Deno.test("endpoint base URLs are normalised to end in /v1", () => {
  const cases: [string, string][] = [
    ["http://127.0.0.1:11434", "http://127.0.0.1:11434/v1"],
    ["http://127.0.0.1:11434/", "http://127.0.0.1:11434/v1"],
    ["http://127.0.0.1:11434///", "http://127.0.0.1:11434/v1"],
    ["http://192.168.1.20:8000/v1/", "http://192.168.1.20:8000/v1"],
    ["https://h/api/v1", "https://h/api/v1"],
    ["http://[::1]:8080", "http://[::1]:8080/v1"],
  ];
  for (const [raw, want] of cases) {
    const r = okConfig(LOCAL + EP.replace("http://127.0.0.1:11434", raw));
    assert.equal(r.config.endpoints[0].base_url, want, raw);
    assert.deepEqual(normaliseEndpointUrl(raw), { ok: true, url: want });
  }
});

Deno.test("endpoint base URL with a path not ending in /v1 is an error with a fix", () => {
  const errs = errorsOf(LOCAL + EP.replace("http://127.0.0.1:11434", "http://h:8000/api/"));
  const issue = assertIssue(errs, "endpoints[0].base_url", 'path "/api" does not end in /v1');
  assert.equal(issue.fix, 'use e.g. "http://h:8000/api/v1"');
});

Deno.test("endpoint names must be unique", () => {
  const errs = errorsOf(LOCAL + EP + EP.replace("11434", "11435"));
  const issue = assertIssue(errs, "endpoints[1].name", 'duplicate endpoint name "ollama"');
  assert.equal(issue.line, 7);
});

Deno.test("the same endpoint URL twice is a warning", () => {
  const r = okConfig(LOCAL + EP + EP.replace('"ollama"', '"again"'));
  assertIssue(r.warnings, "endpoints[1].base_url", "same URL as endpoints[0]");
});

Deno.test("no endpoints is a warning", () => {
  assertIssue(okConfig(LOCAL).warnings, "endpoints", "no endpoints configured");
});

Deno.test("control_plane needs exactly one of node_token / node_token_file", () => {
  const none = errorsOf(CP.replace('node_token_file = "/t"\n', "") + EP);
  assertIssue(none, "control_plane", "set exactly one of node_token_file or node_token");
  const both = errorsOf(CP + `node_token = "secret"\n` + EP);
  assertIssue(both, "control_plane.node_token", "node_token and node_token_file are both set");
});

Deno.test("control_plane.retry_initial_ms must not exceed retry_max_ms", () => {
  const errs = errorsOf(CP + "retry_initial_ms = 5000\nretry_max_ms = 1000\n" + EP);
  assertIssue(errs, "control_plane.retry_initial_ms", "must not exceed control_plane.retry_max_ms");
});

Deno.test("a tunnel mode without control plane needs wireguard.address and a peer", () => {
  const errs = errorsOf(`[wireguard]\nmode = "userspace"\n` + EP);
  assertIssue(errs, "wireguard.address", 'wireguard.mode = "userspace" needs a [control_plane]');
  const noPeer = errorsOf(`[wireguard]\naddress = "10.90.0.5"\n` + EP);
  assertIssue(noPeer, "wireguard.peer", "or both wireguard.address and [wireguard.peer]");
});

Deno.test("rosenpass without control plane needs the peer's public key", () => {
  const errs = errorsOf(STATIC.replace('peer_public_key_path = "/cp.pqpk"\n', "") + EP);
  assertIssue(errs, "rosenpass.peer_public_key_path", "Rosenpass needs the peer's public key");
  okConfig(STATIC.replace('peer_public_key_path = "/cp.pqpk"', "enabled = false") + EP);
});

Deno.test("wireguard.address must be a single host; a bare IP gets /32 or /128", () => {
  const errs = errorsOf(STATIC.replace("10.90.0.5/32", "10.90.0.0/24") + EP);
  const issue = assertIssue(errs, "wireguard.address", "is a network, not a single host");
  assert.equal(issue.fix, 'use "10.90.0.0/32"');
  assertIssue(
    errorsOf(STATIC.replace("10.90.0.5/32", "fd00::5/64") + EP),
    "wireguard.address",
    "/128",
  );
  assertIssue(
    errorsOf(STATIC.replace("10.90.0.5/32", "0.0.0.0/32") + EP),
    "wireguard.address",
    "not a unicast",
  );
  assertIssue(
    errorsOf(STATIC.replace("10.90.0.5/32", "wg0") + EP),
    "wireguard.address",
    "not an IP address",
  );
  assert.equal(
    okConfig(STATIC.replace("10.90.0.5/32", "10.90.0.5") + EP).config.wireguard.address,
    "10.90.0.5/32",
  );
  assert.equal(
    okConfig(STATIC.replace("10.90.0.5/32", "fd00:0::5") + EP).config.wireguard.address,
    "fd00::5/128",
  );
});

Deno.test("proxy.listen_addr in local mode: only 127.0.0.1 or ::1", () => {
  okConfig(LOCAL + `[proxy]\nlisten_addr = "127.0.0.1"\n` + EP);
  okConfig(LOCAL + `[proxy]\nlisten_addr = "::1"\n` + EP);
  const any = errorsOf(LOCAL + `[proxy]\nlisten_addr = "0.0.0.0"\n` + EP);
  assertIssue(any, "proxy.listen_addr", '"0.0.0.0" binds every interface, including the LAN');
  assertIssue(any, "proxy.listen_addr", "in local mode");
  const lan = errorsOf(LOCAL + `[proxy]\nlisten_addr = "192.168.1.5"\n` + EP);
  assertIssue(lan, "proxy.listen_addr", "is a LAN address (192.168.0.0/16)");
  assertIssue(
    errorsOf(LOCAL + `[proxy]\nlisten_addr = "localhost"\n` + EP),
    "proxy.listen_addr",
    "not an IP address",
  );
});

Deno.test("proxy.listen_addr with a tunnel must equal the WireGuard address", () => {
  const r = okConfig(STATIC + `[proxy]\nlisten_addr = "10.90.0.5"\n` + EP);
  assert.equal(proxyListenAddr(r.config), "10.90.0.5");
  for (const addr of ["0.0.0.0", "::"]) {
    const errs = errorsOf(STATIC + `[proxy]\nlisten_addr = "${addr}"\n` + EP);
    assertIssue(errs, "proxy.listen_addr", "binds every interface, including the LAN");
  }
  const lan = errorsOf(STATIC + `[proxy]\nlisten_addr = "192.168.1.5"\n` + EP);
  const issue = assertIssue(lan, "proxy.listen_addr", "is a LAN address");
  assert.equal(issue.fix, 'use "10.90.0.5" or remove proxy.listen_addr');
  const other = errorsOf(STATIC + `[proxy]\nlisten_addr = "10.90.0.6"\n` + EP);
  assertIssue(other, "proxy.listen_addr", "binds only to the WireGuard address 10.90.0.5");
});

Deno.test("proxy.listen_addr cannot be checked before registration, so it is refused", () => {
  const errs = errorsOf(CP + `[proxy]\nlisten_addr = "10.90.0.5"\n` + EP);
  assertIssue(errs, "proxy.listen_addr", "not known until registration");
  assert.equal(proxyListenAddr(okConfig(CP + EP).config), undefined);
  // After registration the daemon passes the assigned address through the same rule.
  assert.equal(proxyListenAddr(okConfig(CP + EP).config, "fd00:0::7/128"), "fd00::7");
  assert.equal(proxyListenAddr(okConfig(CP + EP).config, null), undefined);
});

Deno.test("admin and portman listeners must be loopback", () => {
  const admin = errorsOf(LOCAL + `[admin]\nlisten_addr = "0.0.0.0"\n` + EP);
  assertIssue(admin, "admin.listen_addr", "the admin listener binds only to loopback");
  const portman = errorsOf(LOCAL + `[portman]\nlisten_addr = "192.168.1.2"\n` + EP);
  assertIssue(portman, "portman.listen_addr", "the portman listener binds only to loopback");
  okConfig(LOCAL + `[admin]\nlisten_addr = "::1"\n[portman]\nlisten_addr = "127.0.0.2"\n` + EP);
});

Deno.test("wireguard.peer.public_key and endpoint are checked", () => {
  const errs = errorsOf(STATIC.replace(PEER_KEY, "short") + EP);
  assertIssue(errs, "wireguard.peer.public_key", "not a WireGuard public key");
  const ep = errorsOf(
    STATIC.replace("allowed_ips", 'endpoint = "cp.example.net"\nallowed_ips') + EP,
  );
  assertIssue(ep, "wireguard.peer.endpoint", 'not "host:port"');
});

Deno.test("wide, private or default allowed_ips are warnings, never errors", () => {
  const ips =
    '["0.0.0.0/0", "::/0", "192.168.0.0/16", "fd00::/64", "8.8.0.0/16", "10.90.0.1/32", "10.90.0.2"]';
  const r = okConfig(STATIC.replace('["10.90.0.1/32"]', ips) + EP);
  const w = r.warnings;
  assertIssue(w, "wireguard.peer.allowed_ips[0]", "is a default route");
  assertIssue(w, "wireguard.peer.allowed_ips[1]", "is a default route");
  assertIssue(w, "wireguard.peer.allowed_ips[2]", "overlaps the private range 192.168.0.0/16");
  assertIssue(w, "wireguard.peer.allowed_ips[3]", "overlaps the private range fc00::/7");
  assertIssue(w, "wireguard.peer.allowed_ips[4]", "is wider than a single host");
  assert.ok(!w.some((i) => i.path.startsWith("wireguard.peer.allowed_ips[5]")));
  assert.ok(!w.some((i) => i.path.startsWith("wireguard.peer.allowed_ips[6]")));
  assert.equal(r.config.wireguard.peer?.allowed_ips[6], "10.90.0.2/32");
  assert.equal(w.find((i) => i.path === "wireguard.peer.allowed_ips[2]")?.line, 5);
});

Deno.test("an unparsable allowed_ips entry is an error", () => {
  const errs = errorsOf(STATIC.replace('"10.90.0.1/32"', '"10.90.0.1/40"') + EP);
  assertIssue(errs, "wireguard.peer.allowed_ips[0]", "not an IP prefix");
});

Deno.test("health thresholds must be sane", () => {
  const slow = errorsOf(LOCAL + "[health]\ninterval_s = 5\ntimeout_ms = 5000\n" + EP);
  assertIssue(slow, "health.timeout_ms", "must be shorter than health.interval_s (5 s = 5000 ms)");
  const backoff = errorsOf(LOCAL + "[health]\ninterval_s = 60\nbackoff_max_s = 30\n" + EP);
  assertIssue(backoff, "health.backoff_max_s", "must be at least health.interval_s (60)");
  const many = errorsOf(LOCAL + "[health]\nhealthy_after = 1000\nunhealthy_after = 101\n" + EP);
  assertIssue(many, "health.healthy_after", "at most 100");
  assertIssue(many, "health.unhealthy_after", "at most 100");
  assertIssue(
    errorsOf(LOCAL + "[health]\nhealthy_after = 0\n" + EP),
    "health.healthy_after",
    "must be > 0",
  );
});

Deno.test("ports that clash on the same address are errors", () => {
  const tcp = errorsOf(LOCAL + "[admin]\nlisten_port = 7070\n" + EP);
  assertIssue(
    tcp,
    "portman.listen_port",
    "port 7070 is also used by admin.listen_port on 127.0.0.1",
  );
  const proxy = errorsOf(LOCAL + "[proxy]\nlisten_port = 9464\n" + EP);
  assertIssue(proxy, "admin.listen_port", "port 9464 is also used by proxy.listen_port");
  const udp = errorsOf(CP + `[rosenpass]\nlisten = "0.0.0.0:51820"\n` + EP);
  assertIssue(udp, "rosenpass.listen", "port 51820 is also used by wireguard.listen_port (UDP)");
  // Different loopback addresses, a disabled listener, or the WireGuard address: no clash.
  okConfig(LOCAL + `[admin]\nlisten_port = 7070\nlisten_addr = "127.0.0.2"\n` + EP);
  okConfig(LOCAL + "[admin]\nlisten_port = 7070\nenabled = false\n" + EP);
  okConfig(CP + "[proxy]\nlisten_port = 9464\n" + EP);
});

Deno.test("rosenpass.listen must be address:port when rosenpass runs", () => {
  assertIssue(
    errorsOf(CP + `[rosenpass]\nlisten = "9999"\n` + EP),
    "rosenpass.listen",
    'not "address:port"',
  );
  okConfig(CP + `[rosenpass]\nlisten = "9999"\nenabled = false\n` + EP);
});

Deno.test("validateConfig does not change its input", () => {
  const input = LabmanConfigSchema.parse({
    wireguard: { mode: "off" },
    endpoints: [{ name: "a", base_url: "http://h:1/" }],
  });
  const out = validateConfig(input);
  assert.equal(input.endpoints[0].base_url, "http://h:1/");
  assert.equal(out.config.endpoints[0].base_url, "http://h:1/v1");
});
