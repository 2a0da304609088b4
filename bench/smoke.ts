/**
 * `deno task bench:smoke`: a short (< 60 s) run of the bench's own client against direct, nginx
 * and labmand that fails only on a gross regression, judged as a ratio to nginx measured in the
 * same run (never on an absolute time: CI boxes differ and are shared). CI runs it through
 * tests/bench_smoke_test.ts. Exit codes: 0 within bounds (or skipped, with one line saying why),
 * 1 a bound was crossed, 2 the run itself failed.
 *
 * @module
 */
import type { C1Result, CnResult, Target } from "./_loadgen.ts";
import {
  groupStat,
  type Proc,
  runLoadgen,
  startLabmandBench,
  startMock,
  startNginx,
  which,
} from "./_procs.ts";
import { delta, int, ms, ratio, table } from "./_report.ts";
import { median } from "./_stats.ts";
import { measureMetricsCost } from "./_metrics_cost.ts";

const MODEL = "mock-llama-3-8b";
const CHAT = "/v1/chat/completions";

const PLAN = {
  c1: { rounds: 6, roundMs: 400, warmupMs: 600, maxPerRound: 20_000 },
  cN: { connections: 50, rounds: 3, roundMs: 1_000, warmupMs: 500 },
} as const;

/**
 * Gross-regression bounds, each a ratio of labmand to nginx in the same run. Today's figures
 * (bench/results/latest.md) sit well inside them: a breach means a real regression (a lost
 * keep-alive, a per-request sleep, an O(n²) path), not noise on a shared box.
 */
export const BOUNDS = {
  /** labmand's added p50 at 1 connection over nginx's added p50 (today ≈ 1–2.5×). */
  addedP50VsNginx: 10,
  /** labmand throughput at 50 connections as a share of nginx's (today ≈ 0.4–0.6). */
  throughputShareMin: 0.15,
  /** labmand CPU per request over nginx's (today ≈ 3–5×). */
  cpuPerRequestVsNginx: 15,
} as const;

/** Added latency smaller than this is below what a shared box resolves: floor the divisor. */
const ADDED_FLOOR_MS = 0.05;

export interface SmokeVerdict {
  rows: { check: string; measured: string; bound: string; ok: boolean }[];
  ok: boolean;
}

/** Pure: the checks from the measured figures. */
export function judge(m: {
  addedP50: { labmand: number; nginx: number };
  rps: { labmand: number; nginx: number };
  cpuUsPerReq: { labmand: number; nginx: number };
}): SmokeVerdict {
  const addedRatio = m.addedP50.labmand / Math.max(m.addedP50.nginx, ADDED_FLOOR_MS);
  const share = m.rps.labmand / m.rps.nginx;
  const cpuRatio = m.cpuUsPerReq.labmand / m.cpuUsPerReq.nginx;
  const rows = [
    {
      check: "added p50 at 1 conn, ×nginx's added p50",
      measured: `${addedRatio.toFixed(2)}× (${delta(m.addedP50.labmand)} vs ${
        delta(m.addedP50.nginx)
      } ms)`,
      bound: `≤ ${BOUNDS.addedP50VsNginx}×`,
      ok: Number.isFinite(addedRatio) && addedRatio <= BOUNDS.addedP50VsNginx,
    },
    {
      check: "throughput at 50 conns, ×nginx",
      measured: `${share.toFixed(2)}× (${int(m.rps.labmand)} vs ${int(m.rps.nginx)} req/s)`,
      bound: `≥ ${BOUNDS.throughputShareMin}×`,
      ok: Number.isFinite(share) && share >= BOUNDS.throughputShareMin,
    },
    {
      check: "CPU per request at 50 conns, ×nginx",
      measured: `${cpuRatio.toFixed(2)}× (${m.cpuUsPerReq.labmand.toFixed(1)} vs ${
        m.cpuUsPerReq.nginx.toFixed(1)
      } µs)`,
      bound: `≤ ${BOUNDS.cpuPerRequestVsNginx}×`,
      ok: Number.isFinite(cpuRatio) && cpuRatio <= BOUNDS.cpuPerRequestVsNginx,
    },
  ];
  return { rows, ok: rows.every((r) => r.ok) };
}

