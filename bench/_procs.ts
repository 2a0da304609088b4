/**
 * Processes the bench runs and watches: the mock upstream, nginx, labmand, the bench's own
 * load generator; plus CPU and RSS readings from /proc.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { freePort } from "../tests/helpers/netns.ts";
import { taskFlags } from "../tests/helpers/labmand_process.ts";
import { makeTestDir } from "../tests/helpers/test_dirs.ts";

export { freePort };

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const CLK_TCK = 100; // Linux USER_HZ on every mainstream architecture.

/** CPU seconds (user + system, all threads) and RSS of one process, or null if it is gone. */
export function procStat(pid: number): { cpuS: number; rssKb: number } | null {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // Fields after "(comm)": state=0 … utime=11, stime=12 (man proc: 14 and 15, 1-based).
    const cpuS = (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const m = /VmRSS:\s+(\d+) kB/.exec(status);
    return { cpuS, rssKb: m ? Number(m[1]) : NaN };
  } catch {
    return null;
  }
}

/** Sum of {@linkcode procStat} over several processes (nginx master + workers). */
export function groupStat(pids: readonly number[]): { cpuS: number; rssKb: number } {
  let cpuS = 0;
  let rssKb = 0;
  for (const pid of pids) {
    const s = procStat(pid);
    if (s) {
      cpuS += s.cpuS;
      rssKb += s.rssKb;
    }
  }
  return { cpuS, rssKb };
}

/** Children of `ppid`, from /proc. */
export function childPids(ppid: number): number[] {
  const out: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${e.name}/stat`);
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[1]) === ppid) out.push(Number(e.name));
    } catch { /* exited meanwhile */ }
  }
  return out;
}

/** Samples the peak RSS of a process group every `everyMs` until stopped. */
export class RssSampler {
  #timer: ReturnType<typeof setInterval>;
  peakKb = 0;
  samples = 0;
  constructor(readonly pids: () => readonly number[], everyMs = 100) {
    this.#sample();
    this.#timer = setInterval(() => this.#sample(), everyMs);
  }
  #sample(): void {
    const { rssKb } = groupStat(this.pids());
    this.samples++;
    if (rssKb > this.peakKb) this.peakKb = rssKb;
  }
  stop(): number {
    clearInterval(this.#timer);
    this.#sample();
    return this.peakKb;
  }
}

/** A process under test: how to find its pids and stop it. */
export interface Proc {
  name: string;
  port: number;
  /** All pids whose CPU and RSS belong to it (nginx: master + workers). */
  pids(): number[];
  stop(): Promise<void>;
}

async function waitForPort(port: number, timeoutMs: number, what: string): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (performance.now() < end) {
    try {
      const c = await Deno.connect({ hostname: "127.0.0.1", port });
      c.close();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(
    `Cannot start ${what}: port ${port} did not accept connections in ${timeoutMs} ms`,
  );
}

async function stopChild(child: Deno.ChildProcess, timeoutMs = 5_000): Promise<void> {
  try {
    child.kill("SIGTERM");
  } catch { /* gone */ }
  let timer: ReturnType<typeof setTimeout> | undefined;
  const killed = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      resolve();
    }, timeoutMs);
  });
  await Promise.race([child.status.then(() => {}), killed]);
  clearTimeout(timer);
  await child.status;
}

/** The mock upstream: a separate Deno process running lib/mockllm/cli.ts. */
export interface MockProc extends Proc {
  url: string;
  setMode(patch: Record<string, unknown>): Promise<void>;
}

export async function startMock(args: string[]): Promise<MockProc> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}lib/mockllm/cli.ts`, "--port", "0", ...args],
    stdout: "piped",
    stderr: "inherit",
    stdin: "null",
    env: { NO_COLOR: "1" },
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const end = performance.now() + 15_000;
  let url: string | null = null;
  while (url === null && performance.now() < end) {
    const { value, done } = await lines.read();
    if (done) break;
    text += value;
    url = /listening on (http:\/\/\S+\/v1)/.exec(text)?.[1] ?? null;
  }
  // Keep draining stdout so a later print can never block the mock.
  (async () => {
    try {
      while (!(await lines.read()).done) { /* drain */ }
    } catch { /* closed */ }
  })();
  if (url === null) {
    await stopChild(child);
    throw new Error(`Cannot start the mock LLM: it printed no URL (got "${text.trim()}")`);
  }
  const port = Number(new URL(url).port);
  const base = url.slice(0, -"/v1".length);
  return {
    name: "mock",
    port,
    url,
    pids: () => [child.pid],
    async setMode(patch) {
      const res = await fetch(`${base}/_mock/mode`, {
        method: "POST",
        body: JSON.stringify(patch),
      });
      const body = await res.text();
      if (!res.ok) throw new Error(`Cannot set mock mode: HTTP ${res.status} ${body}`);
    },
    stop: () => stopChild(child),
  };
}

