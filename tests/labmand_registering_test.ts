/**
 * Tunnel mode before registration (issue 9 items 3 and 5), no root needed: the tunnel address
 * comes from the control plane, so while it is unreachable labmand keeps retrying and says why
 * (systemd STATUS=, /readyz, `labman status`); a SIGHUP meanwhile is kept for after start-up,
 * and SIGTERM still stops it cleanly. Nothing is created on the host before registration.
 * The registration already carries the capabilities a first, bounded discovery pass found.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import type { RegisterRequest } from "../lib/control/mod.ts";
import { startMockLlm } from "../lib/mockllm/mod.ts";
import { startReferenceControlPlane } from "../lib/refcp/mod.ts";
import { freePort, until } from "./helpers/netns.ts";
import { startLabmand, taskFlags, testControlPlanePeer } from "./helpers/labmand_process.ts";
import { makeTestDir } from "./helpers/test_dirs.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

Deno.test("labmand tunnel mode: control plane down → retries, says why everywhere, keeps SIGHUP, stops on SIGTERM", async () => {
  const dir = await makeTestDir({ prefix: "labman-reg-" });
  const socketPath = `${dir}/notify.sock`;
  const sock = Deno.listenDatagram({ transport: "unixpacket", path: socketPath });
  const messages: string[] = [];
  const receiving = (async () => {
    try {
      for (;;) messages.push(new TextDecoder().decode((await sock.receive())[0]));
    } catch { /* closed */ }
  })();
  try {
    const admin = freePort();
    await Deno.writeTextFile(
      `${dir}/labman.toml`,
      `[control_plane]
base_url = "http://127.0.0.1:${freePort()}"
node_token = "tok"
request_timeout_ms = 500
retry_initial_ms = 100
retry_max_ms = 300

[wireguard]
mode = "userspace"
interface_name = "lmreg${crypto.randomUUID().slice(0, 6)}"
private_key_path = "${dir}/wg/private.key"
public_key_path = "${dir}/wg/public.key"

[rosenpass]
enabled = false

[admin]
listen_port = ${admin}

[logging]
format = "json"
`,
    );
    await Deno.chmod(`${dir}/labman.toml`, 0o600);
    await using labmand = await startLabmand(`${dir}/labman.toml`, {
      expectReady: false,
      env: { NOTIFY_SOCKET: socketPath },
    });
    await labmand.waitForLog((l) => l.level === "WARN" && /register/i.test(String(l.message)));
    await until(
      () =>
        messages.some((m) =>
          /STATUS=registering with the control plane: .*next attempt in/.test(m)
        ),
      "STATUS= with the reason",
    );
    assert.ok(!messages.some((m) => m.includes("READY=1")), "not ready while registering");

    let body = "";
    await until(async () => {
      const r = await fetch(`http://127.0.0.1:${admin}/readyz`);
      body = await r.text();
      return r.status === 503 && /next attempt in/.test(body);
    }, "readyz says why");
    assert.match(body, /state: registering/);

    const status = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        ...await taskFlags("labman"),
        `${ROOT}labman/main.ts`,
        "status",
        "--admin",
        `http://127.0.0.1:${admin}`,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const out = new TextDecoder().decode(status.stdout);
    assert.equal(status.code, 1, out);
    assert.match(out, /NOT READY \(state: registering \(registering with the control plane: /);

    labmand.signal("SIGHUP");
    await labmand.waitForLog((l) => /SIGHUP during start-up/.test(String(l.message)));
    labmand.signal("SIGTERM");
    assert.equal(await labmand.exited(10_000), 0);
    assert.ok(messages.some((m) => m.includes("STOPPING=1")));
    // The node key was generated for the registration attempts and is kept for the next start.
    assert.equal((await Deno.stat(`${dir}/wg/private.key`)).mode! & 0o777, 0o600);
  } finally {
    sock.close();
    await receiving;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("labmand tunnel mode registers with the capabilities of a first discovery pass, bounded even with a hung endpoint", async () => {
  const bodies: { at: number; body: RegisterRequest }[] = [];
  await using cp = await startReferenceControlPlane({
    tokens: ["tok"],
    wireguard: await testControlPlanePeer(),
    // Keeps the node registering (no tunnel is created on this host): record, then fail (500).
    onRegister: (req) => {
      bodies.push({ at: performance.now(), body: req });
      throw new Error("recorded; try again");
    },
  });
  await using llm = await startMockLlm({ models: ["qwen-7b"], dialect: "llamacpp", slots: 2 });
  // A wedged server: accepts, never answers. Only the discovery budget ends its probe.
  const hung = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    try {
      for await (const c of hung) held.push(c);
    } catch { /* closed */ }
  })();
  const dir = await makeTestDir({ prefix: "labman-regcaps-" });
  try {
    await Deno.writeTextFile(
      `${dir}/labman.toml`,
      `[control_plane]
base_url = "${cp.url}"
node_token = "tok"
retry_initial_ms = 200
retry_max_ms = 500

[wireguard]
mode = "userspace"
interface_name = "lmreg${crypto.randomUUID().slice(0, 6)}"
private_key_path = "${dir}/wg/private.key"
public_key_path = "${dir}/wg/public.key"

[rosenpass]
enabled = false

[health]
interval_s = 120
timeout_ms = 60000

[admin]
enabled = false

[logging]
format = "json"

[[endpoints]]
name = "gpu"
base_url = "${llm.url}"

[[endpoints]]
name = "wedged"
base_url = "http://127.0.0.1:${(hung.addr as Deno.NetAddr).port}/v1"
`,
    );
    await Deno.chmod(`${dir}/labman.toml`, 0o600);
    const t0 = performance.now();
    await using labmand = await startLabmand(`${dir}/labman.toml`, { expectReady: false });
    await until(() => bodies.length >= 2, "two registration attempts", 20_000).catch((err) => {
      // The daemon's own account of why it did not register is what a failure needs.
      throw new Error(
        `${(err as Error).message}; labmand logged:\n${
          labmand.logs.map((l) => JSON.stringify(l)).join("\n")
        }`,
      );
    });
    // Discovery budget (5 s) plus the Worker's margin, not the endpoint's 60 s probe timeout.
    const first = bodies[0].at - t0;
    assert.ok(first < 9_000, `first registration after ${Math.round(first)} ms`);
    for (const { body } of bodies) {
      assert.deepEqual(body.capabilities, {
        models: ["qwen-7b"],
        endpoint_count: 2,
        // The wedged endpoint reported no slot count: the node's total is unknown.
        max_concurrent_requests: null,
      });
    }
    labmand.signal("SIGTERM");
    assert.equal(await labmand.exited(10_000), 0);
  } finally {
    hung.close();
    await accepting;
    for (const c of held) c.close();
    await Deno.remove(dir, { recursive: true });
  }
});
