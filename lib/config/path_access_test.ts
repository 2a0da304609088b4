import assert from "node:assert/strict";
import { formatIssue } from "./issue.ts";
import { parseConfigText } from "./load.ts";
import type { PathAccess, PathAccessKind } from "./path_access.ts";
import { configPaths } from "./path_access.ts";
import type { LabmanConfig } from "./schema.ts";

/** labmand's directories as the shared definition has them, decided by prefix. */
const LABMAND: PathAccess = {
  program: "labmand",
  allowed(path: string, access: PathAccessKind) {
    return this.dirs(access).some((d) => path === d || path.startsWith(`${d}/`));
  },
  dirs: (access) =>
    access === "read"
      ? ["/etc/labman", "/var/lib/labman", "/run/labman"]
      : ["/var/lib/labman", "/run/labman"],
};

const TUNNEL = `[control_plane]
base_url = "http://10.0.0.1:8443"
node_token_file = "/etc/labman/node_token"

[wireguard]
mode = "userspace"

[rosenpass]
peer_public_key_path = "/etc/labman/peer.pqpk"

[[endpoints]]
name = "gpu"
base_url = "http://192.168.1.10:8000/v1"
api_key_file = "/etc/labman/gpu.key"
`;

function parse(text: string, cwd = "/srv") {
  return parseConfigText(text, "labman.toml", { pathAccess: LABMAND, cwd });
}

Deno.test("configPaths: every path a config makes labmand read or write, only where used", () => {
  const r = parseConfigText(TUNNEL, "labman.toml");
  assert.ok(r.ok);
  const fields = (c: LabmanConfig) =>
    configPaths(c).map((p) => `${p.path.join(".")} ${p.access.join("+")}`);
  assert.deepEqual(fields(r.config), [
    "control_plane.node_token_file read",
    "wireguard.private_key_path read+write",
    "wireguard.public_key_path read+write",
    "rosenpass.secret_key_path read",
    "rosenpass.public_key_path read",
    "rosenpass.peer_public_key_path read",
    "rosenpass.state_dir read+write",
    "portman.secret_file read+write",
    "endpoints.0.api_key_file read",
  ]);
  // Local mode: no Rosenpass; Portman off: no secret file.
  const local = parseConfigText(
    '[wireguard]\nmode = "off"\n[portman]\nenabled = false\n[[endpoints]]\nname = "a"\nbase_url = "http://127.0.0.1:8000/v1"\n',
    "l.toml",
  );
  assert.ok(local.ok);
  assert.deepEqual(fields(local.config), [
    "wireguard.private_key_path read+write",
    "wireguard.public_key_path read+write",
  ]);
});

Deno.test("the defaults and paths under labmand's directories pass", () => {
  const r = parse(TUNNEL);
  assert.ok(r.ok, r.ok ? "" : r.errors.map(formatIssue).join("\n"));
});

Deno.test("a path outside is an error with line, field, the directories and where to move it", () => {
  const text = TUNNEL.replace("/etc/labman/gpu.key", "/root/gpu.key")
    .replace('mode = "userspace"', 'mode = "userspace"\nprivate_key_path = "/home/op/wg.key"');
  const r = parse(text);
  assert.ok(!r.ok);
  assert.deepEqual(r.errors.map(formatIssue), [
    "labman.toml:7: wireguard.private_key_path: /home/op/wg.key is outside the directories " +
    "labmand may read (/etc/labman, /var/lib/labman, /run/labman) — move it under " +
    "/var/lib/labman/wireguard and set the field to the new path",
    "labman.toml:15: endpoints[0].api_key_file: /root/gpu.key is outside the directories " +
    "labmand may read (/etc/labman, /var/lib/labman, /run/labman) — move it under /etc/labman " +
    "and set the field to the new path",
  ]);
});

Deno.test("readable but not writable where labmand must write: the write is named", () => {
  const r = parse(TUNNEL.replace("[rosenpass]", '[rosenpass]\nstate_dir = "/etc/labman/rp"'));
  assert.ok(!r.ok);
  assert.match(
    formatIssue(r.errors[0]),
    /rosenpass\.state_dir: \/etc\/labman\/rp is outside the directories labmand may write \(\/var\/lib\/labman, \/run\/labman\) — move it under \/run\/labman/,
  );
});

Deno.test("relative paths count from labmand's working directory", () => {
  const text = TUNNEL.replace("/etc/labman/gpu.key", "gpu.key");
  assert.ok(parse(text, "/etc/labman").ok);
  const r = parse(text, "/srv");
  assert.ok(!r.ok);
  assert.match(formatIssue(r.errors[0]), /api_key_file: gpu\.key is outside/);
});

Deno.test("an unreachable secret is reported once, as unreachable (not also as missing)", () => {
  const text = TUNNEL.replace("/etc/labman/gpu.key", "/root/gpu.key");
  const r = parseConfigText(text, "labman.toml", {
    pathAccess: LABMAND,
    cwd: "/",
    checkKeyFiles: true,
    stat: () => ({ kind: "missing" }),
  });
  assert.ok(!r.ok);
  const onField = r.errors.filter((e) => e.path === "endpoints[0].api_key_file");
  assert.equal(onField.length, 1);
  assert.match(onField[0].message, /is outside the directories/);
});
