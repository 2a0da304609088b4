/**
 * `deno task bench`: labmand's proxy overhead against a direct connection and against nginx as a
 * plain reverse proxy, all in one run on loopback against one fast mock upstream.
 *
 * Every figure is read against the direct baseline measured in the same run. Results are
 * printed and written to bench/results/latest.md. See bench/README.md for method and caveats.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import type { C1Result, SseManyResult, SseSeqResult, Target } from "./_loadgen.ts";
import { type OhaRun, runOha } from "./_oha.ts";
import {
  findLitellm,
  gitCommit,
  groupStat,
  type LabmandProc,
  type MockProc,
  type Proc,
  RssSampler,
  runLoadgen,
  startFloorServer,
  startLabmandBench,
  startLitellm,
  startMock,
  startNginx,
  which,
} from "./_procs.ts";
import { delta, int, mb, ms, notMeasured, ratio, table, verdict } from "./_report.ts";
import { median } from "./_stats.ts";
import { measureTunnel, tunnelSection } from "./_tunnel.ts";
import { measureMetricsCost, type MetricsCost } from "./_metrics_cost.ts";
import { measureRelay, relaySection } from "./_relay.ts";
import { type FloorRow, floorsSection, type FloorTarget, measureFloors } from "./_floors.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const MODEL = "mock-llama-3-8b";
const CHAT = "/v1/chat/completions";

/** Every knob in one place; each loop below is bounded by these. */
const PLAN = {
  c1: { rounds: 8, roundMs: 500, warmupMs: 1_000, maxPerRound: 50_000 },
  openLoop: { rate: 500, connections: 8, durationS: 3 },
  steps: {
    rates: [500, 1_000, 2_000, 4_000, 8_000, 16_000],
    connections: 16,
    durationS: 2,
    p99Ms: 5,
  },
  c50: { connections: 50, warmupS: 1, durationS: 3 },
  sse: { rounds: 3, shortStreams: 30, longStreams: 4, longTokens: 64, tokenDelayMs: 5 },
  many: { streams: 1_000, rampMs: 1_000, tokens: 100, tokenDelayMs: 50 },
  nginxWorkers: Number(Deno.env.get("BENCH_NGINX_WORKERS") ?? "1"),
  ohaThreads: Number(Deno.env.get("BENCH_OHA_THREADS") ?? "1"),
} as const;

/** The targets for labmand (docs/performance.md §1). */
const GOALS = {
  addedP50Ms: 0.15,
  addedP99Ms: 0.5,
  nginxThroughputShare: 0.6,
  ttftAddedP99Ms: 1,
  gapAddedP99Ms: 0.1,
  manyMaxDelayMs: 50,
  /** Issue #13: with 1,000 streams, lateness and TTFT p99 beyond direct in the same run. */
  manyLateBeyondDirectMs: 50,
  manyTtftP99BeyondDirectMs: 10,
  cpuPerRequestVsNginx: 2,
  idleRssMb: 60,
  /** RSS per open stream as a ratio to a bare `Deno.serve` streaming server, same run. */
  perStreamVsFloor: 1.15,
} as const;

type Name = "direct" | "nginx" | "labmand" | "litellm";
const NAMES: Name[] = ["direct", "nginx", "labmand", "litellm"];

interface Path {
  name: Name;
  target: Target | null;
  proc: Proc | null;
  /** Why this path is not measured, when target is null. */
  reason: string;
  idleRssKb: number;
}