/** nginx as a plain keep-alive reverse proxy in front of the mock. */
export async function startNginx(
  nginxBin: string,
  upstreamPort: number,
  workers: number,
): Promise<Proc> {
  const dir = await Deno.makeTempDir({ prefix: "labman-bench-nginx-" });
  const port = freePort();
  const conf = `
${Deno.uid() === 0 ? "user root;" : ""}
worker_processes ${workers};
worker_rlimit_nofile 65536;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 16384; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 120s;
  upstream mock {
    server 127.0.0.1:${upstreamPort};
    keepalive 512;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://mock;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_request_buffering off;
      proxy_read_timeout 300s;
    }
  }
}
`;
  await Deno.writeTextFile(`${dir}/nginx.conf`, conf);
  const child = new Deno.Command(nginxBin, {
    args: ["-c", `${dir}/nginx.conf`, "-p", dir, "-g", "daemon off;"],
    stdout: "null",
    stderr: "inherit",
    stdin: "null",
  }).spawn();
  try {
    await waitForPort(port, 10_000, "nginx");
  } catch (err) {
    await stopChild(child);
    throw err;
  }
  return {
    name: "nginx",
    port,
    pids: () => [child.pid, ...childPids(child.pid)],
    async stop() {
      await stopChild(child);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

/** labmand in local mode with one endpoint: the mock. */
export interface LabmandProc extends Proc {
  /** Model id to ask labmand for (from its /v1/models). */
  model: string;
}

export async function startLabmandBench(
  mockUrl: string,
  wantModel: string,
  /** Extra `deno run` flags (e.g. `--inspect=…` for heap snapshots). */
  denoArgs: string[] = [],
): Promise<LabmandProc> {
  const dir = await makeTestDir({ prefix: "labman-bench-labmand-" });
  const port = freePort();
  const config = `
[wireguard]
mode = "off"

[proxy]
listen_port = ${port}
max_upstream_connections = 4096
queue_max = 4096
# The bench holds 1,000 streams at once; the default cap (512) would refuse half of them.
max_connections = 4096
shutdown_grace_ms = 1000

[admin]
enabled = false

[portman]
enabled = false

[logging]
level = "warning"
format = "json"

[health]
interval_s = 60

[[endpoints]]
name = "mock"
base_url = "${mockUrl}"
`;
  const configPath = `${dir}/labman.toml`;
  await Deno.writeTextFile(configPath, config);
  const lab = await spawnLabmand(configPath, denoArgs);
  const fail = async (why: string): Promise<never> => {
    await stopChild(lab.child);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw new Error(`${why}${describeLog(lab.tail())}`);
  };
  let exited = false;
  lab.child.status.then(() => exited = true);
  // Readiness = the proxy lists a model, so health checks and discovery have run.
  const end = performance.now() + 20_000;
  let model: string | null = null;
  while (model === null && performance.now() < end && !exited) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/v1/models`, {
        signal: AbortSignal.timeout(2_000),
      });
      const body = await res.text();
      if (res.ok) {
        const ids: string[] = (JSON.parse(body).data ?? []).map((m: { id: string }) => m.id);
        model = ids.find((id) => id === wantModel) ?? ids.find((id) => id.endsWith(wantModel)) ??
          null;
      }
    } catch { /* not up yet */ }
    if (model === null) await new Promise((r) => setTimeout(r, 200));
  }
  if (exited) return await fail("labmand exited during start-up");
  if (model === null) return await fail(`labmand did not list model ${wantModel} within 20 s`);
  // One real request, so a proxy that lists models but cannot forward is caught here. The
  // model list can come up a moment before the lifecycle reaches "serving" (503 "node is
  // starting"): that answer is retried for a few seconds, nothing else is.
  try {
    let res: Response;
    let body: string;
    const until = performance.now() + 5_000;
    for (;;) {
      res = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model, messages: [{ role: "user", content: "ping" }] }),
        signal: AbortSignal.timeout(5_000),
      });
      body = await res.text();
      if (res.status !== 503 || !body.includes("starting") || performance.now() > until) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    if (res.status !== 200) {
      return await fail(
        `labmand answered a chat completion with HTTP ${res.status}: ${body.slice(0, 200)}`,
      );
    }
  } catch (err) {
    return await fail(`labmand could not forward a chat completion: ${(err as Error).message}`);
  }
  return {
    name: "labmand",
    port,
    model,
    pids: () => [lab.child.pid],
    async stop() {
      await stopChild(lab.child, 10_000);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

/**
 * Starts labmand with exactly the permission flags of the `labmand` task in deno.json plus the
 * tests' directory its config lies in (tests/helpers/labmand_process.ts `taskFlags`), keeping
 * the last log lines for error messages.
 */
async function spawnLabmand(
  configPath: string,
  denoArgs: string[] = [],
): Promise<{ child: Deno.ChildProcess; tail: () => string[] }> {
  const flags = await taskFlags("labmand");
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, ...denoArgs, `${ROOT}labmand/main.ts`, "--config", configPath],
    stdout: "null",
    stderr: "piped",
    stdin: "null",
    env: { NO_COLOR: "1" },
  }).spawn();
  const lines: string[] = [];
  (async () => {
    let buf = "";
    try {
      for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
        buf += chunk;
        let i;
        while ((i = buf.indexOf("\n")) >= 0) {
          lines.push(buf.slice(0, i));
          buf = buf.slice(i + 1);
          if (lines.length > 50) lines.shift();
        }
      }
    } catch { /* closed */ }
  })();
  return { child, tail: () => [...lines] };
}

/** The most telling log line (last fatal/error JSON line, else the last line), for errors. */
function describeLog(lines: string[]): string {
  let pick: string | null = null;
  for (const line of lines) {
    try {
      const j = JSON.parse(line);
      if (j.level === "FATAL" || j.level === "ERROR") pick = String(j.message);
    } catch { /* not JSON */ }
  }
  pick ??= lines.filter((l) => l.trim() !== "").at(-1) ?? null;
  if (pick === null) return "";
  // deno-lint-ignore no-control-regex -- strip ANSI colour codes from Deno's error output
  const plain = pick.replace(/\u001b\[[0-9;]*m/g, "");
  return ` — labmand said: ${plain.replace(/\s+/g, " ").slice(0, 300)}`;
}

/** Runs bench/_loadgen.ts in its own process and returns its parsed JSON result. */
export async function runLoadgen<T>(job: unknown, timeoutMs: number): Promise<T> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}bench/_loadgen.ts`, JSON.stringify(job)],
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  }, timeoutMs);
  const out = await child.output();
  clearTimeout(timer);
  const stdout = new TextDecoder().decode(out.stdout).trim();
  if (!out.success) {
    const stderr = new TextDecoder().decode(out.stderr).trim();
    throw new Error(`load generator failed (exit ${out.code}): ${stderr.slice(-500)}`);
  }
  return JSON.parse(stdout.split("\n").pop()!) as T;
}

