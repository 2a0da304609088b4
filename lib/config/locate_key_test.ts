import assert from "node:assert/strict";
import { formatPath, indexKeys, locateKey, parsePath } from "./locate_key.ts";

const SOURCE = `# comment [not a table]
[control_plane]
base_url = "https://cp.example.net"  # trailing comment

[wireguard]
mode = "auto"
peer = { public_key = "abc=", allowed_ips = [
  "10.90.0.1/32",
  "10.90.0.2/32",
] }

[proxy]
listen_port = 8080
"quoted.key" = 1
nested.dotted = "x"

[[endpoints]]
name = "a"
base_url = """
http://a
"""

[[endpoints]]
name = "b"
models_include = ['x', "y"]
base_url = 'http://b'

[[endpoints]]
name = "c"
base_url = "http://c"
`;

Deno.test("locateKey finds table headers, keys and trailing-comment lines", () => {
  assert.equal(locateKey(SOURCE, "control_plane"), 2);
  assert.equal(locateKey(SOURCE, "control_plane.base_url"), 3);
  assert.equal(locateKey(SOURCE, "wireguard.mode"), 6);
  assert.equal(locateKey(SOURCE, "proxy.listen_port"), 13);
});

Deno.test("locateKey indexes [[endpoints]] entries in order", () => {
  assert.equal(locateKey(SOURCE, "endpoints"), 17);
  assert.equal(locateKey(SOURCE, "endpoints[0]"), 17);
  assert.equal(locateKey(SOURCE, "endpoints[0].name"), 18);
  assert.equal(locateKey(SOURCE, "endpoints[1].name"), 24);
  assert.equal(locateKey(SOURCE, "endpoints[1].base_url"), 26);
  assert.equal(locateKey(SOURCE, "endpoints[2].base_url"), 30);
});

Deno.test("locateKey follows multi-line strings without losing count", () => {
  // The """ string spans lines 19-21; the next header must still be on line 23.
  assert.equal(locateKey(SOURCE, "endpoints[0].base_url"), 19);
  assert.equal(locateKey(SOURCE, "endpoints[1]"), 23);
});

Deno.test("locateKey finds keys inside inline tables and array elements", () => {
  assert.equal(locateKey(SOURCE, "wireguard.peer"), 7);
  assert.equal(locateKey(SOURCE, "wireguard.peer.public_key"), 7);
  assert.equal(locateKey(SOURCE, "wireguard.peer.allowed_ips[1]"), 9);
  assert.equal(locateKey(SOURCE, "endpoints[1].models_include[1]"), 25);
});

Deno.test("locateKey handles dotted and quoted keys", () => {
  assert.equal(locateKey(SOURCE, "proxy.nested.dotted"), 15);
  assert.equal(locateKey(SOURCE, ["proxy", "quoted.key"]), 14);
});

Deno.test("locateKey falls back to the nearest present parent, else undefined", () => {
  assert.equal(locateKey(SOURCE, "control_plane.node_token"), 2);
  assert.equal(locateKey(SOURCE, "endpoints[2].api_key_file"), 28);
  assert.equal(locateKey(SOURCE, "health.interval_s"), undefined);
});

Deno.test("locateKey resolves sub-tables of an array of tables to the latest entry", () => {
  const src = "[[a]]\nx = 1\n[a.sub]\ny = 2\n[[a]]\nx = 3\n[a.sub]\ny = 4\n";
  assert.equal(locateKey(src, "a[0].sub.y"), 4);
  assert.equal(locateKey(src, "a[1].sub.y"), 8);
});

Deno.test("indexKeys never throws on broken text", () => {
  const index = indexKeys('[unclosed\nkey = "no end\n= 3\n[[x]]\n{ ]');
  assert.ok(index instanceof Map);
});

Deno.test("formatPath and parsePath round-trip", () => {
  assert.equal(formatPath(["endpoints", 2, "base_url"]), "endpoints[2].base_url");
  assert.deepEqual(parsePath("wireguard.peer.allowed_ips[0]"), [
    "wireguard",
    "peer",
    "allowed_ips",
    0,
  ]);
});
