/**
 * Ctrl-C on `deno task dev` as a terminal delivers it: SIGINT to the whole foreground process
 * group, so `deno task` and labman both get it (and `deno task` may forward it once more). One
 * keypress must drain, deregister and exit 0, never read as a "second stop signal".
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { freePort, lineReader } from "./helpers/netns.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

Deno.test("labman dev: Ctrl-C to the process group of `deno task dev` drains and exits 0", async () => {
  const port = freePort(), admin = freePort();
  // setsid: the task runs in its own process group (pgid = its pid), as in a terminal.
  const child = new Deno.Command("setsid", {
    args: [
      Deno.execPath(),
      "task",
      "-q",
      "dev",
      "--port",
      String(port),
      "--admin-port",
      String(admin),
    ],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const out = lineReader(child.stdout);
  const errText = new Response(child.stderr).text();
  let banner = "";
  try {
    for (let i = 0; i < 40 && !banner.includes("Ctrl-C"); i++) {
      banner += (await out.next(60_000)) + "\n";
    }
    assert.match(banner, /serving an OpenAI-compatible API/);
    const ready = await fetch(`http://127.0.0.1:${admin}/readyz`);
    await ready.body?.cancel();
    assert.equal(ready.status, 200);
  } finally {
    Deno.kill(-child.pid, "SIGINT");
  }
  const timer = setTimeout(() => {
    try {
      Deno.kill(-child.pid, "SIGKILL");
    } catch { /* gone */ }
  }, 20_000);
  const status = await child.status;
  clearTimeout(timer);
  await out.done.catch(() => {});
  const logs = await errText;
  assert.equal(status.code, 0, logs);
  assert.doesNotMatch(logs, /second stop signal/);
  assert.match(logs, /deregistered node/);
  assert.match(logs, /stopped/);
});
