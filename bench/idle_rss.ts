/**
 * The bench's idle-RSS row on its own (about 15 s): labmand in the bench's local-mode config next
 * to the floor it is built on (one Worker + one `Deno.serve`, `bench/_idle_floor.ts`) and nginx
 * when installed, all measured in this run. RSS is the median of 5 readings 200 ms apart, taken
 * after the proxy serves its model list and 1.5 s of settling. Prints a markdown table, then
 * where labmand's RSS above the floor lives (`/proc/<pid>/smaps`: anonymous memory, i.e. the V8
 * heaps and thread stacks; pages of the `deno` executable; malloc's heap); writes nothing. For
 * memory work between full `deno task bench` runs; `_heap_snapshot.ts` breaks the V8 heaps down.
 *
 * @module
 */
import {
  groupStat,
  type Proc,
  startIdleFloor,
  startLabmandBench,
  startMock,
  startNginx,
  which,
} from "./_procs.ts";
import { mb, table } from "./_report.ts";
import { median } from "./_stats.ts";

const MODEL = "mock-llama-3-8b";
const target = { idleRssMb: 60 };

async function idleKb(p: Proc): Promise<number> {
  const readings: number[] = [];
  for (let i = 0; i < 5; i++) {
    readings.push(groupStat(p.pids()).rssKb);
    await new Promise((r) => setTimeout(r, 200));
  }
  return median(readings);
}

/** RSS per kind of mapping: anonymous, the `deno` executable's pages, malloc's heap, libraries. */
function smapsRss(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  let kind = "";
  for (const line of Deno.readTextFileSync(`/proc/${pid}/smaps`).split("\n")) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      const name = head[1];
      kind = name === ""
        ? "anonymous (V8 heaps, thread stacks)"
        : name === Deno.execPath() || name.endsWith("/deno")
        ? "the deno executable (file-backed, shared)"
        : name === "[heap]"
        ? "malloc heap ([heap])"
        : /\/(v8_code_cache|dep_analysis_cache|node_analysis_cache)/.test(name)
        ? "Deno's caches (mmapped SQLite: V8 code cache, analysis)"
        : name.startsWith("/")
        ? "shared libraries"
        : name;
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) out.set(kind, (out.get(kind) ?? 0) + Number(rss[1]));
  }
  return out;
}

const procs: Proc[] = [];
try {
  const mock = await startMock(["--fixed-body", "--tokens", "8", "--token-delay-ms", "5"]);
  procs.push(mock);
  const rows: [string, Proc | string][] = [];
  const floor = await startIdleFloor();
  procs.push(floor);
  rows.push(["one Worker + one Deno.serve (floor)", floor]);
  const labmand = await startLabmandBench(mock.url, MODEL);
  procs.push(labmand);
  rows.push(["labmand (local mode, one endpoint)", labmand]);
  const nginxBin = await which("nginx", ["/usr/sbin/nginx"]);
  if (nginxBin === null) rows.push(["nginx", "not installed (apt-get install nginx)"]);
  else {
    const nginx = await startNginx(nginxBin, mock.port, 1);
    procs.push(nginx);
    rows.push(["nginx (master + 1 worker)", nginx]);
  }
  await new Promise((r) => setTimeout(r, 1_500));
  const out: string[][] = [];
  let floorKb = NaN;
  for (const [name, p] of rows) {
    if (typeof p === "string") {
      out.push([name, "n/a", "n/a", p]);
      continue;
    }
    const kb = await idleKb(p);
    if (p === floor) floorKb = kb;
    const note = p === labmand
      ? `target ≤ ${target.idleRssMb} MB: ${kb / 1024 <= target.idleRssMb ? "met" : "missed"}`
      : "";
    out.push([
      name,
      mb(kb),
      p === floor ? "—" : `${kb >= floorKb ? "+" : "−"}${mb(Math.abs(kb - floorKb))}`,
      note,
    ]);
  }
  const load = (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(" ");
  console.log(`idle RSS, Deno ${Deno.version.deno}, load average ${load}\n`);
  console.log(table(["process", "RSS MB", "vs floor MB", ""], out));
  const [f, l] = [smapsRss(floor.pids()[0]), smapsRss(labmand.pids()[0])];
  const kinds = [...new Set([...f.keys(), ...l.keys()])]
    .map((k) => [k, f.get(k) ?? 0, l.get(k) ?? 0] as const)
    .filter(([, a, b]) => a + b >= 1024)
    .sort((x, y) => (y[2] - y[1]) - (x[2] - x[1]));
  console.log("\nwhere it lives (RSS by mapping, /proc/<pid>/smaps)\n");
  console.log(table(
    ["mapping", "floor MB", "labmand MB", "difference MB"],
    kinds.map(([k, a, b]) => [k, mb(a), mb(b), `${b >= a ? "+" : "−"}${mb(Math.abs(b - a))}`]),
  ));
} finally {
  for (const p of procs.reverse()) await p.stop().catch(() => {});
}