/** Finds an executable: PATH first, then the given fallbacks. */
export async function which(name: string, fallbacks: string[] = []): Promise<string | null> {
  const dirs = (Deno.env.get("PATH") ?? "").split(":").filter((d) => d !== "");
  for (const p of [...dirs.map((d) => `${d}/${name}`), ...fallbacks]) {
    try {
      const st = await Deno.stat(p);
      if (st.isFile && ((st.mode ?? 0) & 0o111) !== 0) return p;
    } catch { /* not there */ }
  }
  return null;
}

/** `git rev-parse --short HEAD`, or "uncommitted". */
export async function gitCommit(): Promise<string> {
  try {
    const out = await new Deno.Command("git", {
      args: ["rev-parse", "--short", "HEAD"],
      cwd: ROOT,
      stdout: "piped",
      stderr: "null",
    }).output();
    const sha = new TextDecoder().decode(out.stdout).trim();
    if (!out.success || sha === "") return "uncommitted";
    const dirty = await new Deno.Command("git", {
      args: ["status", "--porcelain", "--", "lib", "labmand", "bench"],
      cwd: ROOT,
      stdout: "piped",
      stderr: "null",
    }).output();
    return new TextDecoder().decode(dirty.stdout).trim() === ""
      ? sha
      : `${sha} (+ uncommitted changes)`;
  } catch {
    return "uncommitted";
  }
}

/** Where LiteLLM's CLI is looked for: `BENCH_LITELLM`, PATH, then the CI cache's venv. */
export async function findLitellm(): Promise<string | null> {
  const env = Deno.env.get("BENCH_LITELLM");
  if (env) return env;
  return await which("litellm", ["/var/cache/labman-ci/litellm/bin/litellm"]);
}

/**
 * LiteLLM's proxy (PyPI `litellm[proxy]`) as a peer row: one uvicorn worker, no database, no
 * master key (loopback only), telemetry and every network look-up off, one model routed to the
 * mock as an OpenAI-compatible upstream.
 */
