/**
 * Profiling harness: runs the data plane's own entry (lib/dataplane/worker_main.ts) on the main
 * thread, so V8 flags such as `--prof` / `--trace-gc` and /proc figures cover exactly the proxy
 * code without the supervisor. Drive it with oha or bench/_loadgen.ts; stop with Ctrl-C.
 *
 * ```sh
 * deno run -A --unstable-net --unstable-no-legacy-abort --v8-flags=--prof \
 *   bench/_profile_proxy.ts --upstream http://127.0.0.1:18080/v1 --port 18082
 * node --prof-process isolate-*.log
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { parseConfigText } from "../lib/config/mod.ts";
import type { DataPlaneSettings, FromWorker, ToWorker } from "../lib/dataplane/messages.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    upstream: { type: "string", default: "http://127.0.0.1:18080/v1" },
    port: { type: "string", default: "18082" },
    level: { type: "string", default: "warning" },
  },
});

const toml = `
[wireguard]
mode = "off"

[proxy]
listen_port = ${Number(values.port)}
max_upstream_connections = 4096
queue_max = 4096
shutdown_grace_ms = 1000

[admin]
enabled = false

[portman]
enabled = false

[logging]
level = "${values.level}"
format = "json"

[health]
interval_s = 60

[[endpoints]]
name = "mock"
base_url = "${values.upstream}"
`;
const parsed = parseConfigText(toml, "<profile>");
if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
const config = parsed.config;
const settings: DataPlaneSettings = {
  bind: { hostname: "127.0.0.1", port: config.proxy.listen_port },
  endpoints: config.endpoints,
  apiKeys: {},
  health: config.health,
  proxy: config.proxy,
  logging: config.logging,
  localMode: true,
};

// worker_main talks through self.postMessage / self.onmessage; on the main thread both are ours.
const ready = Promise.withResolvers<void>();
let nextId = 1;
const replies = new Map<number, (ok: boolean) => void>();
(globalThis as unknown as { postMessage: (m: FromWorker) => void }).postMessage = (m) => {
  if (m.type === "ready") {
    console.log(`proxy listening on http://${m.addr.hostname}:${m.addr.port}/v1`);
    ready.resolve();
  } else if (m.type === "fatal") {
    ready.reject(new Error(m.message));
  } else if (m.type === "reply") {
    replies.get(m.id)?.(m.ok);
  }
};
await import("../lib/dataplane/worker_main.ts");
const send = (msg: ToWorker) => {
  const onmessage = (globalThis as unknown as { onmessage: (ev: MessageEvent) => void }).onmessage;
  onmessage(new MessageEvent("message", { data: msg }));
};
send({ type: "init", settings });
await ready.promise;

const stop = Promise.withResolvers<void>();
Deno.addSignalListener("SIGINT", () => stop.resolve());
Deno.addSignalListener("SIGTERM", () => stop.resolve());
await stop.promise;
const id = nextId++;
const done = new Promise<boolean>((resolve) => replies.set(id, resolve));
send({ type: "shutdown", id, graceMs: 500 });
await done;
Deno.exit(0);
