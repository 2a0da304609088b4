/**
 * Where a proxied request's CPU goes, in labmand as operators run it (`labmand/main.ts` with the
 * `labmand` task's flags plus `--inspect`), next to the passthrough floors of
 * bench/_passthrough_floor.ts measured in the same run:
 *
 * 1. CPU µs per request at 50 connections (bench/_loadgen.ts `cN`), per path, in interleaved
 *    rounds (median), split per thread of labmand (supervisor, data-plane Worker, the rest:
 *    tokio and V8 helper threads) from /proc/<pid>/task;
 * 2. a CPU profile of the supervisor and the Worker at once over the inspector (Deno 2.9 has no
 *    `--cpu-prof`; a Worker is reached through `Target.setAutoAttach` on the main target, its
 *    messages routed by `sessionId`), self time grouped by what it is for, converted to µs per
 *    request with the thread's measured CPU.
 *
 * ```sh
 * deno run -A bench/_profile_labmand.ts --rounds 3 --seconds 4 [--out /tmp/prof]
 * ```
 *
 * Not part of `deno task bench`: it takes about a minute and prints its tables.
 *
 * @module
 */
import { parseArgs } from "node:util";
import type { CnResult } from "./_loadgen.ts";
import { freePort, type Proc, runLoadgen, startLabmandBench, startMock } from "./_procs.ts";
import { table } from "./_report.ts";
import { floorsSection, type FloorTarget, measureCn, startFloors } from "./_floors.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rounds: { type: "string", default: "3" },
    seconds: { type: "string", default: "4" },
    connections: { type: "string", default: "50" },
    out: { type: "string", default: "" },
    /** Also sample allocations (bytes per request by function) in the Worker. */
    heap: { type: "boolean", default: false },
    /** Skip the CPU-per-request rounds (profile only). */
    "no-rounds": { type: "boolean", default: false },
  },
});
const MODEL = "mock-llama-3-8b";
const CHAT = "/v1/chat/completions";
const CLK_TCK = 100;

/** CPU seconds per thread group of a process: main thread, named Worker threads, the rest. */
function threadCpu(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const e of Deno.readDirSync(`/proc/${pid}/task`)) {
    try {
      const stat = Deno.readTextFileSync(`/proc/${pid}/task/${e.name}/stat`);
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const cpu = (Number(f[11]) + Number(f[12])) / CLK_TCK;
      const group = e.name === String(pid)
        ? "supervisor (main thread)"
        : /worker/i.test(comm)
        ? "data-plane Worker"
        : `other threads`;
      out.set(group, (out.get(group) ?? 0) + cpu);
    } catch { /* thread exited */ }
  }
  return out;
}

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** What a sampled function is for (self time). */
function category(f: CallFrame): string {
  const fn = f.functionName;
  const url = f.url;
  if (fn === "(idle)") return "idle";
  if (fn === "(garbage collector)") return "GC";
  if (fn === "(program)") return "V8/runtime outside JS";
  if (fn.startsWith("op_http_")) return "Deno.serve server (JS + ops)";
  if (
    fn === "op_write" || fn === "op_read" || fn.startsWith("op_net_") || fn === "op_set_nodelay"
  ) {
    return "socket ops (read/write/accept/connect)";
  }
  if (url.includes("ext:deno_http") || url.includes("ext:http")) {
    return "Deno.serve server (JS + ops)";
  }
  if (/ext:deno_(fetch|webidl|url)|ext:fetch|ext:webidl|ext:url/.test(url)) {
    return "Request/Response/Headers objects";
  }
  if (/06_streams|streams/.test(url)) return "web streams";
  if (/02_timers|timers/.test(url)) return "timers";
  if (url.includes("lib/proxy/headers.ts")) return "labmand: header allowlists";
  if (url.includes("lib/proxy/body_reader.ts")) return "labmand: body reader";
  if (url.includes("lib/proxy/model_rewrite.ts")) return "labmand: model rewrite";
  if (url.includes("lib/proxy/handler.ts")) return "labmand: handler";
  if (url.includes("lib/proxy/errors.ts")) return "labmand: handler";
  if (/lib\/proxy\/(upstream_pool|_http1)\.ts/.test(url)) return "labmand: upstream client";
  if (/lib\/proxy\/(listener|server)\.ts/.test(url)) return "labmand: listener";
  if (url.includes("lib/registry/")) return "labmand: routing (registry)";
  if (url.includes("lib/telemetry/") && /log/.test(url)) return "labmand: logging";
  if (url.includes("lib/telemetry/")) return "labmand: metrics";
  if (url.includes("logtape")) return "labmand: logging";
  if (url.includes("lib/")) return "labmand: other";
  if (fn.startsWith("op_")) return "other ops";
  if (url === "") return "V8 builtins (promises, JSON, TextDecoder …)";
  return "other runtime JS";
}