const log = (line: string) =>
  console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}`);

async function main(): Promise<number> {
  const started = performance.now();
  const loadBefore = await loadAvg();
  const date = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  const commit = await gitCommit();
  const ohaBin = await which("oha", [
    "/var/cache/labman-ci/cargo/bin/oha",
    `${Deno.env.get("HOME") ?? "/root"}/.cargo/bin/oha`,
  ]);
  const nginxBin = await which("nginx", ["/usr/sbin/nginx"]);
  const ohaMissing = ohaBin === null
    ? "oha not found on PATH or in /var/cache/labman-ci/cargo/bin (cargo install oha)"
    : null;
  log(`commit ${commit}; oha ${ohaBin ?? "missing"}; nginx ${nginxBin ?? "missing"}`);

  const mock = await startMock([
    "--fixed-body",
    "--tokens",
    String(PLAN.sse.longTokens),
    "--token-delay-ms",
    String(PLAN.sse.tokenDelayMs),
  ]);
  const procs: Proc[] = [mock];
  const paths = new Map<Name, Path>();
  try {
    paths.set("direct", {
      name: "direct",
      target: { name: "direct", port: mock.port, path: CHAT, model: MODEL },
      proc: null,
      reason: "",
      idleRssKb: NaN,
    });
    await addNginx(paths, procs, nginxBin, mock);
    await addLabmand(paths, procs, mock);
    await addLitellm(paths, procs, mock);
    await settle(1_000);
    for (const p of paths.values()) if (p.proc) p.idleRssKb = groupStat(p.proc.pids()).rssKb;
    const mockIdleKb = groupStat(mock.pids()).rssKb;
    log(
      `idle RSS: ${[...paths.values()].map((p) => `${p.name} ${mb(p.idleRssKb)} MB`).join(", ")}`,
    );

    const live = () => NAMES.map((n) => paths.get(n)!).filter((p) => p.target !== null);

    log("non-streaming, 1 connection (own raw-socket client, interleaved rounds)");
    const c1 = await runLoadgen<C1Result>({
      kind: "c1",
      targets: live().map((p) => p.target),
      ...PLAN.c1,
    }, 120_000);

    const open = new Map<Name, OhaRun | string>();
    const steps = new Map<Name, StepResult | string>();
    const c50 = new Map<Name, C50Result | string>();
    if (ohaBin !== null) {
      for (const p of live()) {
        log(`open loop ${PLAN.openLoop.rate} req/s: ${p.name}`);
        open.set(p.name, await oha(ohaBin, p, PLAN.openLoop));
      }
      for (const p of live()) {
        log(`rate steps: ${p.name}`);
        steps.set(p.name, await rateSteps(ohaBin, p));
      }
      for (const p of live()) {
        log(`50 connections: ${p.name}`);
        c50.set(p.name, await closed50(ohaBin, p));
      }
    }

    log("per-request floors at 50 connections (own client, interleaved rounds)");
    const floorTarget = (n: Name): FloorTarget[] => {
      const p = paths.get(n)!;
      return p.target && p.proc ? [{ ...p.target, pids: () => p.proc!.pids() }] : [];
    };
    const floorRows: FloorRow[] | string = await measureFloors(
      floorTarget("nginx"),
      floorTarget("labmand"),
      mock.url,
      MODEL,
      CHAT,
    ).catch((err) => (err as Error).message);

    log("streaming, sequential (TTFT, gaps, merged reads)");
    await mock.setMode({ tokenDelayMs: PLAN.sse.tokenDelayMs });
    const sse = await runLoadgen<SseSeqResult>({
      kind: "sseSeq",
      targets: live().map((p) => p.target),
      rounds: PLAN.sse.rounds,
      shortStreams: PLAN.sse.shortStreams,
      longStreams: PLAN.sse.longStreams,
      longTokens: PLAN.sse.longTokens,
      timeoutMs: 10_000,
    }, 180_000);

    await mock.setMode({ tokenDelayMs: PLAN.many.tokenDelayMs });
    const many = new Map<Name, ManyResult | string>();
    for (const p of live()) {
      log(`${PLAN.many.streams} concurrent streams: ${p.name}`);
      many.set(p.name, await manyStreams(p, mock));
      await settle(500);
    }
    log(`${PLAN.many.streams} concurrent streams: bare Deno.serve floor`);
    const floor = await floorStreams(mock);
    log("metric bookkeeping per request (in process)");
    const metricsCost = await measureMetricsCost().catch((err) => (err as Error).message);
    await mock.setMode({ tokenDelayMs: PLAN.sse.tokenDelayMs });

    await settle(1_000);
    const afterRss = new Map<Name, number>();
    for (const p of live()) if (p.proc) afterRss.set(p.name, groupStat(p.proc.pids()).rssKb);

    log("WireGuard tunnel vs bare veth (namespaces)");
    const tunnel = ohaBin ? await measureTunnel(ohaBin) : { skipped: ohaMissing ?? "oha missing" };

    log("Portman relay: 1 KB frames, direct vs via labmand");
    const relay = await measureRelay();

    const elapsedS = (performance.now() - started) / 1000;
    const loadAfter = await loadAvg();
    const md = render({
      date,
      commit,
      elapsedS,
      paths,
      c1,
      open,
      steps,
      c50,
      sse,
      many,
      afterRss,
      ohaMissing,
      mockIdleKb,
      floor,
      metricsCost,
      versions: await versions(nginxBin, ohaBin),
      load: `${loadBefore} before, ${loadAfter} after`,
    }) + "\n" + floorsSection(floorRows, "nginx") + "\n" + tunnelSection(tunnel) + "\n" +
      relaySection(relay);
    console.log(md);
    await Deno.mkdir(`${ROOT}bench/results`, { recursive: true });
    await Deno.writeTextFile(`${ROOT}bench/results/latest.md`, md);
    log(`wrote bench/results/latest.md (${elapsedS.toFixed(0)} s)`);
    return 0;
  } finally {
    for (const p of procs.reverse()) await p.stop().catch(() => {});
  }
}

async function addNginx(
  paths: Map<Name, Path>,
  procs: Proc[],
  nginxBin: string | null,
  mock: MockProc,
): Promise<void> {
  const none = (reason: string) =>
    paths.set("nginx", { name: "nginx", target: null, proc: null, reason, idleRssKb: NaN });
  if (nginxBin === null) return void none("nginx not installed (apt-get install nginx)");
  try {
    const n = await startNginx(nginxBin, mock.port, PLAN.nginxWorkers);
    procs.push(n);
    paths.set("nginx", {
      name: "nginx",
      target: { name: "nginx", port: n.port, path: CHAT, model: MODEL },
      proc: n,
      reason: "",
      idleRssKb: NaN,
    });
  } catch (err) {
    none((err as Error).message);
  }
}

async function addLabmand(paths: Map<Name, Path>, procs: Proc[], mock: MockProc): Promise<void> {
  try {
    const l: LabmandProc = await startLabmandBench(mock.url, MODEL);
    procs.push(l);
    paths.set("labmand", {
      name: "labmand",
      target: { name: "labmand", port: l.port, path: CHAT, model: l.model },
      proc: l,
      reason: "",
      idleRssKb: NaN,
    });
  } catch (err) {
    const reason = (err as Error).message.replaceAll("\n", " ").slice(0, 300);
    log(`labmand not measured: ${reason}`);
    paths.set("labmand", { name: "labmand", target: null, proc: null, reason, idleRssKb: NaN });
  }
}

/** LiteLLM's proxy as a peer row when it is installed; one line in "Not measured" when not. */
async function addLitellm(paths: Map<Name, Path>, procs: Proc[], mock: MockProc): Promise<void> {
  const none = (reason: string) =>
    paths.set("litellm", { name: "litellm", target: null, proc: null, reason, idleRssKb: NaN });
  const bin = await findLitellm();
  if (bin === null) {
    return void none(
      "LiteLLM not installed (python3 -m venv /var/cache/labman-ci/litellm && " +
        "/var/cache/labman-ci/litellm/bin/pip install 'litellm[proxy]', or set BENCH_LITELLM)",
    );
  }
  try {
    log(`starting LiteLLM (${bin})`);
    const l = await startLitellm(bin, mock.url, MODEL);
    procs.push(l);
    paths.set("litellm", {
      name: "litellm",
      target: { name: "litellm", port: l.port, path: CHAT, model: MODEL },
      proc: l,
      reason: "",
      idleRssKb: NaN,
    });
  } catch (err) {
    none((err as Error).message.replaceAll("\n", " ").slice(0, 300));
  }
}

function settle(msDelay: number): Promise<void> {
  return new Promise((r) => setTimeout(r, msDelay));
}

function chatBody(model: string): string {
  return JSON.stringify({ model, messages: [{ role: "user", content: "hello bench" }] });
}

async function oha(
  bin: string,
  p: Path,
  o: { rate?: number; connections: number; durationS: number },
): Promise<OhaRun | string> {
  const t = p.target!;
  try {
    return await runOha(bin, {
      url: `http://127.0.0.1:${t.port}${t.path}`,
      body: chatBody(t.model),
      connections: o.connections,
      durationS: o.durationS,
      rate: o.rate,
      threads: PLAN.ohaThreads,
    });
  } catch (err) {
    return (err as Error).message;
  }
}