async function main(): Promise<number> {
  const nginxBin = await which("nginx", ["/usr/sbin/nginx"]);
  if (nginxBin === null) {
    console.log("bench smoke skipped: nginx is not installed (apt-get install nginx-light)");
    return 0;
  }
  const started = performance.now();
  const procs: Proc[] = [];
  try {
    const mock = await startMock(["--fixed-body", "--tokens", "8", "--token-delay-ms", "5"]);
    procs.push(mock);
    const nginx = await startNginx(nginxBin, mock.port, 1);
    procs.push(nginx);
    const labmand = await startLabmandBench(mock.url, MODEL);
    procs.push(labmand);
    const targets: Target[] = [
      { name: "direct", port: mock.port, path: CHAT, model: MODEL },
      { name: "nginx", port: nginx.port, path: CHAT, model: MODEL },
      { name: "labmand", port: labmand.port, path: CHAT, model: labmand.model },
    ];

    const c1 = await runLoadgen<C1Result>({ kind: "c1", targets, ...PLAN.c1 }, 30_000);
    const roundP50 = (name: string) => c1.perTarget[name].roundP50;
    // Median over rounds of (path − direct) in the same round: drift on the box cancels.
    const added = (name: string) => median(roundP50(name).map((v, i) => v - roundP50("direct")[i]));

    const cpu0 = { nginx: groupStat(nginx.pids()).cpuS, labmand: groupStat(labmand.pids()).cpuS };
    const cn = await runLoadgen<CnResult>({ kind: "cN", targets, ...PLAN.cN }, 30_000);
    const cpuS = {
      nginx: groupStat(nginx.pids()).cpuS - cpu0.nginx,
      labmand: groupStat(labmand.pids()).cpuS - cpu0.labmand,
    };
    const rps = (name: string) => median(cn.perTarget[name].roundRps);
    const cpuUs = (name: "nginx" | "labmand") =>
      cpuS[name] * 1e6 / Math.max(1, cn.perTarget[name].requests);

    for (const [name, r] of Object.entries(cn.perTarget)) {
      if (r.errors > 0) throw new Error(`${name}: ${r.errors} failed requests at 50 connections`);
    }
    for (const [name, r] of Object.entries(c1.perTarget)) {
      if (r.errors > 0) throw new Error(`${name}: ${r.errors} failed requests at 1 connection`);
    }

    const v = judge({
      addedP50: { labmand: added("labmand"), nginx: added("nginx") },
      rps: { labmand: rps("labmand"), nginx: rps("nginx") },
      cpuUsPerReq: { labmand: cpuUs("labmand"), nginx: cpuUs("nginx") },
    });
    console.log(table(
      ["path", "1 conn p50 ms", "added p50 ms (median of rounds)", "50 conns req/s", "×nginx"],
      targets.map((t) => [
        t.name,
        ms(c1.perTarget[t.name].latency.p50),
        t.name === "direct" ? "—" : delta(added(t.name)),
        int(rps(t.name)),
        ratio(rps(t.name), rps("nginx")),
      ]),
    ));
    console.log();
    console.log(table(
      ["check", "measured", "bound", "verdict"],
      v.rows.map((r) => [r.check, r.measured, r.bound, r.ok ? "pass" : "**FAIL**"]),
    ));
    const mc = await measureMetricsCost(100_000);
    console.log(
      `\nmetric bookkeeping per request: ${mc.seriesUs.toFixed(3)} µs (labels on every call: ` +
        `${mc.labelledUs.toFixed(3)} µs)`,
    );
    const load = (await Deno.readTextFile("/proc/loadavg")).split(" ")[0];
    console.log(
      `\nbench smoke ${v.ok ? "passed" : "FAILED"} in ${
        ((performance.now() - started) / 1000).toFixed(1)
      } s (1-minute load average ${load})`,
    );
    return v.ok ? 0 : 1;
  } catch (err) {
    console.log(`bench smoke could not run: ${(err as Error).message}`);
    return 2;
  } finally {
    for (const p of procs.reverse()) await p.stop().catch(() => {});
  }
}

if (import.meta.main) Deno.exit(await main());
