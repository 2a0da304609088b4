/**
 * The relay row of `deno task bench`: what labmand adds to a Portman → control plane message.
 * The reference control plane's relay endpoint runs in the bench process; labmand runs as a
 * real process (the `labmand` task's flags, local mode, registered with that control plane).
 * Two paths carry the same 1 KB `metrics` frames to the same hub:
 *
 * - direct: a WebSocket client straight to the control plane's `/api/v1/ws` (baseline);
 * - labmand: a Portman client to labmand's `/agent`, relayed over labmand's control-plane link.
 *
 * Latency: one frame in flight, send → the hub decoded it (one clock: both ends are in this
 * process). Throughput: a window of 256 frames in flight for a fixed count. Alone:
 * `deno run -A bench/_relay.ts`.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { makeEnvelope } from "../lib/protocol/mod.ts";
import { startReferenceControlPlane } from "../lib/refcp/mod.ts";
import { encodeKey, generateKeyPair } from "../lib/wireguard/mod.ts";
import { delta, int, ms, ratio, table } from "./_report.ts";
import { summarize, type Summary } from "./_stats.ts";
import { taskFlags } from "../tests/helpers/labmand_process.ts";
import { makeTestDir } from "../tests/helpers/test_dirs.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const FRAME_BYTES = 1024;
const LATENCY_FRAMES = 2000;
const THROUGHPUT_FRAMES = 20_000;
const WINDOW = 256;

export interface RelayPathResult {
  latency: Summary;
  msgsPerS: number;
}

export interface RelayBench {
  direct: RelayPathResult;
  labmand: RelayPathResult;
  frameBytes: number;
}

/** Two distinct free loopback ports (both held while picked). */
function freePorts(): [number, number] {
  const a = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const b = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const ports: [number, number] = [
    (a.addr as Deno.NetAddr).port,
    (b.addr as Deno.NetAddr).port,
  ];
  a.close();
  b.close();
  return ports;
}

/** A 1 KB upstream frame with a fresh msg_id. */
function frame(agentId: string): { id: string; text: string } {
  const env = makeEnvelope("metrics", { cpu_pct: 1, pad: "" }, { agent_id: agentId });
  const base = JSON.stringify(env).length;
  env.payload.pad = "x".repeat(Math.max(0, FRAME_BYTES - base));
  return { id: env.msg_id, text: JSON.stringify(env) };
}

function open(url: string, token: string): Promise<WebSocket> {
  const ws = new WebSocket(
    url,
    { headers: { authorization: `Bearer ${token}` } } as unknown as string[],
  );
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`cannot connect to ${url}`)), 10_000);
    ws.onopen = () => {
      clearTimeout(t);
      resolve(ws);
    };
    ws.onerror = () => {
      clearTimeout(t);
      reject(new Error(`cannot connect to ${url}`));
    };
  });
}

async function measurePath(
  ws: WebSocket,
  agentId: string,
  arrivals: Map<string, (t: number) => void>,
): Promise<RelayPathResult> {
  const wait = (id: string, timeoutMs = 10_000) =>
    new Promise<number>((resolve, reject) => {
      const t = setTimeout(() => {
        arrivals.delete(id);
        reject(new Error("a relayed frame did not arrive within 10 s"));
      }, timeoutMs);
      arrivals.set(id, (at) => {
        clearTimeout(t);
        resolve(at);
      });
    });
  // Warm-up, then one frame in flight at a time.
  for (let i = 0; i < 200; i++) {
    const f = frame(agentId);
    const p = wait(f.id);
    ws.send(f.text);
    await p;
  }
  const lat: number[] = [];
  for (let i = 0; i < LATENCY_FRAMES; i++) {
    const f = frame(agentId);
    const p = wait(f.id);
    const t0 = performance.now();
    ws.send(f.text);
    lat.push((await p) - t0);
  }
  // Throughput: a bounded window in flight.
  const started = performance.now();
  let inFlight = 0, sent = 0, done = 0;
  await new Promise<void>((resolve, reject) => {
    const pump = () => {
      while (inFlight < WINDOW && sent < THROUGHPUT_FRAMES) {
        const f = frame(agentId);
        inFlight++;
        sent++;
        wait(f.id, 30_000).then(() => {
          inFlight--;
          if (++done === THROUGHPUT_FRAMES) resolve();
          else pump();
        }, reject);
        ws.send(f.text);
      }
    };
    pump();
  });
  const seconds = (performance.now() - started) / 1000;
  return { latency: summarize(lat), msgsPerS: THROUGHPUT_FRAMES / seconds };
}