interface StepResult {
  /** Highest rate that held p99 ≤ limit with no errors and ≥ 95% of the rate; 0 if none. */
  best: number;
  /** Why stepping stopped: the failing step, or "cap" when every step passed. */
  stop: string;
  detail: string[];
}

async function rateSteps(bin: string, p: Path): Promise<StepResult | string> {
  const s = PLAN.steps;
  let best = 0;
  const detail: string[] = [];
  for (const rate of s.rates) {
    let r = await oha(bin, p, { rate, connections: s.connections, durationS: s.durationS });
    if (typeof r === "string") return r;
    if (stepFailure(r, rate) !== null) {
      // One retry: on a shared box a single stray multi-ms stall fails a 2 s step.
      detail.push(`${rate}: retried after p99 ${ms(r.p99)} ms`);
      r = await oha(bin, p, { rate, connections: s.connections, durationS: s.durationS });
      if (typeof r === "string") return r;
    }
    detail.push(
      `${rate}: p99 ${ms(r.p99)} ms, ${int(r.okRps)} ok/s${r.errors ? `, ${r.errors} err` : ""}`,
    );
    const why = stepFailure(r, rate);
    if (why !== null) return { best, stop: `${int(rate)} req/s: ${why}`, detail };
    best = rate;
  }
  return { best, stop: `every step passed (cap ${int(s.rates.at(-1)!)} req/s)`, detail };
}

function stepFailure(r: OhaRun, rate: number): string | null {
  if (r.errors > 0) return `${r.errors} errors (${r.firstError})`;
  if (r.p99 > PLAN.steps.p99Ms) return `p99 ${ms(r.p99)} ms`;
  if (r.okRps < 0.95 * rate) return `held only ${int(r.okRps)} req/s`;
  return null;
}

interface C50Result {
  run: OhaRun;
  cpuS: number;
  peakRssKb: number;
}

async function closed50(bin: string, p: Path): Promise<C50Result | string> {
  const c = PLAN.c50;
  const warm = await oha(bin, p, { connections: c.connections, durationS: c.warmupS });
  if (typeof warm === "string") return warm;
  const pids = () => p.proc?.pids() ?? [];
  const before = groupStat(pids()).cpuS;
  const sampler = new RssSampler(pids);
  const run = await oha(bin, p, { connections: c.connections, durationS: c.durationS });
  const peakRssKb = sampler.stop();
  const cpuS = groupStat(pids()).cpuS - before;
  if (typeof run === "string") return run;
  return { run, cpuS, peakRssKb };
}

interface ManyResult {
  r: SseManyResult;
  cpuS: number;
  mockCpuS: number;
  peakRssKb: number;
  idleBeforeKb: number;
}

async function manyStreams(p: Path, mock: MockProc): Promise<ManyResult | string> {
  const m = PLAN.many;
  const mock0 = groupStat(mock.pids()).cpuS;
  const pids = () => p.proc?.pids() ?? [];
  const start = groupStat(pids());
  const sampler = new RssSampler(pids);
  try {
    const r = await runLoadgen<SseManyResult>({
      kind: "sseMany",
      target: p.target!,
      streams: m.streams,
      rampMs: m.rampMs,
      tokens: m.tokens,
      expectedGapMs: m.tokenDelayMs,
      timeoutMs: m.rampMs + (m.tokens + 3) * m.tokenDelayMs * 4 + 10_000,
    }, 120_000);
    const peakRssKb = sampler.stop();
    return {
      r,
      cpuS: groupStat(pids()).cpuS - start.cpuS,
      mockCpuS: groupStat(mock.pids()).cpuS - mock0,
      peakRssKb,
      idleBeforeKb: start.rssKb,
    };
  } catch (err) {
    sampler.stop();
    return (err as Error).message;
  }
}

