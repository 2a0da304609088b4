/**
 * The bench's own load generator, run as a separate process (`deno run -A bench/_loadgen.ts
 * '<job json>'`) so its CPU and GC never share a process with the proxy under test or with the
 * orchestrator that samples /proc. Prints one JSON result line on stdout.
 *
 * Jobs:
 * - `c1`: sequential non-streamed requests on one keep-alive socket per target, targets
 *   interleaved in rounds (closed loop, 1 connection).
 * - `sseSeq`: sequential SSE streams per target, interleaved in rounds: TTFT, inter-chunk gaps,
 *   per-chunk transit (arrival − mock_sent_at_ms) and merged reads.
 * - `sseMany`: N concurrent streams against one target, started evenly over `rampMs`.
 * - `cN`: closed loop on N keep-alive sockets per target, targets interleaved in rounds: requests
 *   per second (the bench smoke's throughput row, which needs no oha).
 *
 * @module
 */
import { postRequest, ResponseReader, type SseEvent, SseSplitter } from "./_http1.ts";
import { Samples, summarize, type Summary } from "./_stats.ts";

/** Where to send requests. */
export interface Target {
  name: string;
  port: number;
  /** Request path, e.g. `/v1/chat/completions`. */
  path: string;
  model: string;
}

export interface C1Job {
  kind: "c1";
  targets: Target[];
  rounds: number;
  roundMs: number;
  warmupMs: number;
  /** Hard cap of requests per target per round. */
  maxPerRound: number;
}

export interface C1Result {
  kind: "c1";
  perTarget: Record<string, {
    latency: Summary;
    roundP50: number[];
    roundP99: number[];
    requests: number;
    errors: number;
    /** Requests that took ≥ 35 ms: the Nagle / delayed-ACK signature. */
    over35ms: number;
  }>;
}

export interface SseSeqJob {
  kind: "sseSeq";
  targets: Target[];
  rounds: number;
  /** Short streams (max_tokens 1) per target per round, for TTFT samples. */
  shortStreams: number;
  /** Long streams per target per round, for gap samples. */
  longStreams: number;
  longTokens: number;
  timeoutMs: number;
}

export interface SseSeqResult {
  kind: "sseSeq";
  perTarget: Record<string, {
    ttft: Summary;
    /** Arrival gap between consecutive events of a long stream. */
    gap: Summary;
    /** Arrival gap minus the mock's send gap: what the path added to each gap. */
    gapAdded: Summary;
    /** Arrival (epoch ms) minus mock_sent_at_ms, every event. */
    transit: Summary;
    streams: number;
    events: number;
    reads: number;
    mergedReads: number;
    errors: number;
  }>;
}

export interface SseManyJob {
  kind: "sseMany";
  target: Target;
  streams: number;
  rampMs: number;
  tokens: number;
  expectedGapMs: number;
  timeoutMs: number;
}

export interface SseManyResult {
  kind: "sseMany";
  /** Request written → first event, per stream: shows queueing in front of the upstream. */
  ttft: Summary;
  transit: Summary;
  /** Arrival gap − expected gap, every event after the first of a stream. */
  lateness: Summary;
  events: number;
  reads: number;
  mergedReads: number;
  completed: number;
  errors: number;
  firstError: string | null;
  /** Most streams open at once, as the client saw it. */
  peakOpen: number;
  elapsedMs: number;
  /** CPU seconds the load generator itself used. */
  clientCpuS: number;
  /** Worst transit per second of the run, to tell ramp-up stalls from steady-state ones. */
  worstBySecond: number[];
}

export interface CnJob {
  kind: "cN";
  targets: Target[];
  connections: number;
  rounds: number;
  roundMs: number;
  warmupMs: number;
}

export interface CnResult {
  kind: "cN";
  perTarget: Record<string, {
    /** Completed 200 responses per second, one figure per round. */
    roundRps: number[];
    requests: number;
    errors: number;
  }>;
}

export type Job = C1Job | SseSeqJob | SseManyJob | CnJob;
export type JobResult = C1Result | SseSeqResult | SseManyResult | CnResult;

const HOST = "127.0.0.1";

function chatBody(model: string, stream: boolean, maxTokens?: number): string {
  const body: Record<string, unknown> = {
    model,
    messages: [{ role: "user", content: "hello bench" }],
  };
  if (stream) body.stream = true;
  if (maxTokens !== undefined) body.max_tokens = maxTokens;
  return JSON.stringify(body);
}