interface HeapNode {
  callFrame: CallFrame;
  selfSize: number;
  children: HeapNode[];
}

async function profileThreads(
  inspect: string,
  seconds: number,
  heap: boolean,
): Promise<Map<string, Profile | HeapNode>> {
  const list = await (await fetch(`http://${inspect}/json/list`)).json() as {
    webSocketDebuggerUrl: string;
  }[];
  const ws = new WebSocket(list[0].webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = reject;
  });
  let nextId = 1;
  const pending = new Map<number, (v: unknown) => void>();
  const sessions: string[] = [];
  ws.onmessage = (ev) => {
    const msg = JSON.parse(ev.data);
    if (msg.id !== undefined) pending.get(msg.id)?.(msg.result ?? msg.error);
    else if (msg.method === "Target.attachedToTarget") sessions.push(msg.params.sessionId);
  };
  const call = (method: string, params: Record<string, unknown> = {}, sessionId?: string) =>
    new Promise<unknown>((resolve) => {
      const id = nextId++;
      pending.set(id, resolve);
      ws.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
    });
  await call("Target.setAutoAttach", {
    autoAttach: true,
    waitForDebuggerOnStart: false,
    flatten: true,
  });
  await new Promise((r) => setTimeout(r, 300));
  const threads: [string, string | undefined][] = [["supervisor (main thread)", undefined]];
  for (const s of sessions) threads.push(["data-plane Worker", s]);
  const out = new Map<string, Profile | HeapNode>();
  if (heap) {
    // Allocation sampling in the Worker only: the supervisor allocates nothing per request.
    const worker = threads.slice(1);
    for (const [, s] of worker) {
      await call("HeapProfiler.enable", {}, s);
      await call("HeapProfiler.startSampling", {
        samplingInterval: 1024,
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: true,
      }, s);
    }
    await new Promise((r) => setTimeout(r, seconds * 1000));
    for (const [name, s] of worker) {
      const { profile } = await call("HeapProfiler.stopSampling", {}, s) as {
        profile: { head: HeapNode };
      };
      out.set(name, profile.head);
    }
    ws.close();
    return out;
  }
  for (const [, s] of threads) {
    await call("Profiler.enable", {}, s);
    await call("Profiler.setSamplingInterval", { interval: 100 }, s);
  }
  for (const [, s] of threads) await call("Profiler.start", {}, s);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  for (const [name, s] of threads) {
    const { profile } = await call("Profiler.stop", {}, s) as { profile: Profile };
    out.set(name, profile);
  }
  ws.close();
  return out;
}

function printHeap(head: HeapNode, requests: number): void {
  const self = new Map<string, number>();
  let total = 0;
  const walk = (n: HeapNode) => {
    total += n.selfSize;
    const f = n.callFrame;
    const k = `${f.functionName || "(anon)"} ${f.url.replace(/^.*\/(wt-[a-z]+|main)\//, "")}:${
      f.lineNumber + 1
    }`;
    self.set(k, (self.get(k) ?? 0) + n.selfSize);
    for (const c of n.children) walk(c);
  };
  walk(head);
  console.log(`allocated: ${(total / requests / 1024).toFixed(1)} KB per request\n`);
  for (const [k, b] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 30)) {
    console.log(`${(b / requests).toFixed(0).padStart(6)} B/req  ${k}`);
  }
}

function selfByCategory(
  profile: Profile,
): { byCat: Map<string, number>; byFn: Map<string, number> } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const byCat = new Map<string, number>();
  const byFn = new Map<string, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i + 1] ?? 0;
    const f = byId.get(profile.samples[i])!.callFrame;
    const c = category(f);
    byCat.set(c, (byCat.get(c) ?? 0) + dt);
    const k = `${f.functionName || "(anon)"} ${f.url.replace(/^.*\/(wt-[a-z]+|main)\//, "")}:${
      f.lineNumber + 1
    }`;
    byFn.set(k, (byFn.get(k) ?? 0) + dt);
  }
  return { byCat, byFn };
}