/** The many-streams job against bench/_floor_server.ts: RSS per stream of bare Deno.serve. */
async function floorStreams(mock: MockProc): Promise<(ManyResult & { idleKb: number }) | string> {
  let proc: Proc | null = null;
  try {
    proc = await startFloorServer(PLAN.many.tokenDelayMs);
    await settle(1_000);
    const idleKb = groupStat(proc.pids()).rssKb;
    const p: Path = {
      name: "direct",
      target: { name: "floor", port: proc.port, path: CHAT, model: MODEL },
      proc,
      reason: "",
      idleRssKb: idleKb,
    };
    const r = await manyStreams(p, mock);
    return typeof r === "string" ? r : { ...r, idleKb };
  } catch (err) {
    return (err as Error).message;
  } finally {
    await proc?.stop().catch(() => {});
  }
}

async function versions(nginxBin: string | null, ohaBin: string | null): Promise<string> {
  const run = async (bin: string, args: string[]) => {
    try {
      const o = await new Deno.Command(bin, { args, stdout: "piped", stderr: "piped" }).output();
      return (new TextDecoder().decode(o.stdout) + new TextDecoder().decode(o.stderr)).trim()
        .split("\n")[0];
    } catch {
      return "unknown";
    }
  };
  const cpu = (await Deno.readTextFile("/proc/cpuinfo").catch(() => ""))
    .match(/model name\s*:\s*(.*)/)?.[1] ?? "unknown CPU";
  return [
    `Deno ${Deno.version.deno}`,
    nginxBin ? (await run(nginxBin, ["-v"])).replace(/^nginx version: /, "") : "nginx missing",
    ohaBin ? await run(ohaBin, ["--version"]) : "oha missing",
    `${navigator.hardwareConcurrency} CPUs (${cpu})`,
    `Linux ${Deno.osRelease()}`,
  ].join("; ");
}

/** 1-minute load average; other work on the box shows up here. */
async function loadAvg(): Promise<string> {
  const text = await Deno.readTextFile("/proc/loadavg").catch(() => "");
  return text.split(" ")[0] || "n/a";
}

interface RenderInput {
  load: string;
  date: string;
  commit: string;
  elapsedS: number;
  paths: Map<Name, Path>;
  c1: C1Result;
  open: Map<Name, OhaRun | string>;
  steps: Map<Name, StepResult | string>;
  c50: Map<Name, C50Result | string>;
  sse: SseSeqResult;
  many: Map<Name, ManyResult | string>;
  afterRss: Map<Name, number>;
  ohaMissing: string | null;
  mockIdleKb: number;
  versions: string;
  /** The many-streams run against a bare `Deno.serve` SSE server (the floor), or why not. */
  floor: (ManyResult & { idleKb: number }) | string;
  metricsCost: MetricsCost | string;
}