/** One keep-alive connection that reconnects when the server closes it. */
class Client {
  #conn: Deno.TcpConn | null = null;
  #buf = new Uint8Array(64 * 1024);
  constructor(readonly port: number) {}

  async #connect(): Promise<Deno.TcpConn> {
    if (this.#conn) return this.#conn;
    const conn = await Deno.connect({ hostname: HOST, port: this.port });
    conn.setNoDelay(true);
    this.#conn = conn;
    return conn;
  }

  close(): void {
    try {
      this.#conn?.close();
    } catch { /* already closed */ }
    this.#conn = null;
  }

  /**
   * Sends `req` and reads the whole response; `onRead(now)` runs after each socket read was
   * fed to `reader`. Resolves to the status. Rejects on socket errors or after `deadline`.
   */
  async exchange(
    req: Uint8Array,
    reader: ResponseReader,
    deadline: number,
    onRead?: (now: number) => void,
  ): Promise<number> {
    reader.reset();
    const conn = await this.#connect();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const wait = deadline - performance.now();
    if (wait <= 0) throw new Error("deadline passed");
    timer = setTimeout(() => {
      timer = undefined;
      this.close();
    }, wait);
    try {
      await writeAll(conn, req);
      while (!reader.done) {
        const n = await conn.read(this.#buf);
        const now = performance.now();
        if (n === null) throw new Error("connection closed mid-response");
        reader.feed(this.#buf.subarray(0, n));
        onRead?.(now);
      }
      if (reader.head?.close) this.close();
      return reader.head!.status;
    } catch (err) {
      this.close();
      throw timer === undefined ? new Error("timed out") : err;
    } finally {
      clearTimeout(timer);
    }
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}

async function runC1(job: C1Job): Promise<C1Result> {
  const clients = new Map(job.targets.map((t) => [t.name, new Client(t.port)]));
  const reqs = new Map(
    job.targets.map((
      t,
    ) => [t.name, postRequest(`${HOST}:${t.port}`, t.path, chatBody(t.model, false))]),
  );
  const reader = new ResponseReader();
  const all = new Map(job.targets.map((t) => [t.name, new Samples(2_000_000)]));
  const stats = new Map(
    job.targets.map((
      t,
    ) => [t.name, { roundP50: [] as number[], roundP99: [] as number[], errors: 0, over35ms: 0 }]),
  );

  const loop = async (t: Target, ms: number, cap: number, record: boolean) => {
    const client = clients.get(t.name)!;
    const req = reqs.get(t.name)!;
    const s = stats.get(t.name)!;
    const round = new Samples(cap);
    const end = performance.now() + ms;
    for (let i = 0; i < cap && performance.now() < end; i++) {
      const t0 = performance.now();
      try {
        const status = await client.exchange(req, reader, t0 + 5_000);
        const dt = performance.now() - t0;
        if (status !== 200) {
          if (record) s.errors++;
          continue;
        }
        if (!record) continue;
        round.push(dt);
        all.get(t.name)!.push(dt);
        if (dt >= 35) s.over35ms++;
      } catch {
        if (record) s.errors++;
        if (s.errors > 100) break;
      }
    }
    if (record) {
      const sum = summarize(round.values());
      s.roundP50.push(sum.p50);
      s.roundP99.push(sum.p99);
    }
  };

  for (const t of job.targets) await loop(t, job.warmupMs, job.maxPerRound, false);
  for (let r = 0; r < job.rounds; r++) {
    for (const t of job.targets) await loop(t, job.roundMs, job.maxPerRound, true);
  }
  for (const c of clients.values()) c.close();
  const perTarget: C1Result["perTarget"] = {};
  for (const t of job.targets) {
    const s = stats.get(t.name)!;
    const samples = all.get(t.name)!;
    perTarget[t.name] = { latency: summarize(samples.values()), requests: samples.length, ...s };
  }
  return { kind: "c1", perTarget };
}

async function runCn(job: CnJob): Promise<CnResult> {
  const perTarget: CnResult["perTarget"] = {};
  const pools = new Map(job.targets.map((t) => {
    const clients = Array.from({ length: job.connections }, () => new Client(t.port));
    return [t.name, clients];
  }));
  const reqs = new Map(
    job.targets.map((
      t,
    ) => [t.name, postRequest(`${HOST}:${t.port}`, t.path, chatBody(t.model, false))]),
  );
  for (const t of job.targets) perTarget[t.name] = { roundRps: [], requests: 0, errors: 0 };

  const round = async (t: Target, ms: number, record: boolean) => {
    const req = reqs.get(t.name)!;
    const s = perTarget[t.name];
    const start = performance.now();
    const end = start + ms;
    let ok = 0;
    await Promise.all(pools.get(t.name)!.map(async (client) => {
      const reader = new ResponseReader();
      while (performance.now() < end) {
        try {
          const status = await client.exchange(req, reader, performance.now() + 5_000);
          if (status === 200) ok++;
          else if (record) s.errors++;
        } catch {
          if (record) s.errors++;
          if (s.errors > 1_000) return;
        }
      }
    }));
    if (!record) return;
    s.requests += ok;
    s.roundRps.push(ok / ((performance.now() - start) / 1000));
  };

  for (const t of job.targets) await round(t, job.warmupMs, false);
  for (let r = 0; r < job.rounds; r++) {
    for (const t of job.targets) await round(t, job.roundMs, true);
  }
  for (const clients of pools.values()) for (const c of clients) c.close();
  return { kind: "cN", perTarget };
}

/** Reads one SSE response, calling `onEvents(now, events)` per socket read with ≥1 event. */
async function readStream(
  client: Client,
  req: Uint8Array,
  deadline: number,
  onEvents: (now: number, events: SseEvent[]) => void,
): Promise<{ status: number; reads: number }> {
  const splitter = new SseSplitter();
  let pending: SseEvent[] = [];
  const reader = new ResponseReader((bytes) => {
    for (const e of splitter.push(bytes)) pending.push(e);
  });
  let reads = 0;
  const status = await client.exchange(req, reader, deadline, (now) => {
    reads++;
    if (pending.length > 0) {
      onEvents(now, pending);
      pending = [];
    }
  });
  return { status, reads };
}

async function runSseSeq(job: SseSeqJob): Promise<SseSeqResult> {
  const origin = performance.timeOrigin;
  const acc = new Map(job.targets.map((t) => [t.name, {
    ttft: new Samples(1_000_000),
    gap: new Samples(1_000_000),
    gapAdded: new Samples(1_000_000),
    transit: new Samples(1_000_000),
    streams: 0,
    events: 0,
    reads: 0,
    mergedReads: 0,
    errors: 0,
  }]));

  const one = async (t: Target, client: Client, req: Uint8Array, gaps: boolean) => {
    const a = acc.get(t.name)!;
    const t0 = performance.now();
    let first = true;
    let prevArrival = NaN;
    let prevSent = NaN;
    try {
      const { status, reads } = await readStream(client, req, t0 + job.timeoutMs, (now, events) => {
        if (events.length > 1) a.mergedReads++;
        for (const e of events) {
          a.events++;
          if (e.done) continue;
          if (first) {
            a.ttft.push(now - t0);
            first = false;
          }
          if (!Number.isNaN(e.sentAtMs)) {
            a.transit.push(origin + now - e.sentAtMs);
            if (gaps && !Number.isNaN(prevArrival)) {
              a.gap.push(now - prevArrival);
              a.gapAdded.push((now - prevArrival) - (e.sentAtMs - prevSent));
            }
            prevArrival = now;
            prevSent = e.sentAtMs;
          } else if (Number.isNaN(prevSent)) {
            // A proxy that re-serialises chunks (LiteLLM) drops the mock's stamp: its raw
            // arrival gaps still count; transit and per-chunk added gap cannot be known.
            if (gaps && !Number.isNaN(prevArrival)) a.gap.push(now - prevArrival);
            prevArrival = now;
          }
        }
      });
      a.reads += reads;
      if (status === 200) a.streams++;
      else a.errors++;
    } catch {
      a.errors++;
    }
  };

  const clients = new Map(job.targets.map((t) => [t.name, new Client(t.port)]));
  const shortReq = new Map(job.targets.map((t) => [
    t.name,
    postRequest(`${HOST}:${t.port}`, t.path, chatBody(t.model, true, 1)),
  ]));
  const longReq = new Map(job.targets.map((t) => [
    t.name,
    postRequest(`${HOST}:${t.port}`, t.path, chatBody(t.model, true, job.longTokens)),
  ]));
  for (let r = 0; r < job.rounds; r++) {
    for (const t of job.targets) {
      const c = clients.get(t.name)!;
      for (let i = 0; i < job.shortStreams; i++) await one(t, c, shortReq.get(t.name)!, false);
      for (let i = 0; i < job.longStreams; i++) await one(t, c, longReq.get(t.name)!, true);
    }
  }
  for (const c of clients.values()) c.close();
  const perTarget: SseSeqResult["perTarget"] = {};
  for (const [name, a] of acc) {
    perTarget[name] = {
      ttft: summarize(a.ttft.values()),
      gap: summarize(a.gap.values()),
      gapAdded: summarize(a.gapAdded.values()),
      transit: summarize(a.transit.values()),
      streams: a.streams,
      events: a.events,
      reads: a.reads,
      mergedReads: a.mergedReads,
      errors: a.errors,
    };
  }
  return { kind: "sseSeq", perTarget };
}

async function runSseMany(job: SseManyJob): Promise<SseManyResult> {
  const origin = performance.timeOrigin;
  const t = job.target;
  const req = postRequest(`${HOST}:${t.port}`, t.path, chatBody(t.model, true, job.tokens));
  const transit = new Samples(5_000_000);
  const ttft = new Samples(1_000_000);
  const lateness = new Samples(5_000_000);
  let events = 0;
  let reads = 0;
  let mergedReads = 0;
  let completed = 0;
  let errors = 0;
  let firstError: string | null = null;
  let open = 0;
  let peakOpen = 0;
  const start = performance.now();
  const deadline = start + job.timeoutMs;
  const worstBySecond: number[] = [];
  const cpu0 = selfCpuS();

  const one = async (i: number) => {
    const due = start + (i * job.rampMs) / job.streams;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const client = new Client(t.port);
    open++;
    peakOpen = Math.max(peakOpen, open);
    let prev = NaN;
    const t0 = performance.now();
    try {
      const result = await readStream(client, req, deadline, (now, evs) => {
        if (evs.length > 1) mergedReads++;
        if (Number.isNaN(prev)) ttft.push(now - t0);
        for (const e of evs) {
          events++;
          if (e.done) continue;
          // Unstamped events come from a proxy that re-serialises chunks (LiteLLM): their
          // lateness still counts, their transit cannot be known.
          if (!Number.isNaN(e.sentAtMs)) {
            const tr = origin + now - e.sentAtMs;
            transit.push(tr);
            const sec = Math.floor((now - start) / 1000);
            if (sec < 600 && !(worstBySecond[sec] >= tr)) {
              for (let k = worstBySecond.length; k < sec; k++) worstBySecond[k] = 0;
              worstBySecond[sec] = tr;
            }
          }
          if (!Number.isNaN(prev)) lateness.push(now - prev - job.expectedGapMs);
          prev = now;
        }
      });
      reads += result.reads;
      if (result.status === 200) completed++;
      else {
        errors++;
        firstError ??= `HTTP ${result.status}`;
      }
    } catch (err) {
      errors++;
      firstError ??= (err as Error).message;
    } finally {
      open--;
      client.close();
    }
  };

  await Promise.all(Array.from({ length: job.streams }, (_, i) => one(i)));
  return {
    kind: "sseMany",
    ttft: summarize(ttft.values()),
    transit: summarize(transit.values()),
    lateness: summarize(lateness.values()),
    events,
    reads,
    mergedReads,
    completed,
    errors,
    firstError,
    peakOpen,
    elapsedMs: performance.now() - start,
    worstBySecond: worstBySecond.map((v) => Math.round(v * 10) / 10),
    clientCpuS: selfCpuS() - cpu0,
  };
}

/** This process's user + system CPU seconds (all threads), from /proc. */
function selfCpuS(): number {
  try {
    const stat = Deno.readTextFileSync("/proc/self/stat");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return NaN;
  }
}

/** Runs one job in this process. */
export function runJob(job: Job): Promise<JobResult> {
  switch (job.kind) {
    case "c1":
      return runC1(job);
    case "sseSeq":
      return runSseSeq(job);
    case "sseMany":
      return runSseMany(job);
    case "cN":
      return runCn(job);
  }
}

if (import.meta.main) {
  const job = JSON.parse(Deno.args[0]) as Job;
  const result = await runJob(job);
  console.log(JSON.stringify(result));
}
