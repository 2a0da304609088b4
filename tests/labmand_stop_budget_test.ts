/** The unit's TimeoutStopSec covers labmand's whole stop with the default grace (issue 9 item 2). */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { parseConfigText } from "../lib/config/mod.ts";
import { SHUTDOWN_MARGIN_MS } from "../lib/dataplane/host.ts";
import { EXIT } from "../lib/lifecycle/mod.ts";
import { STOP_CONTROL_MS } from "../labmand/daemon.ts";
// Rosenpass SIGTERM→SIGKILL escalation (2 s) plus link removal and admin listener: the stop
// sequence cuts the teardown off at this bound.
import { RELAY_STOP_MS, TEARDOWN_MS } from "../labmand/stop_sequence.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

Deno.test("systemd unit: TimeoutStopSec exceeds grace + abort margin + control-plane bound + teardown", async () => {
  const unit = await Deno.readTextFile(`${ROOT}systemd/labmand.service`);
  const timeoutS = Number(unit.match(/^TimeoutStopSec=(\d+)$/m)?.[1]);
  const parsed = parseConfigText('[wireguard]\nmode = "off"\n', "<defaults>");
  assert.ok(parsed.ok);
  const grace = parsed.config.proxy.shutdown_grace_ms;
  const budget = RELAY_STOP_MS + grace + SHUTDOWN_MARGIN_MS + STOP_CONTROL_MS + TEARDOWN_MS;
  assert.ok(
    timeoutS * 1000 > budget,
    `TimeoutStopSec=${timeoutS} s but the stop may take ${budget} ms`,
  );
  // The exit code for a refused token is the one systemd is told not to restart on.
  const prevent = unit.match(/^RestartPreventExitStatus=(.+)$/m)?.[1].split(/\s+/).map(Number);
  assert.deepEqual(prevent, [EXIT.rejected]);
});