function render(x: RenderInput): string {
  const out: string[] = [];
  const reasonOf = (n: Name, extra?: string | null) => {
    const p = x.paths.get(n)!;
    if (p.target === null) return `${n} not started (see "Not measured")`;
    return extra ? 'oha missing (see "Not measured")' : null;
  };
  out.push("# labmand proxy benchmark");
  out.push("");
  out.push(`- date: ${x.date}`);
  out.push(`- commit: ${x.commit}`);
  out.push(`- run time: ${x.elapsedS.toFixed(0)} s`);
  out.push(`- environment: ${x.versions}`);
  out.push(`- 1-minute load average: ${x.load} (the bench itself adds about 2)`);
  out.push(
    "- setup: one mock upstream (lib/mockllm, `--fixed-body`, separate process); nginx as a " +
      `plain keep-alive reverse proxy (${PLAN.nginxWorkers} worker, \`proxy_buffering off\`); ` +
      'labmand in local mode (`wireguard.mode = "off"`), one endpoint; LiteLLM proxy (1 worker, ' +
      "no database, telemetry off) when installed. Loopback only.",
  );
  out.push(
    "- caveat: nothing is pinned. The load generator, the proxy and the mock share the same " +
      `${navigator.hardwareConcurrency} cores, so read rows against each other (same run), not ` +
      'as absolutes. "added" = path − direct, same client, same mock, same run.',
  );
  const missing = [...x.paths.values()].filter((p) => p.target === null)
    .map((p) => `- ${p.name}: ${p.reason}`);
  if (x.ohaMissing) missing.push(`- open-loop and 50-connection rows: ${x.ohaMissing}`);
  if (missing.length > 0) {
    out.push("## Not measured");
    out.push("");
    out.push(...missing);
    out.push("");
  }
  out.push("");

  // 1. c=1
  out.push(
    `## Non-streaming latency, 1 connection (closed loop, own raw-socket keep-alive client, ` +
      `${PLAN.c1.rounds} interleaved rounds × ${PLAN.c1.roundMs} ms)`,
  );
  out.push("");
  const d1 = x.c1.perTarget.direct;
  const c1Rows = NAMES.map((n) => {
    const r = reasonOf(n);
    if (r !== null) return notMeasured(n, r, 11);
    const t = x.c1.perTarget[n];
    const l = t.latency;
    const iqr = (v: number[]) => `${ms(Math.min(...v))}–${ms(Math.max(...v))}`;
    return [
      n,
      ms(l.p50),
      ms(l.p99),
      ms(l.p999),
      ms(l.max),
      int(t.requests / (PLAN.c1.rounds * PLAN.c1.roundMs / 1000)),
      n === "direct" ? "—" : `${delta(l.p50 - d1.latency.p50)} (${ratio(l.p50, d1.latency.p50)})`,
      n === "direct" ? "—" : `${delta(l.p99 - d1.latency.p99)} (${ratio(l.p99, d1.latency.p99)})`,
      `p50 ${iqr(t.roundP50)} / p99 ${iqr(t.roundP99)}`,
      n === "direct"
        ? "—"
        : `${delta(pairedAdded(t.roundP50, d1.roundP50))} / ${
          delta(pairedAdded(t.roundP99, d1.roundP99))
        }`,
      `${t.over35ms} / ${t.errors}`,
    ];
  });
  out.push(table([
    "path",
    "p50 ms",
    "p99 ms",
    "p99.9 ms",
    "max ms",
    "req/s",
    "added p50 ms (×direct)",
    "added p99 ms (×direct)",
    "per-round range",
    "added p50 / p99 ms, median of paired rounds",
    "≥35 ms / errors",
  ], c1Rows));
  out.push("");

  // 2. open loop
  const ohaSkip = (n: Name) => reasonOf(n, x.ohaMissing);
  out.push(
    `## Non-streaming latency, open loop ${PLAN.openLoop.rate} req/s, ` +
      `${PLAN.openLoop.connections} connections (oha -q, latency-corrected, ${PLAN.openLoop.durationS} s)`,
  );
  out.push("");
  const od = x.open.get("direct");
  out.push(table(
    ["path", "p50 ms", "p99 ms", "max ms", "ok req/s", "errors", "added p50 ms", "added p99 ms"],
    NAMES.map((n) => {
      const r = ohaSkip(n);
      if (r !== null) return notMeasured(n, r, 8);
      const o = x.open.get(n);
      if (typeof o !== "object") return notMeasured(n, o ?? "no result", 8);
      const base = typeof od === "object" ? od : null;
      return [
        n,
        ms(o.p50),
        ms(o.p99),
        ms(o.max),
        int(o.okRps),
        String(o.errors),
        n === "direct" || !base ? "—" : delta(o.p50 - base.p50),
        n === "direct" || !base ? "—" : delta(o.p99 - base.p99),
      ];
    }),
  ));
  out.push("");

  // 3. rate steps
  out.push(
    `## Highest open-loop rate with p99 ≤ ${PLAN.steps.p99Ms} ms, no errors, ≥ 95% of the rate ` +
      `(oha -q, ${PLAN.steps.connections} connections, ${PLAN.steps.durationS} s per step)`,
  );
  out.push("");
  const sd = x.steps.get("direct");
  out.push(table(
    ["path", "highest rate req/s", "×direct", "stopped at", "steps (rate: p99, achieved)"],
    NAMES.map((n) => {
      const r = ohaSkip(n);
      if (r !== null) return notMeasured(n, r, 5);
      const s = x.steps.get(n);
      if (typeof s !== "object") return notMeasured(n, s ?? "no result", 5);
      return [
        n,
        int(s.best),
        n === "direct" || typeof sd !== "object" ? "—" : ratio(s.best, sd.best),
        s.stop,
        s.detail.join("; "),
      ];
    }),
  ));
  out.push("");

  // 4. throughput at 50 connections
  out.push(
    `## Throughput, ${PLAN.c50.connections} connections (closed loop, oha, ${PLAN.c50.durationS} s after ` +
      `${PLAN.c50.warmupS} s warm-up)`,
  );
  out.push("");
  const cd = x.c50.get("direct");
  const cn = x.c50.get("nginx");
  out.push(table(
    [
      "path",
      "ok req/s",
      "×direct",
      "×nginx",
      "p50 ms",
      "p99 ms",
      "errors",
      "proxy CPU µs/req",
      "proxy peak RSS MB",
    ],
    NAMES.map((n) => {
      const r = ohaSkip(n);
      if (r !== null) return notMeasured(n, r, 9);
      const c = x.c50.get(n);
      if (typeof c !== "object") return notMeasured(n, c ?? "no result", 9);
      const rps = c.run.okRps;
      return [
        n,
        int(rps),
        n === "direct" || typeof cd !== "object" ? "—" : ratio(rps, cd.run.okRps),
        n === "nginx" || typeof cn !== "object" ? "—" : ratio(rps, cn.run.okRps),
        ms(c.run.p50),
        ms(c.run.p99),
        String(c.run.errors),
        n === "direct" ? "—" : (c.cpuS * 1e6 / (rps * PLAN.c50.durationS)).toFixed(1),
        n === "direct" ? "—" : mb(c.peakRssKb),
      ];
    }),
  ));
  out.push("");

  // 5. streaming, sequential
  out.push(
    `## Streaming, one stream at a time (own raw-socket client; ${PLAN.sse.rounds} interleaved rounds of ` +
      `${PLAN.sse.shortStreams} one-token + ${PLAN.sse.longStreams} × ${PLAN.sse.longTokens}-token streams, ` +
      `${PLAN.sse.tokenDelayMs} ms apart)`,
  );
  out.push("");
  const sdir = x.sse.perTarget.direct;
  out.push(table(
    [
      "path",
      "TTFT p50 / p99 ms",
      "added TTFT p50 / p99 ms",
      "gap p50 / p99 ms",
      "added gap p50 / p99 ms (gap percentiles − direct)",
      "per-chunk added gap p50 / p99 ms (arrival gap − send gap, − direct)",
      "transit p50 / p99 ms",
      "merged reads / reads",
      "streams / errors",
    ],
    NAMES.map((n) => {
      const r = reasonOf(n);
      if (r !== null) return notMeasured(n, r, 9);
      const s = x.sse.perTarget[n];
      const base = n === "direct";
      return [
        n,
        `${ms(s.ttft.p50)} / ${ms(s.ttft.p99)}`,
        base ? "—" : `${delta(s.ttft.p50 - sdir.ttft.p50)} / ${delta(s.ttft.p99 - sdir.ttft.p99)}`,
        `${ms(s.gap.p50)} / ${ms(s.gap.p99)}`,
        base ? "—" : `${delta(s.gap.p50 - sdir.gap.p50)} / ${delta(s.gap.p99 - sdir.gap.p99)}`,
        base
          ? `(${ms(s.gapAdded.p50)} / ${ms(s.gapAdded.p99)})`
          : `${delta(s.gapAdded.p50 - sdir.gapAdded.p50)} / ${
            delta(s.gapAdded.p99 - sdir.gapAdded.p99)
          }`,
        `${ms(s.transit.p50)} / ${ms(s.transit.p99)}`,
        `${s.mergedReads} / ${s.reads}`,
        `${s.streams} / ${s.errors}`,
      ];
    }),
  ));
  out.push("");
  out.push(
    "TTFT = request write → first SSE event read. Transit = read time − the mock's `mock_sent_at_ms` " +
      "stamp (both wall clock via `performance.timeOrigin`; the constant clock offset between processes " +
      "cancels in path − direct). A merged read is one socket read that completed more than one SSE event.",
  );
  out.push("");

  // 6. many streams
  const m = PLAN.many;
  out.push(
    `## ${int(m.streams)} concurrent streams × ${1000 / m.tokenDelayMs} chunks/s ` +
      `(${m.tokens} tokens each, started over ${m.rampMs} ms; own client in a separate process)`,
  );
  out.push("");
  const md = x.many.get("direct");
  out.push(table(
    [
      "path",
      "completed / errors",
      "peak open",
      "TTFT p50 / max ms",
      "transit p50 / p99 / max ms",
      "added transit p99 / max ms",
      "max lateness ms (gap − 50 ms)",
      "merged reads",
      "proxy CPU s / 1M chunks",
      "proxy RSS MB: before → peak",
      "KB per stream: vs idle / vs before",
      "CPU s: proxy / mock / client, wall s",
      "worst transit per second ms",
    ],
    NAMES.map((n) => {
      const r = reasonOf(n);
      if (r !== null) return notMeasured(n, r, 13);
      const v = x.many.get(n);
      if (typeof v !== "object") return notMeasured(n, v ?? "no result", 13);
      const t = v.r.transit;
      const base = typeof md === "object" ? md.r.transit : null;
      const proxy = n !== "direct";
      return [
        n,
        `${v.r.completed} / ${v.r.errors}${
          v.r.firstError ? ` (${v.r.firstError.slice(0, 60)})` : ""
        }`,
        String(v.r.peakOpen),
        `${ms(v.r.ttft.p50)} / ${ms(v.r.ttft.max)}`,
        `${ms(t.p50)} / ${ms(t.p99)} / ${ms(t.max)}`,
        !proxy || !base ? "—" : `${delta(t.p99 - base.p99)} / ${delta(t.max - base.max)}`,
        ms(v.r.lateness.max),
        String(v.r.mergedReads),
        proxy ? (v.cpuS / (v.r.events / 1e6)).toFixed(1) : "—",
        proxy ? `${mb(v.idleBeforeKb)} → ${mb(v.peakRssKb)}` : "—",
        proxy
          ? `${perStream(v.peakRssKb, x.paths.get(n)!.idleRssKb, v)} / ${
            perStream(v.peakRssKb, v.idleBeforeKb, v)
          }`
          : "—",
        `${proxy ? v.cpuS.toFixed(1) : "—"} / ${v.mockCpuS.toFixed(1)} / ${
          v.r.clientCpuS.toFixed(1)
        }, ${(v.r.elapsedMs / 1000).toFixed(1)}`,
        v.r.worstBySecond.map((w) => w.toFixed(0)).join(" "),
      ];
    }),
  ));
  out.push("");
  out.push(
    `CPU per million chunks counts the proxy only (nginx: master + workers). The mock's own RSS at idle was ${
      mb(x.mockIdleKb)
    } MB. ` +
      "KB per stream = (peak RSS during the run − RSS at idle after start-up, or − RSS just before " +
      "this run) / streams open at the peak. The first can overstate (heap grown by earlier phases), " +
      "the second understate (freed heap reused); the target is judged on the first.",
  );
  out.push("");

  // 7. memory
  out.push("## Memory (RSS of the proxy process; nginx = master + workers)");
  out.push("");
  out.push(table(
    [
      "path",
      "idle MB",
      "peak at 50 conns MB",
      `peak with ${int(m.streams)} streams MB`,
      "KB per stream (vs idle)",
      "after the run MB",
    ],
    (["nginx", "labmand", "litellm"] as Name[]).map((n) => {
      const r = reasonOf(n);
      if (r !== null) return notMeasured(n, r, 6);
      const p = x.paths.get(n)!;
      const c = x.c50.get(n);
      const v = x.many.get(n);
      return [
        n,
        mb(p.idleRssKb),
        typeof c === "object" ? mb(c.peakRssKb) : "n/a",
        typeof v === "object" ? mb(v.peakRssKb) : "n/a",
        typeof v === "object" ? perStream(v.peakRssKb, p.idleRssKb, v) : "n/a",
        mb(x.afterRss.get(n) ?? NaN),
      ];
    }),
  ));
  out.push("");
  const fl = x.floor;
  out.push(
    typeof fl === "object"
      ? `Floor (bench/_floor_server.ts, a bare \`Deno.serve\` streaming the same events itself, ` +
        `no upstream): idle ${mb(fl.idleKb)} MB, peak ${mb(fl.peakRssKb)} MB with ` +
        `${int(fl.r.peakOpen)} streams open, ${perStream(fl.peakRssKb, fl.idleKb, fl)} KB per ` +
        `stream; ${fl.r.completed}/${int(PLAN.many.streams)} completed, max lateness ` +
        `${ms(fl.r.lateness.max)} ms.`
      : `Floor (bare \`Deno.serve\` streaming server): not measured: ${fl}`,
  );
  out.push("");

  const mc = x.metricsCost;
  out.push("## Metric bookkeeping per request (in process, bench/_metrics_cost.ts)");
  out.push("");
  out.push(
    typeof mc === "object"
      ? `Two histogram observations, one counter increment and two gauge sets, as the data plane ` +
        `does per request: ${mc.seriesUs.toFixed(3)} µs through the resolved series ` +
        `(prom-client's public API only: batched counters and gauges, labelled histogram ` +
        `children) vs ${mc.labelledUs.toFixed(3)} µs passing labels on every call; best of 4.`
      : `not measured: ${mc}`,
  );
  out.push("");

  // 8. targets
  out.push("## labmand against its targets");
  out.push("");
  out.push(table(["target", "measured", "verdict"], targetRows(x)));
  out.push("");
  return out.join("\n");
}

