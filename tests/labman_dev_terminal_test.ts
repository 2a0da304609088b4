/**
 * `labman dev` on a terminal, as a newcomer first meets it: `logging.format = "auto"` promises
 * text on a terminal, so the banner must not be interleaved with JSON lines, each event is logged
 * once, and NO_COLOR turns the colours off. The terminal is a real pty from script(1).
 */
import assert from "node:assert/strict";
import { labmanArgv } from "./helpers/labman_cli.ts";
import { freePort } from "./helpers/netns.ts";

function hasScript(): boolean {
  try {
    return Deno.statSync("/usr/bin/script").isFile;
  } catch {
    return false;
  }
}

/** Shell-quotes one argument. */
const q = (a: string) => `'${a.replaceAll("'", `'\\''`)}'`;

Deno.test({
  name: "labman dev on a terminal: text log lines, one per event, no colour with NO_COLOR",
  ignore: !hasScript(),
  async fn() {
    const argv = await labmanArgv([
      "dev",
      "--port",
      String(freePort()),
      "--admin-port",
      String(freePort()),
    ]);
    // dev gets SIGINT after 8 s (it registers and becomes ready in about one): the heartbeat that
    // carries the control plane's desired state arrives within that window.
    const command = `NO_COLOR=1 timeout -s INT 8 ${argv.map(q).join(" ")}`;
    const out = await new Deno.Command("script", {
      args: ["-qec", command, "/dev/null"],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(60_000),
    }).output();
    const text = new TextDecoder().decode(out.stdout).replaceAll("\r", "");
    assert.match(text, /labman dev: labmand \(local mode\) is serving/, text);
    const logLines = text.split("\n").filter((l) => /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/.test(l));
    assert.ok(logLines.length >= 3, text);
    assert.doesNotMatch(text, /^\{"@timestamp"/m, "no JSON lines on a terminal");
    assert.ok(!text.includes("\u001b["), "NO_COLOR: no ANSI escapes");
    const registered = logLines.filter((l) => l.includes("registered as"));
    assert.equal(registered.length, 1, `one registration line:\n${registered.join("\n")}`);
    assert.doesNotMatch(registered[0], /""/, "no empty placeholder");
    const asks = logLines.filter((l) => l.includes("control plane asks for state"));
    assert.ok(asks.length <= 1, `the desired state is logged once:\n${asks.join("\n")}`);
  },
});
