/**
 * `labman dev`'s relay demo: a fake Portman connected to labmand's `/agent`, the reference
 * control plane sending it a `preload_model`, and every message printed as it flows.
 *
 * @module
 */
import type { Envelope } from "../../lib/protocol/mod.ts";
import { makeEnvelope } from "../../lib/protocol/mod.ts";
import type { RelayHub } from "../../lib/refcp/mod.ts";
import { type FakePortman, freePortSync, startFakePortman } from "../../lib/relay/mod.ts";
import { makeDevDir } from "./_dev_dir.ts";

export interface DevRelay extends Disposable {
  readonly toml: string;
  readonly url: string;
  readonly secretFile: string;
  show(dir: "up" | "down", env: Envelope): void;
  portman?: FakePortman;
}

/** `avoid`: ports the dev config already uses (proxy, admin). */
export async function relayDevConfig(avoid: number[] = []): Promise<DevRelay> {
  const dir = await makeDevDir();
  let port = freePortSync();
  for (let i = 0; i < 10 && avoid.includes(port); i++) port = freePortSync();
  const secretFile = `${dir}/portman.secret`;
  const demo: DevRelay = {
    toml: `[portman]\nlisten_port = ${port}\nsecret_file = "${secretFile}"\nreport_interval_s = 10`,
    url: `ws://127.0.0.1:${port}/agent`,
    secretFile,
    show(dir, env) {
      const who = env.agent_id ?? "";
      const ref = env.correlation_id ?? env.directive_id;
      console.log(
        `relay ${dir === "up" ? "▲ to control plane" : "▼ to Portman     "} ${
          env.kind.padEnd(24)
        } ${who}${ref ? ` (re ${ref.slice(0, 12)}…)` : ""}`,
      );
    },
    [Symbol.dispose]() {
      demo.portman?.close().catch(() => {});
      try {
        Deno.removeSync(dir, { recursive: true });
      } catch { /* already gone */ }
    },
  };
  return demo;
}

/** Connects the fake Portman and, once it registered, sends it one directive. */
export function startDevRelayDemo(demo: DevRelay, hub: RelayHub): void {
  (async () => {
    const secret = (await Deno.readTextFile(demo.secretFile)).trim();
    demo.portman = await startFakePortman({ url: demo.url, secret });
    const reg = await hub.waitFor((e) => e.kind === "register_agent", 10_000);
    const directive = makeEnvelope("preload_model", { model: "mock-llama-3-8b" }, {
      agent_id: reg.agent_id!,
    });
    demo.show("down", directive);
    hub.send(directive);
  })().catch((err) => console.error(`labman dev: relay demo: ${(err as Error).message}`));
}