/** RSS growth per open stream, in KB. */
function perStream(peakKb: number, baseKb: number, v: ManyResult): string {
  return ((peakKb - baseKb) / Math.max(1, v.r.peakOpen)).toFixed(1);
}

/** Median over rounds of (path − direct) in the same round: cancels drift in a noisy box. */
function pairedAdded(path: number[], direct: number[]): number {
  const n = Math.min(path.length, direct.length);
  return median(Array.from({ length: n }, (_, i) => path[i] - direct[i]));
}

function targetRows(x: RenderInput): string[][] {
  const lab = x.paths.get("labmand")!;
  if (lab.target === null) {
    return [["all", `not measured: ${lab.reason}`, "n/a"]];
  }
  const rows: string[][] = [];
  const c1 = x.c1.perTarget;
  const addP50 = pairedAdded(c1.labmand.roundP50, c1.direct.roundP50);
  const addP99 = pairedAdded(c1.labmand.roundP99, c1.direct.roundP99);
  const pooled = (k: "p50" | "p99") => delta(c1.labmand.latency[k] - c1.direct.latency[k]);
  rows.push([
    `added p50 ≤ ${GOALS.addedP50Ms} ms at 1 conn`,
    `${delta(addP50)} ms (median of paired rounds; pooled ${pooled("p50")})`,
    verdict(addP50 <= GOALS.addedP50Ms),
  ]);
  rows.push([
    `added p99 ≤ ${GOALS.addedP99Ms} ms at 1 conn`,
    `${delta(addP99)} ms (median of paired rounds; pooled ${pooled("p99")})`,
    verdict(addP99 <= GOALS.addedP99Ms),
  ]);
  const cl = x.c50.get("labmand");
  const cn = x.c50.get("nginx");
  if (typeof cl === "object" && typeof cn === "object") {
    const share = cl.run.okRps / cn.run.okRps;
    rows.push([
      `≥ ${GOALS.nginxThroughputShare * 100}% of nginx throughput at 50 conns`,
      `${(share * 100).toFixed(1)}% (${int(cl.run.okRps)} vs ${int(cn.run.okRps)} req/s)`,
      verdict(share >= GOALS.nginxThroughputShare && cl.run.errors === 0),
    ]);
    const cpu = (c: C50Result) => c.cpuS * 1e6 / Math.max(1, c.run.okRps * PLAN.c50.durationS);
    const cpuRatio = cpu(cl) / cpu(cn);
    rows.push([
      `CPU per request ≤ ${GOALS.cpuPerRequestVsNginx}× nginx at 50 conns`,
      `${cpuRatio.toFixed(2)}× (${cpu(cl).toFixed(1)} vs ${cpu(cn).toFixed(1)} µs)`,
      verdict(cpuRatio <= GOALS.cpuPerRequestVsNginx),
    ]);
  } else {
    rows.push([
      "≥ 60% of nginx throughput at 50 conns",
      `not measured: ${x.ohaMissing ?? "see above"}`,
      "n/a",
    ]);
  }
  const s = x.sse.perTarget;
  const ttft = s.labmand.ttft.p99 - s.direct.ttft.p99;
  rows.push([
    `SSE added TTFT p99 ≤ ${GOALS.ttftAddedP99Ms} ms`,
    `${delta(ttft)} ms`,
    verdict(ttft <= GOALS.ttftAddedP99Ms),
  ]);
  const gap = s.labmand.gapAdded.p99 - s.direct.gapAdded.p99;
  rows.push([
    `SSE added gap p99 ≤ ${GOALS.gapAddedP99Ms} ms (per-chunk)`,
    `${delta(gap)} ms (raw gap p99 difference ${delta(s.labmand.gap.p99 - s.direct.gap.p99)} ms)`,
    verdict(gap <= GOALS.gapAddedP99Ms),
  ]);
  const mlMerged = x.many.get("labmand");
  const mdMerged = x.many.get("direct");
  rows.push([
    "zero merged chunks (one stream at a time)",
    `${s.labmand.mergedReads} of ${s.labmand.reads} reads (direct ${s.direct.mergedReads}); ` +
    `with ${int(PLAN.many.streams)} streams ${
      typeof mlMerged === "object" ? mlMerged.r.mergedReads : "n/a"
    } (direct ${
      typeof mdMerged === "object" ? mdMerged.r.mergedReads : "n/a"
    }: a lagging client merges too, so that figure is for comparison only)`,
    verdict(s.labmand.mergedReads === 0),
  ]);
  const ml = x.many.get("labmand");
  if (typeof ml === "object") {
    const md = x.many.get("direct");
    const baseMax = typeof md === "object" ? md.r.transit.max : NaN;
    const ok = ml.r.transit.max <= GOALS.manyMaxDelayMs && ml.r.completed === PLAN.many.streams;
    // When even the direct path stalls past the budget and labmand stays within the same
    // margin, the box (not labmand) is saturated.
    const inconclusive = !ok && ml.r.completed === PLAN.many.streams &&
      !(baseMax <= GOALS.manyMaxDelayMs) && ml.r.transit.max <= baseMax + GOALS.manyMaxDelayMs;
    rows.push([
      `${
        int(PLAN.many.streams)
      } streams × 20 chunks/s, no chunk delayed > ${GOALS.manyMaxDelayMs} ms`,
      `max transit ${ms(ml.r.transit.max)} ms (direct ${ms(baseMax)} ms), ` +
      `${ml.r.completed}/${PLAN.many.streams} completed, ${ml.r.errors} errors`,
      inconclusive ? "inconclusive (direct baseline over budget)" : verdict(ok),
    ]);
    if (typeof md === "object") {
      const late = ml.r.lateness.max - md.r.lateness.max;
      rows.push([
        `${int(PLAN.many.streams)} streams: worst lateness ≤ ${GOALS.manyLateBeyondDirectMs} ms ` +
        "beyond direct",
        `${delta(late)} ms (${ms(ml.r.lateness.max)} vs ${ms(md.r.lateness.max)} ms)`,
        verdict(late <= GOALS.manyLateBeyondDirectMs),
      ]);
      const ttft = ml.r.ttft.p99 - md.r.ttft.p99;
      rows.push([
        `${int(PLAN.many.streams)} streams: TTFT p99 during the ramp ≤ ` +
        `${GOALS.manyTtftP99BeyondDirectMs} ms beyond direct`,
        `${delta(ttft)} ms (${ms(ml.r.ttft.p99)} vs ${ms(md.r.ttft.p99)} ms)`,
        verdict(ttft <= GOALS.manyTtftP99BeyondDirectMs),
      ]);
      rows.push([
        `${int(PLAN.many.streams)} streams: no merged chunks beyond direct's`,
        `${ml.r.mergedReads} (direct ${md.r.mergedReads})`,
        verdict(ml.r.mergedReads <= md.r.mergedReads),
      ]);
    }
    const per = (ml.peakRssKb - lab.idleRssKb) / Math.max(1, ml.r.peakOpen);
    const floor = x.floor;
    const floorPer = typeof floor === "object"
      ? (floor.peakRssKb - floor.idleKb) / Math.max(1, floor.r.peakOpen)
      : NaN;
    rows.push([
      `RSS per stream ≤ ${GOALS.perStreamVsFloor}× a bare Deno.serve streaming server`,
      `${per.toFixed(1)} KB vs ${Number.isFinite(floorPer) ? floorPer.toFixed(1) : "n/a"} KB ` +
      `(${(per / floorPer).toFixed(2)}×)`,
      Number.isFinite(floorPer) ? verdict(per <= GOALS.perStreamVsFloor * floorPer) : "n/a",
    ]);
  } else {
    rows.push(["1,000 streams", `not measured: ${ml ?? "no result"}`, "n/a"]);
  }
  const idle = lab.idleRssKb / 1024;
  rows.push([
    `idle RSS ≤ ${GOALS.idleRssMb} MB`,
    `${idle.toFixed(1)} MB`,
    verdict(idle <= GOALS.idleRssMb),
  ]);
  return rows;
}

if (import.meta.main) {
  Deno.exit(await main());
}