export async function startLitellm(bin: string, mockUrl: string, model: string): Promise<Proc> {
  const dir = await Deno.makeTempDir({ prefix: "labman-bench-litellm-" });
  const trimmed = mockUrl.replace(/\/+$/, "");
  const apiBase = trimmed.endsWith("/v1") ? trimmed : `${trimmed}/v1`;
  const port = freePort();
  await Deno.writeTextFile(
    `${dir}/config.yaml`,
    `model_list:
  - model_name: ${model}
    litellm_params:
      model: openai/${model}
      api_base: ${apiBase}
      api_key: none
litellm_settings:
  telemetry: false
  drop_params: true
general_settings:
  dangerously_permit_weak_or_unset_master_key: true
`,
  );
  const child = new Deno.Command(bin, {
    args: [
      "--config",
      `${dir}/config.yaml`,
      "--host",
      "127.0.0.1",
      "--port",
      String(port),
      "--num_workers",
      "1",
    ],
    cwd: dir,
    stdout: "null",
    stderr: Deno.env.get("BENCH_LITELLM_DEBUG") ? "inherit" : "null",
    stdin: "null",
    env: {
      LITELLM_TELEMETRY: "False",
      LITELLM_LOG: "ERROR",
      // No model cost map or tokenizer downloads: the bench box has no internet.
      LITELLM_LOCAL_MODEL_COST_MAP: "True",
      HF_HUB_OFFLINE: "1",
      TRANSFORMERS_OFFLINE: "1",
      NO_COLOR: "1",
    },
  }).spawn();
  const pids = () => {
    const all = [child.pid];
    for (let i = 0; i < all.length && i < 64; i++) all.push(...childPids(all[i]));
    return all;
  };
  const stop = async () => {
    for (const pid of pids().slice(1)) {
      try {
        Deno.kill(pid, "SIGTERM");
      } catch { /* gone */ }
    }
    await stopChild(child);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  let exited = false;
  child.status.then(() => exited = true);
  // Ready = a chat completion through it succeeds (its start-up takes several seconds).
  const end = performance.now() + 90_000;
  while (performance.now() < end && !exited) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model, messages: [{ role: "user", content: "ready?" }] }),
        signal: AbortSignal.timeout(5_000),
      });
      await res.body?.cancel();
      if (res.ok) return { name: "litellm", port, pids, stop };
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 500));
  }
  await stop();
  throw new Error(
    `Cannot start LiteLLM (${bin}): ${exited ? "it exited" : "no answer in 90 s"} — run it by ` +
      `hand with the config above to see why`,
  );
}

/** bench/_floor_server.ts: a bare `Deno.serve` SSE server, the per-stream memory floor. */
export function startFloorServer(tokenDelayMs: number): Promise<Proc> {
  return startPortPrinter(
    "floor",
    "the Deno.serve floor server",
    ["--allow-net", `${ROOT}bench/_floor_server.ts`, "--token-delay-ms", String(tokenDelayMs)],
  );
}

/** bench/_passthrough_floor.ts: a per-request floor (`serve-fetch`, `serve-pool` or `raw`). */
export function startPassthroughFloor(mode: string, upstreamUrl: string): Promise<Proc> {
  return startPortPrinter(
    `floor ${mode}`,
    `the ${mode} passthrough floor`,
    [
      "--allow-net",
      "--unstable-net",
      `${ROOT}bench/_passthrough_floor.ts`,
      "--mode",
      mode,
      "--upstream",
      upstreamUrl,
    ],
  );
}

/** bench/_idle_floor.ts: one Worker + one `Deno.serve`, the idle-RSS floor. */
export function startIdleFloor(denoArgs: string[] = []): Promise<Proc> {
  return startPortPrinter(
    "idle floor",
    "the idle floor (one Worker, one Deno.serve)",
    ["--allow-net", "--allow-read", ...denoArgs, `${ROOT}bench/_idle_floor.ts`],
  );
}

/** `deno run <args>` of a script that prints `listening on <port>` once bound. */
async function startPortPrinter(name: string, what: string, args: string[]): Promise<Proc> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...args],
    stdout: "piped",
    stderr: "inherit",
    stdin: "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const end = performance.now() + 15_000;
  let port = 0;
  while (port === 0 && performance.now() < end) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
    port = Number(/listening on (\d+)/.exec(text)?.[1] ?? 0);
  }
  (async () => {
    try {
      while (!(await reader.read()).done) { /* drain */ }
    } catch { /* closed */ }
  })();
  if (port === 0) {
    await stopChild(child);
    throw new Error(`Cannot start ${what}: it printed "${text.trim()}"`);
  }
  return { name, port, pids: () => [child.pid], stop: () => stopChild(child) };
}