const procs: Proc[] = [];
try {
  const mock = await startMock(["--fixed-body", "--tokens", "64", "--token-delay-ms", "5"]);
  procs.push(mock);
  const inspectPort = freePort();
  const inspect = `127.0.0.1:${inspectPort}`;
  const labmand = await startLabmandBench(mock.url, MODEL, [`--inspect=${inspect}`]);
  procs.push(labmand);
  const conns = Number(values.connections);
  const labPid = labmand.pids()[0];
  const labTarget: FloorTarget = {
    name: "labmand",
    port: labmand.port,
    path: CHAT,
    model: labmand.model,
    pids: () => labmand.pids(),
  };
  if (!values["no-rounds"]) {
    const floors = await startFloors(mock.url, MODEL, CHAT);
    procs.push(...floors.procs);
    for (const f of floors.failed) console.log(`floor not measured: ${f}`);
    const direct: FloorTarget = {
      name: "direct",
      port: mock.port,
      path: CHAT,
      model: MODEL,
      pids: () => [],
    };
    const th0 = threadCpu(labPid);
    const rows = await measureCn([direct, ...floors.targets, labTarget], {
      connections: conns,
      rounds: Number(values.rounds),
    });
    const th1 = threadCpu(labPid);
    const lab = rows.find((r) => r.name === "labmand")!;
    const labRequests = lab.rps * Number(values.rounds) * 1.8; // rounds × (warm-up + round) s
    const load = (await Deno.readTextFile("/proc/loadavg")).split(" ")[0];
    console.log(floorsSection(rows, "direct"));
    console.log(`load average ${load}; labmand CPU µs per request by thread (all rounds):`);
    for (const [g, v] of th1) {
      console.log(`- ${g}: ${((v - (th0.get(g) ?? 0)) * 1e6 / labRequests).toFixed(1)}`);
    }
  }

  // Profile under the same load.
  const seconds = Number(values.seconds);
  const load$ = runLoadgen<CnResult>({
    kind: "cN",
    targets: [labTarget],
    connections: conns,
    rounds: 1,
    roundMs: (seconds + 1.5) * 1000,
    warmupMs: 500,
  }, 60_000);
  await new Promise((r) => setTimeout(r, 1_000));
  const th0 = threadCpu(labPid);
  const t0 = performance.now();
  const profiles = await profileThreads(inspect, seconds, values.heap);
  const wallS = (performance.now() - t0) / 1000;
  const th1 = threadCpu(labPid);
  const res = await load$;
  const rate = res.perTarget[labTarget.name].roundRps[0];
  if (values.heap) {
    console.log(`\n## Allocations in the Worker, ${seconds} s at ${Math.round(rate)} req/s\n`);
    for (const head of profiles.values()) printHeap(head as HeapNode, rate * wallS);
  }
  console.log(`\n## CPU profile, ${seconds} s at ${Math.round(rate)} req/s (50 connections)\n`);
  for (const [thread, p] of values.heap ? [] : profiles) {
    const profile = p as Profile;
    if (values.out) {
      await Deno.writeTextFile(
        `${values.out}.${thread.split(" ")[0].toLowerCase()}.cpuprofile`,
        JSON.stringify(profile),
      );
    }
    const cpuS = (th1.get(thread) ?? 0) - (th0.get(thread) ?? 0);
    const usPerReq = cpuS * 1e6 / (rate * wallS);
    const { byCat, byFn } = selfByCategory(profile);
    let total = 0;
    let busy = 0;
    for (const [c, us] of byCat) {
      total += us;
      if (c !== "idle") busy += us;
    }
    console.log(`### ${thread}: ${usPerReq.toFixed(1)} µs CPU per request (/proc)\n`);
    console.log(table(
      ["what", "share of samples", "share of busy", "µs per request"],
      [...byCat].sort((a, b) => b[1] - a[1]).map(([c, us]) => [
        c,
        `${(100 * us / total).toFixed(1)}%`,
        c === "idle" ? "—" : `${(100 * us / busy).toFixed(1)}%`,
        c === "idle" ? "—" : (usPerReq * us / busy).toFixed(2),
      ]),
    ));
    console.log("\ntop functions (self):");
    for (const [k, us] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, 25)) {
      console.log(`${(100 * us / total).toFixed(1).padStart(5)}%  ${k}`);
    }
    console.log();
  }
  const other = (th1.get("other threads") ?? 0) - (th0.get("other threads") ?? 0);
  console.log(
    `other threads (tokio, V8 GC helpers): ${(other * 1e6 / (rate * wallS)).toFixed(1)} µs/req`,
  );
} finally {
  for (const p of procs.reverse()) await p.stop().catch(() => {});
}
