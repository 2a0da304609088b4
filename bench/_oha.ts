/**
 * Runs `oha` (closed loop with `-c`, open loop with `-q`) and reads its JSON summary.
 *
 * @module
 */

/** What the bench keeps from one oha run. Latencies in ms. */
export interface OhaRun {
  /** Successful (2xx) responses per second over the run. */
  okRps: number;
  p50: number;
  p99: number;
  max: number;
  /** Non-2xx answers plus transport errors. */
  errors: number;
  total: number;
  firstError: string | null;
}

export interface OhaOptions {
  url: string;
  body: string;
  connections: number;
  durationS: number;
  /** Open-loop rate in requests/s; closed loop when absent. */
  rate?: number;
  /** Tokio worker threads of oha itself. @default 1 (leave the cores to proxy and mock) */
  threads?: number;
  /** Command prefix, e.g. `["ip", "netns", "exec", "cp"]` to load from a namespace. */
  prefix?: string[];
}

/** Runs oha once; rejects when oha fails or prints no JSON. */
export async function runOha(bin: string, o: OhaOptions): Promise<OhaRun> {
  const args = [
    "--no-tui",
    "--output-format",
    "json",
    "-c",
    String(o.connections),
    "-z",
    `${o.durationS}s`,
    "-m",
    "POST",
    "-H",
    "content-type: application/json",
    "-d",
    o.body,
    "--worker-threads",
    String(o.threads ?? 1),
  ];
  // Open loop: count latency from the scheduled send time, not from when a connection was
  // free (no coordinated omission).
  if (o.rate !== undefined) args.push("-q", String(o.rate), "--latency-correction");
  args.push(o.url);
  const [cmd, ...argv] = [...(o.prefix ?? []), bin, ...args];
  const child = new Deno.Command(cmd, {
    args: argv,
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  })
    .spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  }, (o.durationS + 20) * 1000);
  const out = await child.output();
  clearTimeout(timer);
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim();
    throw new Error(`oha failed (exit ${out.code}): ${err.slice(-400)}`);
  }
  // deno-lint-ignore no-explicit-any -- oha's JSON report, read field by field below
  let j: any;
  try {
    j = JSON.parse(text);
  } catch {
    throw new Error(`oha printed no JSON: ${text.slice(0, 200)}`);
  }
  let ok = 0;
  let total = 0;
  for (const [code, n] of Object.entries(j.statusCodeDistribution ?? {})) {
    total += n as number;
    if (code.startsWith("2")) ok += n as number;
  }
  let transportErrors = 0;
  let firstError: string | null = null;
  for (const [msg, n] of Object.entries(j.errorDistribution ?? {})) {
    transportErrors += n as number;
    firstError ??= msg;
  }
  // oha stops at the deadline and reports aborted in-flight requests as errors; those are
  // not failures of the server.
  const aborted = Object.entries(j.errorDistribution ?? {})
    .filter(([msg]) => /aborted due to deadline/i.test(msg))
    .reduce((s, [, n]) => s + (n as number), 0);
  if (aborted === transportErrors) firstError = null;
  const nonOk = total - ok;
  if (nonOk > 0 && firstError === null) {
    const codes = Object.keys(j.statusCodeDistribution).filter((c) => !c.startsWith("2"));
    firstError = `HTTP ${codes.join(",")}`;
  }
  const seconds = j.summary.total as number;
  const pct = j.latencyPercentiles ?? {};
  return {
    okRps: ok / seconds,
    p50: (pct.p50 ?? NaN) * 1000,
    p99: (pct.p99 ?? NaN) * 1000,
    max: (j.summary.slowest ?? NaN) * 1000,
    errors: nonOk + transportErrors - aborted,
    total: total + transportErrors - aborted,
    firstError,
  };
}