export async function measureRelay(): Promise<RelayBench | { skipped: string }> {
  const arrivals = new Map<string, (t: number) => void>();
  await using cp = await startReferenceControlPlane({
    tokens: ["bench-token"],
    wireguard: {
      publicKey: encodeKey((await generateKeyPair()).publicKey),
      endpoint: "127.0.0.1:51820",
      allowedIps: ["10.90.0.1/32"],
    },
    heartbeatIntervalS: 5,
    relay: {
      historyLimit: 1000,
      onMessage: (env) => {
        const cb = arrivals.get(env.msg_id);
        if (cb) {
          arrivals.delete(env.msg_id);
          cb(performance.now());
        }
      },
    },
  });
  const dir = await makeTestDir({ prefix: "labman-bench-relay-" });
  const [portmanPort, proxyPort] = freePorts();
  await Deno.writeTextFile(
    `${dir}/labman.toml`,
    `[control_plane]
base_url = "${cp.url}"
node_token = "bench-token"

[wireguard]
mode = "off"

[proxy]
listen_port = ${proxyPort}

[admin]
enabled = false

[portman]
listen_port = ${portmanPort}
secret_file = "${dir}/portman.secret"
report_interval_s = 3600
upstream_queue_messages = 100000
upstream_queue_bytes = 268435456

[logging]
level = "warning"
format = "json"

[[endpoints]]
name = "none"
base_url = "http://127.0.0.1:9/v1"
`,
  );
  await Deno.chmod(`${dir}/labman.toml`, 0o600);
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...await taskFlags("labmand"),
      `${ROOT}labmand/main.ts`,
      "--config",
      `${dir}/labman.toml`,
    ],
    stdout: "null",
    stderr: "null",
    env: { NO_COLOR: "1" },
  }).spawn();
  let direct: WebSocket | undefined, portman: WebSocket | undefined;
  try {
    await cp.relay.waitForConnections(1, 30_000);
    direct = await open(`${cp.url.replace("http", "ws")}/api/v1/ws`, "bench-token");
    const secret = (await Deno.readTextFile(`${dir}/portman.secret`)).trim();
    portman = await open(`ws://127.0.0.1:${portmanPort}/agent`, secret);
    portman.send(
      JSON.stringify(
        makeEnvelope("register_agent", { agent_version: "bench" }, { agent_id: "pm" }),
      ),
    );
    const results: Partial<RelayBench> = { frameBytes: FRAME_BYTES };
    // Interleave: direct, labmand, then the better of two rounds each, so drift on a shared box
    // does not favour one path.
    const rounds: { direct: RelayPathResult[]; labmand: RelayPathResult[] } = {
      direct: [],
      labmand: [],
    };
    for (let r = 0; r < 2; r++) {
      rounds.direct.push(await measurePath(direct, "pm-direct", arrivals));
      rounds.labmand.push(await measurePath(portman, "pm", arrivals));
    }
    const best = (xs: RelayPathResult[]) =>
      xs.reduce((a, b) => a.latency.p99 <= b.latency.p99 ? a : b);
    const fastest = (xs: RelayPathResult[]) => Math.max(...xs.map((x) => x.msgsPerS));
    results.direct = { latency: best(rounds.direct).latency, msgsPerS: fastest(rounds.direct) };
    results.labmand = { latency: best(rounds.labmand).latency, msgsPerS: fastest(rounds.labmand) };
    return results as RelayBench;
  } catch (err) {
    return { skipped: (err as Error).message };
  } finally {
    direct?.close();
    portman?.close();
    try {
      child.kill("SIGTERM");
    } catch { /* exited */ }
    await child.status;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** The report section (markdown). */
export function relaySection(r: RelayBench | { skipped: string }): string {
  const head = "## Portman relay: 1 KB frames Portman → control plane (loopback)\n\n";
  if ("skipped" in r) return `${head}Not measured: ${r.skipped}.\n`;
  const row = (name: string, m: RelayPathResult, base: RelayPathResult | null) => [
    name,
    ms(m.latency.p50),
    ms(m.latency.p99),
    base
      ? `${delta(m.latency.p50 - base.latency.p50)} / ${delta(m.latency.p99 - base.latency.p99)}`
      : "—",
    int(m.msgsPerS),
    base ? ratio(m.msgsPerS, base.msgsPerS) : "—",
  ];
  return head + table(
    ["path", "p50 ms", "p99 ms", "added p50 / p99 ms", "msgs/s (256 in flight)", "×direct"],
    [row("direct to the control plane", r.direct, null), row("via labmand", r.labmand, r.direct)],
  ) +
    `\n${LATENCY_FRAMES} frames one at a time per round, ${THROUGHPUT_FRAMES} for throughput; best of 2 interleaved rounds.\n`;
}

if (import.meta.main) {
  console.log(relaySection(await measureRelay()));
}
