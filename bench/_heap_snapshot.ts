/**
 * Where an idle labmand's memory goes, per isolate: starts the mock and labmand (the bench's
 * local-mode config, `--inspect` on a free loopback port), waits until it is idle, then takes a
 * V8 heap snapshot of the supervisor and of the data-plane Worker through the inspector
 * (`HeapProfiler.takeHeapSnapshot`; the Worker through `NodeWorker` flat sessions) and prints a
 * breakdown: heap by object kind, and functions' code (closures, shared function infos,
 * bytecode, source text) by where the script comes from (npm package, Deno's own `ext:`
 * modules, labman's `lib/<area>`). Writes nothing unless `--out DIR` (then the raw
 * `.heapsnapshot` files for Chrome DevTools).
 *
 * `deno run --unstable-worker-options --unstable-no-legacy-abort --unstable-net --allow-all
 * bench/_heap_snapshot.ts [--out DIR]`
 *
 * @module
 */
import { parseArgs } from "node:util";
import { attachWorker, heapUsage, Inspector } from "./_inspector.ts";
import { freePort, groupStat, startIdleFloor, startLabmandBench, startMock } from "./_procs.ts";

const MODEL = "mock-llama-3-8b";

interface Snapshot {
  snapshot: {
    meta: {
      node_fields: string[];
      node_types: [string[], ...unknown[]];
      edge_fields: string[];
      edge_types: [string[], ...unknown[]];
      location_fields: string[];
    };
  };
  nodes: number[];
  edges: number[];
  strings: string[];
  locations: number[];
}

/** Script id → URL, from `Debugger.scriptParsed` (replayed for every script on enable). */
async function scriptUrls(ins: Inspector, session?: string): Promise<Map<number, string>> {
  const urls = new Map<number, string>();
  const off = ins.on((m) => {
    if (m.method !== "Debugger.scriptParsed" || m.sessionId !== session) return;
    const p = m.params as { scriptId: string; url: string };
    urls.set(Number(p.scriptId), p.url);
  });
  await ins.send("Debugger.enable", {}, session);
  await ins.send("Debugger.disable", {}, session);
  off();
  return urls;
}

async function takeSnapshot(ins: Inspector, session?: string): Promise<string> {
  const chunks: string[] = [];
  const off = ins.on((m) => {
    if (m.method === "HeapProfiler.addHeapSnapshotChunk" && m.sessionId === session) {
      chunks.push((m.params as { chunk: string }).chunk);
    }
  });
  await ins.send("HeapProfiler.enable", {}, session);
  await ins.send("HeapProfiler.collectGarbage", {}, session);
  await ins.send("HeapProfiler.takeHeapSnapshot", { reportProgress: false }, session);
  off();
  return chunks.join("");
}

/** Where a script comes from, coarse enough to read. */
function origin(url: string): string {
  if (url === "") return "(no script: V8/Deno internals)";
  let m = /registry\.npmjs\.org\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (m) return `npm:${m[1]}`;
  if (url.startsWith("node:") || url.startsWith("ext:deno_node") || url.startsWith("ext:node")) {
    return "Node compat (node:*, ext:deno_node)";
  }
  m = /^ext:([^/]+)\//.exec(url);
  if (m) return `Deno ext:${m[1]}`;
  if (url.startsWith("ext:")) return "Deno ext (other)";
  m = /\/(lib\/[^/]+|labmand|labman)\//.exec(url);
  if (m) return `labman ${m[1]}/`;
  return url.length > 60 ? `…${url.slice(-60)}` : url;
}

interface Breakdown {
  total: number;
  byType: Map<string, number>;
  byOrigin: Map<string, number>;
}

/**
 * Heap by node type, and code by origin: each closure with a source location, plus the shared
 * function info, bytecode and other code objects it reaches through code edges (each counted
 * once), is attributed to its script. Code no closure reaches (never-called functions'
 * shared infos, hanging off their Script) goes to the script through the Script node's
 * `shared_function_infos` when present, else stays in "code, unattributed".
 */
