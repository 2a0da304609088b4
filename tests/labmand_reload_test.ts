/**
 * SIGHUP's pure half and its data-plane half with a fake data plane (no processes): settings
 * that need a restart are kept (and named), known hosts reconfigure in place, new hosts hand
 * over to a wider Worker and replay the slug table and accepting flag afterwards.
 */
import assert from "node:assert/strict";
import { parseConfigText } from "../lib/config/mod.ts";
import type { DataPlaneSettings } from "../lib/dataplane/mod.ts";
import { applySettings, needsWiderPermissions, planReload } from "../labmand/reload.ts";

function config(text: string) {
  const r = parseConfigText(text, "<test>");
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
  return r.config;
}

const base = `[proxy]
listen_port = 8000

[wireguard]
mode = "off"

[[endpoints]]
name = "a"
base_url = "http://127.0.0.1:11434/v1"
`;

Deno.test("reload plan: port, mode and control plane are kept and named; the rest applies", () => {
  const current = config(base);
  const next = config(
    base.replace("8000", "9000").replace('mode = "off"', 'mode = "kernel"')
      .replace("11434", "11435") +
      `\n[control_plane]\nbase_url = "https://cp.example"\nnode_token = "t"\n`,
  );
  const { config: planned, kept } = planReload(current, next);
  assert.deepEqual(kept, ["proxy.listen_port", "wireguard.mode", "control_plane"]);
  assert.equal(planned.proxy.listen_port, 8000);
  assert.equal(planned.wireguard.mode, "off");
  assert.equal(planned.control_plane, undefined);
  assert.equal(planned.endpoints[0].base_url, "http://127.0.0.1:11435/v1");
  assert.equal(next.proxy.listen_port, 9000, "the parsed config itself is not changed");
  assert.deepEqual(planReload(current, config(base)).kept, []);
});

function settings(urls: string[]): DataPlaneSettings {
  const c = config(base);
  return {
    bind: { hostname: "127.0.0.1", port: 8000 },
    endpoints: urls.map((u, i) => ({ ...c.endpoints[0], name: `e${i}`, base_url: u })),
    apiKeys: {},
    health: c.health,
    proxy: c.proxy,
    logging: c.logging,
    localMode: true,
  };
}

Deno.test("reload apply: known hosts reconfigure in place; a new host hands over, then replays", async () => {
  const calls: string[] = [];
  const dp = {
    reconfigure: () => (calls.push("reconfigure"), Promise.resolve()),
    handover: (_s: DataPlaneSettings, grace: number) => (
      calls.push(`handover(${grace})`), Promise.resolve()
    ),
  };
  const hooks = {
    beforeHandover: () => void calls.push("before"),
    afterHandover: () => (calls.push("replay"), Promise.resolve()),
  };
  const cur = settings(["http://127.0.0.1:11434/v1"]);
  const sameHost = settings(["http://127.0.0.1:11434/v1", "http://127.0.0.1:11434/v1/"]);
  assert.equal(needsWiderPermissions(cur, sameHost), false);
  assert.equal(await applySettings(dp, cur, sameHost, 5000, hooks), "reconfigured");
  assert.deepEqual(calls, ["reconfigure"]);
  calls.length = 0;
  const newHost = settings(["http://127.0.0.1:11434/v1", "http://10.0.0.9:8000/v1"]);
  assert.equal(await applySettings(dp, cur, newHost, 5000, hooks), "handed_over");
  assert.deepEqual(calls, ["before", "handover(5000)", "replay"]);
  // Fewer hosts need no hand-over: the running Worker may keep a permission it no longer uses.
  assert.equal(needsWiderPermissions(newHost, cur), false);
});
