/**
 * `labman doctor` end to end on a temporary root: a real endpoint and admin listener on
 * loopback, a closed port for a dead endpoint, and a fake host for tools and modules.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { doctor } from "../labman/commands/doctor.ts";
import { fakeHost } from "../lib/ops/fake_host.ts";

function serveModels() {
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const { pathname } = new URL(req.url);
    if (pathname === "/v1/models") {
      return Response.json({ object: "list", data: [{ id: "m1" }, { id: "m2" }] });
    }
    if (pathname === "/healthz") return new Response("ok\n");
    return new Response("not found", { status: 404 });
  });
}

function closedPort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

Deno.test("doctor lists ✓/!/✗ with fixes and fails only on ✗", async () => {
  const server = serveModels();
  const dir = await Deno.makeTempDir({ prefix: "labman_doctor_" });
  try {
    const root = join(dir, "root");
    await Deno.mkdir(join(root, "proc/sys/net/ipv4"), { recursive: true });
    await Deno.writeTextFile(join(root, "proc/sys/net/ipv4/ip_forward"), "1\n");
    const port = server.addr.port;
    const cfg = join(dir, "labman.toml");
    const base = `[wireguard]
mode = "off"

[admin]
listen_port = ${port}

[[endpoints]]
name = "good"
base_url = "http://127.0.0.1:${port}/v1"
`;
    await Deno.writeTextFile(cfg, base);
    const lines: string[] = [];
    const host = fakeHost({ executables: { wg: "/usr/bin/wg" } });
    const deps = { host, out: (l: string) => lines.push(l), err: (l: string) => lines.push(l) };

    assert.equal(
      await doctor(["--config", cfg, "--root", root, "--timeout-ms", "2000"], deps),
      0,
      lines.join("\n"),
    );
    let text = lines.join("\n");
    assert.match(text, /^✓ labman runtime: deno \d+\.\d+\.\d+/m);
    assert.match(
      text,
      /^! labmand binary: .*root\/usr\/local\/bin\/labmand not installed\n {4}fix: run: labman install$/m,
    );
    assert.match(text, /^✓ config: .*labman\.toml is valid \(wireguard mode off\)$/m);
    assert.match(text, /^✓ wg: \/usr\/bin\/wg$/m);
    assert.match(
      text,
      /^! net\.ipv4\.ip_forward: 1: this host routes packets \(labman never changes it\)$/m,
    );
    assert.match(text, /^✓ admin listener: labmand answers at http:\/\/127\.0\.0\.1:\d+$/m);
    assert.match(text, /^✓ endpoint good: 2 models at http:\/\/127\.0\.0\.1:\d+\/v1$/m);
    assert.match(text, /\n\n\d+ ok, \d+ warnings, 0 failed$/);

    const dead = closedPort();
    await Deno.writeTextFile(
      cfg,
      base + `\n[[endpoints]]\nname = "dead"\nbase_url = "http://127.0.0.1:${dead}/v1"\n`,
    );
    lines.length = 0;
    assert.equal(await doctor(["--config", cfg, "--root", root], deps), 1);
    text = lines.join("\n");
    assert.match(
      text,
      new RegExp(
        `✗ endpoint dead: cannot connect to endpoint \`dead\` at http://127\\.0\\.0\\.1:${dead}/v1: connection refused\\n` +
          " {4}fix: is the model server running\\? Otherwise fix endpoints\\[1\\]\\.base_url",
      ),
    );
    assert.match(text, /, 1 failed$/);
  } finally {
    await server.shutdown();
    await server.finished;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("doctor reports config errors and key file modes, and still checks the host", async () => {
  const dir = await Deno.makeTempDir({ prefix: "labman_doctor_" });
  try {
    const cfg = join(dir, "bad.toml");
    await Deno.writeTextFile(cfg, '[wireguard]\nmode = "sideways"\n');
    const lines: string[] = [];
    const deps = {
      host: fakeHost({ results: { "modprobe -n wireguard": { code: 1 } } }),
      out: (l: string) => lines.push(l),
      err: (l: string) => lines.push(l),
    };
    assert.equal(await doctor(["--config", cfg, "--root", join(dir, "root")], deps), 1);
    const text = lines.join("\n");
    assert.match(text, /✗ config: .*bad\.toml:2: wireguard\.mode: must be one of/);
    assert.match(text, /fix: check the whole file with: labman config check --config /);
    assert.match(text, /! config: the checks below use the defaults/);
    // Defaults: mode auto without a kernel module, so wireguard-go is required and missing.
    assert.match(text, /✗ wireguard-go: "wireguard-go" not found/);
    assert.match(text, /✗ rosenpass: "rosenpass" not found/);
    assert.doesNotMatch(text, /admin listener|endpoint /);

    const keys = join(dir, "keys");
    await Deno.mkdir(keys, { mode: 0o700 });
    await Deno.chmod(keys, 0o700);
    await Deno.writeTextFile(join(keys, "wg.key"), "k");
    await Deno.chmod(join(keys, "wg.key"), 0o640);
    const good = join(dir, "good.toml");
    await Deno.writeTextFile(
      good,
      `[wireguard]
mode = "userspace"
address = "10.90.0.5/32"
private_key_path = "${keys}/wg.key"
[wireguard.peer]
public_key = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="
endpoint = "192.0.2.1:51820"
[rosenpass]
enabled = false
[admin]
enabled = false
`,
    );
    lines.length = 0;
    assert.equal(await doctor(["--config", good, "--root", join(dir, "root")], deps), 1);
    const t2 = lines.join("\n");
    assert.match(
      t2,
      new RegExp(
        `✗ WireGuard private key: ${keys}/wg\\.key has mode 0640: group or others can read the secret\\n {4}fix: run: chmod 600 ${keys}/wg\\.key`,
      ),
    );
    assert.match(t2, /✓ admin listener: disabled in config/);
    assert.match(t2, /! endpoints: none configured/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