function analyse(raw: string, urls: Map<number, string>): Breakdown {
  const snap = JSON.parse(raw) as Snapshot;
  const nf = snap.snapshot.meta.node_fields;
  const ef = snap.snapshot.meta.edge_fields;
  const N = nf.length, E = ef.length;
  const nType = nf.indexOf("type"), nName = nf.indexOf("name"), nSize = nf.indexOf("self_size");
  const nEdges = nf.indexOf("edge_count");
  const eType = ef.indexOf("type"),
    eName = ef.indexOf("name_or_index"),
    eTo = ef.indexOf("to_node");
  const types = snap.snapshot.meta.node_types[0];
  const edgeTypes = snap.snapshot.meta.edge_types[0];
  const nodes = snap.nodes, edges = snap.edges, strings = snap.strings;
  const count = nodes.length / N;
  const firstEdge = new Uint32Array(count + 1);
  for (let i = 0, e = 0; i < count; i++) {
    firstEdge[i] = e;
    e += nodes[i * N + nEdges] * E;
    firstEdge[i + 1] = e;
  }
  const byType = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < count; i++) {
    const t = types[nodes[i * N + nType]];
    const size = nodes[i * N + nSize];
    total += size;
    byType.set(t, (byType.get(t) ?? 0) + size);
  }
  // Closure → script, from the locations table.
  const lf = snap.snapshot.meta.location_fields;
  const L = lf.length, lNode = lf.indexOf("object_index"), lScript = lf.indexOf("script_id");
  const claimed = new Uint8Array(count);
  const byOrigin = new Map<string, number>();
  const isCodeish = (i: number) => {
    const t = types[nodes[i * N + nType]];
    return t === "code" || t === "closure" || t === "hidden" || t === "array";
  };
  const claim = (start: number, where: string) => {
    // Depth-bounded walk over code-ish nodes (closure → shared info → bytecode/feedback/…).
    const stack: [number, number][] = [[start, 0]];
    let sum = 0;
    while (stack.length) {
      const [i, depth] = stack.pop()!;
      if (claimed[i]) continue;
      claimed[i] = 1;
      sum += nodes[i * N + nSize];
      if (depth >= 3) continue;
      for (let e = firstEdge[i]; e < firstEdge[i + 1]; e += E) {
        const et = edgeTypes[edges[e + eType]];
        if (et === "weak" || et === "shortcut") continue;
        const name = et === "element" || et === "hidden" ? "" : strings[edges[e + eName]];
        if (name === "context" || name === "map" || name === "__proto__") continue;
        const to = edges[e + eTo] / N;
        const toType = types[nodes[to * N + nType]];
        if (toType === "closure" || toType === "object" || toType === "native") continue;
        if (isCodeish(to) || toType === "string") stack.push([to, depth + 1]);
      }
    }
    byOrigin.set(where, (byOrigin.get(where) ?? 0) + sum);
  };
  for (let l = 0; l < snap.locations.length; l += L) {
    const node = snap.locations[l + lNode] / N;
    if (types[nodes[node * N + nType]] !== "closure") continue;
    claim(node, origin(urls.get(snap.locations[l + lScript]) ?? ""));
  }
  // Scripts themselves (source text, line ends, their shared function infos).
  for (let i = 0; i < count; i++) {
    if (claimed[i] || types[nodes[i * N + nType]] !== "code") continue;
    if (!strings[nodes[i * N + nName]].startsWith("system / Script")) continue;
    let url = "";
    for (let e = firstEdge[i]; e < firstEdge[i + 1]; e += E) {
      if (strings[edges[e + eName]] === "name") {
        url = strings[nodes[(edges[e + eTo] / N) * N + nName]];
      }
    }
    claim(i, origin(url));
  }
  let unattributed = 0;
  for (let i = 0; i < count; i++) {
    if (!claimed[i] && types[nodes[i * N + nType]] === "code") unattributed += nodes[i * N + nSize];
  }
  byOrigin.set("code, unattributed", unattributed);
  return { total, byType, byOrigin };
}

function kb(n: number): string {
  return (n / 1024).toFixed(0);
}

function print(name: string, b: Breakdown, usage: { usedSize: number; totalSize: number }) {
  console.log(
    `\n### ${name}: V8 heap ${kb(usage.usedSize)} KB used of ${kb(usage.totalSize)} KB; snapshot ${
      kb(b.total)
    } KB\n`,
  );
  console.log("| object kind | KB |\n|---|--:|");
  for (const [t, s] of [...b.byType].sort((a, c) => c[1] - a[1])) {
    if (s >= 16 * 1024) console.log(`| ${t} | ${kb(s)} |`);
  }
  console.log("\n| code and source by origin | KB |\n|---|--:|");
  for (const [o, s] of [...b.byOrigin].sort((a, c) => c[1] - a[1])) {
    if (s >= 16 * 1024) console.log(`| ${o} | ${kb(s)} |`);
  }
}

/** Snapshots every isolate of the process behind inspector port `port`. */
async function snapshotProcess(
  label: string,
  port: number,
  rssKb: number,
  out: string | undefined,
): Promise<void> {
  const ins = await Inspector.connectPort(port);
  try {
    const worker = await attachWorker(ins);
    console.log(`\n## ${label}: RSS ${kb(rssKb * 1024)} KB before the snapshots`);
    const isolates = [["main isolate", undefined], ["Worker", worker]] as const;
    for (const [name, session] of isolates) {
      const urls = await scriptUrls(ins, session);
      const usage = await heapUsage(ins, session);
      const raw = await takeSnapshot(ins, session);
      if (out) {
        await Deno.mkdir(out, { recursive: true });
        const file = `${label.split(" ")[0]}-${session ? "worker" : "main"}.heapsnapshot`;
        await Deno.writeTextFile(`${out}/${file}`, raw);
      }
      print(`${label}, ${name}`, analyse(raw, urls), usage);
    }
  } finally {
    await ins.close();
  }
}

const args = parseArgs({ options: { out: { type: "string" } } });
const floorPort = freePort();
const floor = await startIdleFloor([`--inspect=127.0.0.1:${floorPort}`]);
const labPort = freePort();
const mock = await startMock(["--fixed-body", "--tokens", "8", "--token-delay-ms", "5"]);
const lab = await startLabmandBench(mock.url, MODEL, [`--inspect=127.0.0.1:${labPort}`]);
try {
  await new Promise((r) => setTimeout(r, 1_500));
  console.log(`Deno ${Deno.version.deno}; heap snapshots after a forced GC`);
  await snapshotProcess(
    "floor (one Worker + one Deno.serve)",
    floorPort,
    groupStat(floor.pids()).rssKb,
    args.values.out,
  );
  await snapshotProcess(
    "labmand (local mode, one endpoint)",
    labPort,
    groupStat(lab.pids()).rssKb,
    args.values.out,
  );
} finally {
  await lab.stop().catch(() => {});
  await mock.stop().catch(() => {});
  await floor.stop().catch(() => {});
}
