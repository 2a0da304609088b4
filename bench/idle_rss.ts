/**
 * The bench's idle-RSS row on its own (about 15 s): labmand in the bench's local-mode config next
 * to the floor it is built on (one Worker + one `Deno.serve`, `bench/_idle_floor.ts`) and nginx
 * when installed, all measured in this run. RSS is the median of 5 readings 200 ms apart, taken
 * after the proxy serves its model list and 1.5 s of settling. Prints a markdown table; writes
 * nothing. For memory work between full `deno task bench` runs.
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
} finally {
  for (const p of procs.reverse()) await p.stop().catch(() => {});
}
