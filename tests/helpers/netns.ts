/**
 * Network-namespace helpers for root-only end-to-end tests: a "node" and a "cp" namespace joined
 * by a veth pair on TEST-NET-1 (192.0.2.0/24), plus a "lan" namespace behind the node on
 * TEST-NET-2 (198.51.100.0/24) standing in for the lab LAN. Everything is torn down by
 * `cleanup()`, which never throws.
 *
 * @module
 */
import { until, waitFor } from "./wait.ts";

// Re-exported: most namespace tests import their poller from here.
export { until, waitFor };

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

const dec = new TextDecoder();

/** Runs a command (optionally inside `ns`) to completion with a time limit. */
export async function run(
  cmd: string[],
  opts: { ns?: string; stdin?: string; timeoutMs?: number; check?: boolean } = {},
): Promise<RunResult> {
  const argv = opts.ns ? ["ip", "netns", "exec", opts.ns, ...cmd] : cmd;
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdin: opts.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (opts.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(opts.stdin));
    await w.close();
  }
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
  }, opts.timeoutMs ?? 15_000);
  try {
    const out = await child.output();
    const r = { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
    if (opts.check && r.code !== 0) {
      throw new Error(`Command failed (${r.code}): ${argv.join(" ")}: ${r.stderr.trim()}`);
    }
    return r;
  } finally {
    clearTimeout(timer);
  }
}

/** Runs and throws on a non-zero exit, returning stdout. */
export async function sh(cmd: string[], ns?: string): Promise<string> {
  return (await run(cmd, { ns, check: true })).stdout;
}

export interface Topology {
  node: string;
  cp: string;
  lan: string;
  /** Node side of the node↔cp veth (the WireGuard endpoint cp dials). */
  nodeIp: string;
  cpIp: string;
  /** Node's own LAN-side address and a host on the LAN. */
  nodeLanIp: string;
  lanHostIp: string;
  cleanup(): Promise<void>;
}

export const randomSuffix = (): string =>
  Array.from(crypto.getRandomValues(new Uint8Array(3)), (b) => b.toString(16).padStart(2, "0"))
    .join("");

/** Creates node/cp/lan namespaces (`lmtest-<role>-<rand>`) with veths, addresses and lo up. */
export async function createTopology(): Promise<Topology> {
  const id = randomSuffix();
  const node = `lmtest-node-${id}`, cp = `lmtest-cp-${id}`, lan = `lmtest-lan-${id}`;
  const t: Topology = {
    node,
    cp,
    lan,
    nodeIp: "192.0.2.1",
    cpIp: "192.0.2.2",
    nodeLanIp: "198.51.100.1",
    lanHostIp: "198.51.100.2",
    async cleanup() {
      for (const ns of [node, cp, lan]) await run(["ip", "netns", "del", ns]).catch(() => {});
    },
  };
  try {
    for (const ns of [node, cp, lan]) {
      await sh(["ip", "netns", "add", ns]);
      await sh(["ip", "link", "set", "lo", "up"], ns);
    }
    await sh([
      "ip",
      "link",
      "add",
      `v${id}n`,
      "netns",
      node,
      "type",
      "veth",
      "peer",
      "name",
      `v${id}c`,
      "netns",
      cp,
    ]);
    await sh([
      "ip",
      "link",
      "add",
      `l${id}n`,
      "netns",
      node,
      "type",
      "veth",
      "peer",
      "name",
      `l${id}l`,
      "netns",
      lan,
    ]);
    await sh(["ip", "addr", "add", `${t.nodeIp}/24`, "dev", `v${id}n`], node);
    await sh(["ip", "addr", "add", `${t.cpIp}/24`, "dev", `v${id}c`], cp);
    await sh(["ip", "addr", "add", `${t.nodeLanIp}/24`, "dev", `l${id}n`], node);
    await sh(["ip", "addr", "add", `${t.lanHostIp}/24`, "dev", `l${id}l`], lan);
    for (
      const [ns, dev] of [[node, `v${id}n`], [cp, `v${id}c`], [node, `l${id}n`], [lan, `l${id}l`]]
    ) {
      await sh(["ip", "link", "set", dev, "up"], ns);
    }
    // If the node ever forwarded, LAN replies would find their way back: the negative test is real.
    await sh(["ip", "route", "add", "default", "via", t.nodeLanIp], lan);
    return t;
  } catch (e) {
    await t.cleanup();
    throw e;
  }
}

