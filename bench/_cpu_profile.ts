/**
 * Takes a CPU profile of a running Deno process over the inspector protocol (start it with
 * `--inspect=127.0.0.1:9229`), for `seconds`, and prints self and inclusive time per function.
 * Deno 2.9 has no `--cpu-prof`; this is the equivalent for a process under external load.
 *
 * ```sh
 * deno run -A bench/_cpu_profile.ts --inspect 127.0.0.1:9229 --seconds 5 --out /tmp/p.cpuprofile
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    inspect: { type: "string", default: "127.0.0.1:9229" },
    seconds: { type: "string", default: "5" },
    out: { type: "string", default: "" },
    top: { type: "string", default: "40" },
    target: { type: "string", default: "0" },
    heap: { type: "boolean", default: false },
  },
});

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface HeapNode {
  callFrame: CallFrame;
  selfSize: number;
  children: HeapNode[];
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
  startTime: number;
  endTime: number;
}

const targets = await (await fetch(`http://${values.inspect}/json/list`)).json() as {
  webSocketDebuggerUrl: string;
  title: string;
}[];
const target = targets[Number(values.target)];
console.error(`profiling ${target.title} (${targets.length} targets)`);
const ws = new WebSocket(target.webSocketDebuggerUrl);
await new Promise((resolve, reject) => {
  ws.onopen = resolve;
  ws.onerror = reject;
});
let nextId = 1;
const pending = new Map<number, (v: unknown) => void>();
ws.onmessage = (ev) => {
  const msg = JSON.parse(ev.data);
  if (msg.id !== undefined) pending.get(msg.id)?.(msg.result ?? msg.error);
};
const call = (method: string, params: Record<string, unknown> = {}) =>
  new Promise<unknown>((resolve) => {
    const id = nextId++;
    pending.set(id, resolve);
    ws.send(JSON.stringify({ id, method, params }));
  });

if (values.heap) {
  // Allocation sampling: bytes allocated per function (self), over the same window.
  await call("HeapProfiler.enable");
  await call("HeapProfiler.startSampling", {
    samplingInterval: 4096,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  await new Promise((r) => setTimeout(r, Number(values.seconds) * 1000));
  const { profile } = await call("HeapProfiler.stopSampling") as {
    profile: { head: HeapNode };
  };
  ws.close();
  const self = new Map<string, number>();
  let total = 0;
  const walk = (n: HeapNode) => {
    const size = n.selfSize;
    total += size;
    const f = n.callFrame;
    const k = `${f.functionName || "(anon)"} ${f.url.replace(/^.*\/(npm|main)\//, "")}:${
      f.lineNumber + 1
    }`;
    self.set(k, (self.get(k) ?? 0) + size);
    for (const c of n.children) walk(c);
  };
  walk(profile.head);
  console.log(`\n## allocated bytes by function (total ${(total / 1e6).toFixed(1)} MB)`);
  for (const [k, b] of [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(values.top))) {
    console.log(
      `${(100 * b / total).toFixed(1).padStart(5)}%  ${(b / 1e3).toFixed(0).padStart(8)} KB  ${k}`,
    );
  }
  Deno.exit(0);
}
await call("Profiler.enable");
await call("Profiler.setSamplingInterval", { interval: 100 });
await call("Profiler.start");
await new Promise((r) => setTimeout(r, Number(values.seconds) * 1000));
const { profile } = await call("Profiler.stop") as { profile: Profile };
ws.close();
if (values.out) await Deno.writeTextFile(values.out, JSON.stringify(profile));

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const selfUs = new Map<number, number>();
for (let i = 0; i < profile.samples.length; i++) {
  const dt = profile.timeDeltas[i + 1] ?? 0;
  selfUs.set(profile.samples[i], (selfUs.get(profile.samples[i]) ?? 0) + dt);
}
const key = (f: CallFrame) =>
  `${f.functionName || "(anon)"} ${f.url.replace(/^.*\/(npm|main)\//, "")}:${f.lineNumber + 1}`;
const selfBy = new Map<string, number>();
const inclBy = new Map<string, number>();
let total = 0;
for (const [id, us] of selfUs) {
  total += us;
  const k = key(byId.get(id)!.callFrame);
  selfBy.set(k, (selfBy.get(k) ?? 0) + us);
  const seen = new Set<string>();
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const ck = key(byId.get(cur)!.callFrame);
    if (seen.has(ck)) continue;
    seen.add(ck);
    inclBy.set(ck, (inclBy.get(ck) ?? 0) + us);
  }
}
const top = Number(values.top);
const print = (title: string, m: Map<string, number>) => {
  console.log(`\n## ${title} (total ${(total / 1000).toFixed(0)} ms sampled)`);
  for (const [k, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${(100 * us / total).toFixed(1).padStart(5)}%  ${k}`);
  }
};
print("self", selfBy);
print("inclusive", inclBy);
