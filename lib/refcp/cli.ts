/**
 * Runs the reference control plane standalone:
 *
 * ```sh
 * deno run -A lib/refcp/cli.ts --token-file token.txt --wg-public-key <b64> \
 *   --wg-endpoint 192.0.2.1:51820 --allowed-ips 10.90.0.1/32 [--port 8443]
 * ```
 *
 * Prints the base URL on stdout, one line per request on stderr; stops on SIGINT/SIGTERM.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { Buffer } from "node:buffer";
import { startReferenceControlPlane } from "./server.ts";

const USAGE = `Usage: refcp [options]
  --hostname H              bind address (default 127.0.0.1)
  --port N                  port (default 0: a free one)
  --token T                 accepted node token (repeatable)
  --token-file F            file with one accepted token per line (repeatable)
  --pool CIDR               node address pool (default 10.90.0.0/24)
  --wg-public-key B64       control plane WireGuard public key (default: random, for dry runs)
  --wg-endpoint HOST:PORT   control plane WireGuard endpoint (default 127.0.0.1:51820)
  --allowed-ips LIST        comma-separated allowed IPs for nodes (default 10.90.0.1/32)
  --rosenpass-public-key F  control plane Rosenpass public key file (raw 524,160 bytes)
  --rosenpass-endpoint H:P  control plane Rosenpass endpoint
  --heartbeat-interval S    seconds between heartbeats (default 15)
  --websocket-url URL       WebSocket URL handed to nodes
  -h, --help`;

/** Parses CLI arguments into server options; throws TypeError with a usage hint. */
export async function optionsFromArgs(args: string[]) {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      hostname: { type: "string", default: "127.0.0.1" },
      port: { type: "string", default: "0" },
      token: { type: "string", multiple: true, default: [] },
      "token-file": { type: "string", multiple: true, default: [] },
      pool: { type: "string", default: "10.90.0.0/24" },
      "wg-public-key": { type: "string" },
      "wg-endpoint": { type: "string", default: "127.0.0.1:51820" },
      "allowed-ips": { type: "string", default: "10.90.0.1/32" },
      "rosenpass-public-key": { type: "string" },
      "rosenpass-endpoint": { type: "string" },
      "heartbeat-interval": { type: "string", default: "15" },
      "websocket-url": { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) return "help" as const;
  const tokens = [...values.token];
  for (const file of values["token-file"]) {
    const text = await Deno.readTextFile(file);
    tokens.push(...text.split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#")));
  }
  if (tokens.length === 0) {
    throw new TypeError(
      "Cannot start reference control plane: no token — pass --token or --token-file",
    );
  }
  const port = Number(values.port);
  const interval = Number(values["heartbeat-interval"]);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new TypeError(`Cannot use --port "${values.port}": not a port — use 0..65535`);
  }
  if (!(interval > 0)) {
    throw new TypeError(
      `Cannot use --heartbeat-interval "${values["heartbeat-interval"]}": it must be > 0 — e.g. 30`,
    );
  }
  const rpFile = values["rosenpass-public-key"];
  const rosenpass = rpFile
    ? {
      publicKeyB64: Buffer.from(await Deno.readFile(rpFile)).toString("base64"),
      ...(values["rosenpass-endpoint"] ? { endpoint: values["rosenpass-endpoint"] } : {}),
    }
    : undefined;
  return {
    hostname: values.hostname,
    port,
    tokens,
    addressPool: values.pool,
    wireguard: {
      publicKey: values["wg-public-key"] ??
        Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64"),
      endpoint: values["wg-endpoint"],
      allowedIps: values["allowed-ips"].split(",").map((s) => s.trim()).filter(Boolean),
    },
    ...(rosenpass ? { rosenpass } : {}),
    heartbeatIntervalS: interval,
    ...(values["websocket-url"] ? { websocketUrl: values["websocket-url"] } : {}),
  };
}

if (import.meta.main) {
  let options;
  try {
    options = await optionsFromArgs(Deno.args);
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${USAGE}`);
    Deno.exit(2);
  }
  if (options === "help") {
    console.log(USAGE);
    Deno.exit(0);
  }
  const cp = await startReferenceControlPlane({
    ...options,
    onRequest: (e) =>
      console.error(`${e.method} ${e.path} ${e.status}${e.nodeId ? ` node=${e.nodeId}` : ""}`),
  });
  console.log(cp.url);
  const stop = new Promise<void>((resolve) => {
    Deno.addSignalListener("SIGINT", resolve);
    Deno.addSignalListener("SIGTERM", resolve);
  });
  await stop;
  await cp.close();
  Deno.exit(0);
}
