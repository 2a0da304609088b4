/**
 * Daemon lifecycle as systemd sees it: readiness over NOTIFY_SOCKET only once the proxy serves,
 * a second stop signal forcing exit, and an in-place reload that keeps the listener.
 */
import assert from "node:assert/strict";
import { startMockLlm } from "../lib/mockllm/mod.ts";
import { freePort } from "./helpers/netns.ts";
import { startLabmand } from "./helpers/labmand_process.ts";
import { makeTestDir } from "./helpers/test_dirs.ts";

function config(port: number, endpoints: string, extra = ""): string {
  return `[wireguard]
mode = "off"

[proxy]
listen_port = ${port}
shutdown_grace_ms = 20000

[admin]
enabled = false

[logging]
format = "json"

[health]
interval_s = 0.5
timeout_ms = 400
${extra}
${endpoints}`;
}

Deno.test("labmand tells systemd READY=1 only after the proxy serves, then STOPPING=1", async () => {
  await using mock = await startMockLlm({ models: ["m"] });
  const dir = await makeTestDir();
  const socketPath = `${dir}/notify.sock`;
  const sock = Deno.listenDatagram({ transport: "unixpacket", path: socketPath });
  const messages: string[] = [];
  const receiving = (async () => {
    try {
      for (;;) messages.push(new TextDecoder().decode((await sock.receive())[0]));
    } catch { /* closed */ }
  })();
  try {
    const port = freePort();
    await Deno.writeTextFile(
      `${dir}/labman.toml`,
      config(port, `[[endpoints]]\nname = "a"\nbase_url = "${mock.url}"\n`),
    );
    await using labmand = await startLabmand(`${dir}/labman.toml`, {
      env: { NOTIFY_SOCKET: socketPath },
    });
    // READY=1 came with a status naming the listener, and the proxy answered by then.
    const ready = messages.find((m) => m.includes("READY=1"));
    assert.ok(ready, `no READY=1 in ${JSON.stringify(messages)}`);
    assert.match(ready, new RegExp(`STATUS=serving on http://127\\.0\\.0\\.1:${port}/v1`));
    const r = await fetch(`${labmand.proxyUrl}/models`);
    assert.equal(r.status, 200);
    await r.body?.cancel();
    labmand.signal("SIGTERM");
    assert.equal(await labmand.exited(), 0);
    assert.ok(messages.some((m) => m.includes("STOPPING=1")), JSON.stringify(messages));
    assert.ok(messages.indexOf(ready) < messages.findIndex((m) => m.includes("STOPPING=1")));
  } finally {
    sock.close();
    await receiving;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("labmand: a second SIGTERM during the grace period forces exit with code 3", async () => {
  await using mock = await startMockLlm({
    models: ["m"],
    mode: { tokenDelayMs: 200, tokens: 100 },
  });
  const dir = await makeTestDir();
  try {
    await Deno.writeTextFile(
      `${dir}/labman.toml`,
      config(freePort(), `[[endpoints]]\nname = "a"\nbase_url = "${mock.url}"\n`),
    );
    await using labmand = await startLabmand(`${dir}/labman.toml`);
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const r = await fetch(`${labmand.proxyUrl}/models`);
      if ((await r.json()).data.length === 1) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    // A 20 s stream keeps the graceful stop waiting (grace 20 s); the second signal cuts it short.
    const res = await fetch(`${labmand.proxyUrl}/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        model: "m",
        stream: true,
        messages: [{ role: "user", content: "x" }],
      }),
    });
    const reader = res.body!.getReader();
    await reader.read();
    labmand.signal("SIGTERM");
    await labmand.waitForLog((l) => String(l.message).startsWith("stopping: letting in-flight"));
    labmand.signal("SIGTERM");
    assert.equal(await labmand.exited(5_000), 3);
    await reader.cancel().catch(() => {});
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("labmand: SIGHUP with a filter change on known hosts reconfigures in place (same listener)", async () => {
  await using mock = await startMockLlm({ models: ["keep-me", "drop-me"] });
  const dir = await makeTestDir();
  try {
    const port = freePort();
    const endpoint = `[[endpoints]]\nname = "a"\nbase_url = "${mock.url}"\n`;
    await Deno.writeTextFile(`${dir}/labman.toml`, config(port, endpoint));
    await using labmand = await startLabmand(`${dir}/labman.toml`);
    const models = async () =>
      ((await (await fetch(`${labmand.proxyUrl}/models`)).json()).data as { id: string }[])
        .map((m) => m.id).sort();
    const until = async (want: string[]) => {
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline) {
        if (JSON.stringify(await models()) === JSON.stringify(want)) return;
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.deepEqual(await models(), want);
    };
    await until(["drop-me", "keep-me"]);
    // A keep-alive connection opened before the reload must keep working after it.
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const get = async () => {
      await conn.write(new TextEncoder().encode(`GET /v1/models HTTP/1.1\r\nhost: x\r\n\r\n`));
      const buf = new Uint8Array(65536);
      const n = await conn.read(buf);
      return new TextDecoder().decode(buf.subarray(0, n ?? 0));
    };
    assert.match(await get(), /^HTTP\/1\.1 200/);
    await Deno.writeTextFile(
      `${dir}/labman.toml`,
      config(port, endpoint + `models_exclude = ["drop-*"]\n`),
    );
    labmand.signal("SIGHUP");
    await labmand.waitForLog((l) => String(l.message).startsWith("reloaded"));
    await until(["keep-me"]);
    assert.ok(
      !labmand.logs.some((l) => String(l.message).includes("handing over")),
      "same hosts: no new data plane",
    );
    assert.match(await get(), /^HTTP\/1\.1 200[\s\S]*keep-me/);
    conn.close();
    labmand.signal("SIGTERM");
    assert.equal(await labmand.exited(), 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("labmand refuses to start with a group-readable WireGuard key and names the chmod to run", async () => {
  const dir = await makeTestDir();
  try {
    await Deno.mkdir(`${dir}/wg`, { mode: 0o700 });
    await Deno.writeTextFile(`${dir}/wg/private.key`, btoa("k".repeat(32)));
    await Deno.chmod(`${dir}/wg/private.key`, 0o644);
    await Deno.writeTextFile(
      `${dir}/labman.toml`,
      `[wireguard]
mode = "userspace"
address = "10.90.0.2/32"
private_key_path = "${dir}/wg/private.key"

[wireguard.peer]
public_key = "${btoa("p".repeat(32))}"
endpoint = "192.0.2.2:51820"
allowed_ips = ["10.90.0.1/32"]

[rosenpass]
enabled = false
`,
    );
    await using labmand = await startLabmand(`${dir}/labman.toml`, { expectReady: false });
    assert.equal(await labmand.exited(), 1);
    const text = labmand.logs.map((l) => String(l.message)).join("\n");
    assert.match(text, new RegExp(`chmod 600 ${dir}/wg/private\\.key`));
    assert.match(text, /wireguard\.private_key_path/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