/**
 * Reads a child's output line by line. `next()` waits for the next line up to `timeoutMs`;
 * `done` settles when the stream ends (await it before the test finishes).
 */
export function lineReader(stream: ReadableStream<Uint8Array>) {
  const lines: string[] = [];
  let read = 0;
  let wake: (() => void) | undefined;
  let ended = false;
  const done = (async () => {
    let rest = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop() ?? "";
      lines.push(...parts);
      wake?.();
    }
    if (rest) lines.push(rest);
    ended = true;
    wake?.();
  })();
  return {
    done,
    all: lines,
    async next(timeoutMs: number): Promise<string> {
      const deadline = Date.now() + timeoutMs;
      for (let i = 0; i < 10_000; i++) {
        if (lines.length > read) return lines[read++];
        if (ended) throw new Error("Cannot read line: stream ended");
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`Cannot read line: none within ${timeoutMs} ms`);
        let timer: ReturnType<typeof setTimeout> | undefined;
        await new Promise<void>((r) => {
          wake = r;
          timer = setTimeout(r, left);
        });
        clearTimeout(timer);
        wake = undefined;
      }
      throw new Error("Cannot read line: too many wakeups");
    },
  };
}

/** Starts `wireguard-go -f <ifname>` inside `ns` and waits until `wg show` sees the device. */
export async function startWireguardGo(ns: string, ifname: string): Promise<Deno.ChildProcess> {
  const child = new Deno.Command("ip", {
    args: ["netns", "exec", ns, "wireguard-go", "-f", ifname],
    env: { WG_PROCESS_FOREGROUND: "1", LOG_LEVEL: "error" },
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const up = await waitFor(
    async () => (await run(["wg", "show", ifname], { ns })).code === 0,
    5000,
    30,
  );
  if (!up) {
    await stopChild(child, "SIGKILL");
    throw new Error(`wireguard-go for ${ifname} did not come up`);
  }
  return child;
}

/** Signals a child (SIGTERM by default), escalates to SIGKILL after 3 s, and waits for it. */
export async function stopChild(
  child: Deno.ChildProcess | undefined,
  signal: Deno.Signal = "SIGTERM",
): Promise<void> {
  if (!child) return;
  try {
    child.kill(signal);
  } catch { /* exited */ }
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
  }, 3000);
  await child.status;
  clearTimeout(timer);
}

/**
 * Runs a Deno script (`-A`) inside `ns` with piped stdio; the script's first stdout line is a JSON
 * hello (`{ ready: true, … }` or `{ ready: false, error }`), returned parsed.
 */
export async function spawnDenoInNetns(
  ns: string,
  script: string,
  args: string[],
  options: { helloTimeoutMs?: number } = {},
): Promise<{
  child: Deno.ChildProcess;
  out: ReturnType<typeof lineReader>;
  err: Promise<string>;
  hello: Record<string, unknown>;
}> {
  const child = new Deno.Command("ip", {
    args: ["netns", "exec", ns, Deno.execPath(), "run", "-A", "--no-prompt", script, ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const out = lineReader(child.stdout);
  const err = new Response(child.stderr).text();
  const hello = JSON.parse(await out.next(options.helloTimeoutMs ?? 30_000));
  return { child, out, err, hello };
}

/** Picks a free loopback port by binding port 0 and releasing it. */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = l.addr as Deno.NetAddr;
  l.close();
  return port;
}

/**
 * Stand-ins for a node's own services on loopback (sshd on 22, a web UI on 80): real listeners
 * the control plane must not reach. Returns once both accept.
 */
export async function startLoopbackServices(ns: string): Promise<Deno.ChildProcess> {
  const child = new Deno.Command("ip", {
    args: [
      "netns",
      "exec",
      ns,
      Deno.execPath(),
      "eval",
      `for (const port of [22, 80]) Deno.serve({ hostname: "127.0.0.1", port, onListen() {} }, () => new Response("node-local\\n"));
       console.log("ready");`,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = lineReader(child.stdout);
  const hello = await lines.next(30_000);
  lines.done.catch(() => {});
  if (hello !== "ready") throw new Error(`loopback services in ${ns} did not start: ${hello}`);
  return child;
}
