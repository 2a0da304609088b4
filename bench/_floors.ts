/**
 * The per-request floors row of `deno task bench`: throughput and CPU per request at 50
 * connections for nginx, labmand and the passthrough floors of bench/_passthrough_floor.ts
 * (`Deno.serve` + `fetch`, `Deno.serve` + labmand's own upstream pool, a minimal raw
 * `Deno.listen` server + the pool), measured with the bench's own client in interleaved rounds
 * (median), so what labmand adds over the server and client it is built on reads as a ratio
 * measured in the same run. Also used by bench/_profile_labmand.ts.
 *
 * @module
 */
import type { CnResult, Target } from "./_loadgen.ts";
import { groupStat, type Proc, runLoadgen, startPassthroughFloor } from "./_procs.ts";
import { int, table } from "./_report.ts";
import { median } from "./_stats.ts";

export const FLOOR_MODES = ["serve-fetch", "serve-pool", "raw"] as const;

export interface FloorTarget extends Target {
  /** Process ids whose CPU counts for this path (none for direct). */
  pids(): number[];
}

export interface FloorRow {
  name: string;
  rps: number;
  /** CPU µs per request of the path's processes; NaN for direct. */
  cpuUs: number;
  rounds: number[];
}

export interface FloorsOptions {
  connections?: number;
  rounds?: number;
  roundMs?: number;
  warmupMs?: number;
}

/**
 * One cN job per path per round, paths interleaved. CPU is read from /proc around each job and
 * divided by the requests of warm-up and round (at the round's rate: the warm-up is short).
 */
export async function measureCn(
  targets: readonly FloorTarget[],
  options: FloorsOptions = {},
): Promise<FloorRow[]> {
  const connections = options.connections ?? 50;
  const rounds = options.rounds ?? 3;
  const roundMs = options.roundMs ?? 1_500;
  const warmupMs = options.warmupMs ?? 300;
  const rps = new Map<string, number[]>();
  const cpu = new Map<string, number[]>();
  for (let r = 0; r < rounds; r++) {
    for (const t of targets) {
      const c0 = groupStat(t.pids()).cpuS;
      const res = await runLoadgen<CnResult>({
        kind: "cN",
        targets: [{ name: t.name, port: t.port, path: t.path, model: t.model }],
        connections,
        rounds: 1,
        roundMs,
        warmupMs,
      }, 30_000 + roundMs + warmupMs);
      const s = res.perTarget[t.name];
      if (s.errors > 0) throw new Error(`${t.name}: ${s.errors} failed requests`);
      const rate = s.roundRps[0];
      const requests = rate * (roundMs + warmupMs) / 1000;
      (rps.get(t.name) ?? rps.set(t.name, []).get(t.name)!).push(rate);
      const us = t.pids().length === 0
        ? NaN
        : (groupStat(t.pids()).cpuS - c0) * 1e6 / Math.max(1, requests);
      (cpu.get(t.name) ?? cpu.set(t.name, []).get(t.name)!).push(us);
    }
  }
  return targets.map((t) => ({
    name: t.name,
    rps: median(rps.get(t.name)!),
    cpuUs: median(cpu.get(t.name)!),
    rounds: cpu.get(t.name)!,
  }));
}

/** Starts the floors against the mock; each that fails to start is left out with its reason. */
export async function startFloors(
  mockUrl: string,
  model: string,
  path: string,
): Promise<{ procs: Proc[]; targets: FloorTarget[]; failed: string[] }> {
  const procs: Proc[] = [];
  const targets: FloorTarget[] = [];
  const failed: string[] = [];
  for (const mode of FLOOR_MODES) {
    try {
      const p = await startPassthroughFloor(mode, mockUrl);
      procs.push(p);
      targets.push({ name: p.name, port: p.port, path, model, pids: () => p.pids() });
    } catch (err) {
      failed.push(`${mode}: ${(err as Error).message}`);
    }
  }
  return { procs, targets, failed };
}

/** The report section. `base` names the row the ratios are taken to (nginx when measured). */
export function floorsSection(rows: FloorRow[] | string, base: string): string {
  const head =
    "## Per-request floors, 50 connections (own client, closed loop, interleaved rounds × 1.5 s, median)";
  if (typeof rows === "string") return `${head}\n\nNot measured: ${rows}\n`;
  const b = rows.find((r) => r.name === base);
  const lab = rows.find((r) => r.name === "labmand");
  const pool = rows.find((r) => r.name === "floor serve-pool");
  const lines = [
    head,
    "",
    table(
      ["path", "ok req/s", `×${base}`, "CPU µs/req", `CPU ×${base}`, "CPU µs/req per round"],
      rows.map((r) => [
        r.name,
        int(r.rps),
        b ? (r.rps / b.rps).toFixed(2) + "×" : "—",
        Number.isNaN(r.cpuUs) ? "—" : r.cpuUs.toFixed(1),
        b && !Number.isNaN(r.cpuUs) && !Number.isNaN(b.cpuUs)
          ? (r.cpuUs / b.cpuUs).toFixed(2) + "×"
          : "—",
        r.rounds.map((v) => Number.isNaN(v) ? "—" : v.toFixed(0)).join(" "),
      ]),
    ),
    "",
    "Floors (bench/_passthrough_floor.ts): `serve-fetch` = `Deno.serve` + `fetch`; `serve-pool` = " +
    "`Deno.serve` + labmand's own upstream pool, nothing else; `raw` = a minimal `Deno.listen` " +
    "HTTP/1.1 server (no limits, no hostile-input handling) + the pool.",
  ];
  if (lab && pool && !Number.isNaN(lab.cpuUs) && !Number.isNaN(pool.cpuUs)) {
    lines.push(
      `labmand adds ${(lab.cpuUs - pool.cpuUs).toFixed(1)} µs of CPU per request over the ` +
        "serve-pool floor (its handler, listener limits, router, metrics and the Worker).",
    );
  }
  return lines.join("\n") + "\n";
}

/**
 * Starts the floors, measures them between `first` (nginx) and `last` (labmand) and stops
 * them again; a missing path is simply not in the lists.
 */
export async function measureFloors(
  first: FloorTarget[],
  last: FloorTarget[],
  mockUrl: string,
  model: string,
  path: string,
  options: FloorsOptions = {},
): Promise<FloorRow[]> {
  const floors = await startFloors(mockUrl, model, path);
  try {
    if (floors.targets.length === 0) throw new Error(floors.failed.join("; "));
    return await measureCn([...first, ...floors.targets, ...last], options);
  } finally {
    for (const p of floors.procs) await p.stop().catch(() => {});
  }
}
