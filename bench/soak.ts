/**
 * `deno task bench:soak [--minutes 30] [--streams 1000] [--rss-only]`: labmand's RSS over a long
 * run at steady streaming load (issue #13: flat over a 30-minute soak). Not a CI test. Keeps
 * `--streams` concurrent SSE streams (100 chunks, 50 ms apart) open back to back through labmand,
 * samples its RSS every 10 s and reports the trend after a warm-up (2 min, or a fifth of a short
 * run): the median of the last third against the median of the first third. Exit 1 when the
 * growth is more than 10%, or a batch had errors.
 *
 * Per isolate: unless `--rss-only`, labmand runs with `--inspect` on a loopback port and each
 * sample also reads the V8 heap (used and committed) of the supervisor and of the data-plane
 * Worker (`Runtime.getHeapUsage`); the report gives start, end and max of each next to the
 * process RSS. The idle inspector adds a few MB to RSS, the same at start and end.
 *
 * @module
 */
import { parseArgs } from "node:util";
import type { SseManyResult } from "./_loadgen.ts";
import { attachWorker, heapUsage, Inspector } from "./_inspector.ts";
import {
  freePort,
  groupStat,
  type Proc,
  runLoadgen,
  startLabmandBench,
  startMock,
} from "./_procs.ts";
import { int, mb, table } from "./_report.ts";
import { median } from "./_stats.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    minutes: { type: "string", default: "30" },
    streams: { type: "string", default: "1000" },
    "rss-only": { type: "boolean", default: false },
  },
});
const MODEL = "mock-llama-3-8b";
const minutes = Number(values.minutes);
const streams = Number(values.streams);
if (!(minutes > 0 && minutes <= 24 * 60) || !(streams >= 1 && streams <= 10_000)) {
  console.error(
    "Cannot run the soak: --minutes must be in 0–1440 and --streams in 1–10000 — e.g. " +
      "`deno task bench:soak --minutes 30 --streams 1000`",
  );
  Deno.exit(2);
}
/** Growth of the late median over the early one that counts as not flat. */
const MAX_GROWTH = 0.1;

const procs: Proc[] = [];
let code = 0;
try {
  const mock = await startMock(["--fixed-body", "--tokens", "100", "--token-delay-ms", "50"]);
  procs.push(mock);
  const inspectPort = values["rss-only"] ? null : freePort();
  const labmand = await startLabmandBench(
    mock.url,
    MODEL,
    inspectPort === null ? [] : [`--inspect=127.0.0.1:${inspectPort}`],
  );
  procs.push(labmand);
  const isolates = inspectPort === null ? null : await connectIsolates(inspectPort);
  const idleKb = groupStat(labmand.pids()).rssKb;
  const samples: Sample[] = [];
  const start = performance.now();
  const end = start + minutes * 60_000;
  const sample = async (): Promise<Sample> => ({
    atS: (performance.now() - start) / 1000,
    rssKb: groupStat(labmand.pids()).rssKb,
    heaps: isolates ? await isolates.read().catch(() => null) : null,
  });
  samples.push(await sample());
  const sampler = setInterval(() => void sample().then((s) => samples.push(s)), 10_000);
  let batches = 0;
  let errors = 0;
  let maxLateness = 0;
  try {
    // Bounded: one batch takes ≥ 5 s, so at most minutes × 12 batches (+1).
    while (performance.now() < end && batches < minutes * 12 + 1) {
      const r = await runLoadgen<SseManyResult>({
        kind: "sseMany",
        target: {
          name: "labmand",
          port: labmand.port,
          path: "/v1/chat/completions",
          model: labmand.model,
        },
        streams,
        rampMs: 1_000,
        tokens: 100,
        expectedGapMs: 50,
        timeoutMs: 60_000,
      }, 120_000);
      batches++;
      errors += r.errors + (streams - r.completed - r.errors);
      maxLateness = Math.max(maxLateness, r.lateness.max);
    }
  } finally {
    clearInterval(sampler);
  }
  samples.push(await sample());
  await isolates?.close();
  // The heap grows to its working size in the first minutes; the trend is judged after that.
  const warmS = Math.min(120, minutes * 60 / 5);
  const steady = samples.filter((s) => s.atS >= warmS);
  const third = Math.max(1, Math.floor(steady.length / 3));
  const early = median(steady.slice(0, third).map((s) => s.rssKb));
  const late = median(steady.slice(-third).map((s) => s.rssKb));
  const growth = (late - early) / early;
  console.log(`# labmand soak: ${minutes} min, ${int(streams)} concurrent streams × 20 chunks/s\n`);
  console.log(table(
    ["minute", "RSS MB"],
    samples.filter((_, i) => i % 6 === 0).map((s) => [(s.atS / 60).toFixed(1), mb(s.rssKb)]),
  ));
  console.log(
    `\nidle ${mb(idleKb)} MB; first third median ${mb(early)} MB, last third ${mb(late)} MB ` +
      `(${(growth * 100).toFixed(1)}%); ${batches} batches, ${errors} failed streams, worst ` +
      `lateness ${maxLateness.toFixed(1)} ms; load average ` +
      `${(await Deno.readTextFile("/proc/loadavg")).split(" ")[0]}`,
  );
  console.log("\n" + isolateTable(samples, isolates !== null));
  code = growth <= MAX_GROWTH && errors === 0 ? 0 : 1;
  console.log(code === 0 ? "flat" : "NOT flat or errors");
} catch (err) {
  console.error(`Cannot run the soak: ${(err as Error).message}`);
  code = 2;
} finally {
  for (const p of procs.reverse()) await p.stop().catch(() => {});
}
Deno.exit(code);

interface Heaps {
  supervisor: { usedSize: number; totalSize: number };
  worker: { usedSize: number; totalSize: number };
}

interface Sample {
  atS: number;
  rssKb: number;
  heaps: Heaps | null;
}

/** The inspector sessions of labmand's two isolates. */
async function connectIsolates(port: number) {
  const ins = await Inspector.connectPort(port);
  const worker = await attachWorker(ins);
  return {
    read: async (): Promise<Heaps> => ({
      supervisor: await heapUsage(ins),
      worker: await heapUsage(ins, worker),
    }),
    close: () => ins.close(),
  };
}

/** Start (the idle sample), end and max of the process RSS and of each isolate's V8 heap. */
function isolateTable(samples: readonly Sample[], withHeaps: boolean): string {
  const row = (name: string, pick: (s: Sample) => number | undefined): string[] => {
    const xs = samples.map(pick).filter((x): x is number => x !== undefined);
    if (xs.length === 0) return [name, "n/a", "n/a", "n/a"];
    return [name, mb(xs[0]), mb(xs[xs.length - 1]), mb(Math.max(...xs))];
  };
  const kbOf = (bytes: number | undefined) => bytes === undefined ? undefined : bytes / 1024;
  const rows = [row("process RSS", (s) => s.rssKb)];
  if (withHeaps) {
    rows.push(
      row("supervisor V8 heap, used", (s) => kbOf(s.heaps?.supervisor.usedSize)),
      row("supervisor V8 heap, committed", (s) => kbOf(s.heaps?.supervisor.totalSize)),
      row("Worker V8 heap, used", (s) => kbOf(s.heaps?.worker.usedSize)),
      row("Worker V8 heap, committed", (s) => kbOf(s.heaps?.worker.totalSize)),
    );
  } else rows.push(["per isolate", "—", "—", "not read (--rss-only)"]);
  return table(["MB", "start (idle)", "end", "max"], rows);
}
