/**
 * The standard end-to-end set-up (design §6), shared by the tunnel tests: the topology, the
 * control-plane side (tests/fixtures/cp_side.ts in netns "cp", driven by JSON commands), the
 * mock model server on the node's LAN (netns "lan"), and the node's keys, token and
 * labman.toml made as an operator makes them (`setUpE2e`).
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { keygen } from "../../labman/commands/keygen.ts";
import { createTopology, lineReader, randomSuffix, type Topology } from "./netns.ts";
import { makeTestDir } from "./test_dirs.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

export interface CpSide {
  call<T = unknown>(cmd: Record<string, unknown>, timeoutMs?: number): Promise<T>;
  close(): Promise<void>;
}

export async function startCpSide(
  topo: Topology,
  id: string,
  state: string,
  options: { rosenpass?: boolean; token?: string; extraArgs?: string[] } = {},
): Promise<CpSide> {
  const child = new Deno.Command("ip", {
    args: [
      "netns",
      "exec",
      topo.cp,
      Deno.execPath(),
      "run",
      "-A",
      `${ROOT}tests/fixtures/cp_side.ts`,
      "--iface",
      `lmc${id}`,
      "--ip",
      topo.cpIp,
      "--token",
      options.token ?? "e2e-token",
      "--state",
      state,
      ...(options.rosenpass ?? true ? ["--rosenpass"] : []),
      ...(options.extraArgs ?? []),
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = lineReader(child.stdout);
  const writer = child.stdin.getWriter();
  const first = JSON.parse(await lines.next(60_000));
  assert.equal(first.ready, true);
  let queue = Promise.resolve() as Promise<unknown>;
  return {
    call<T>(cmd: Record<string, unknown>, timeoutMs = 20_000): Promise<T> {
      const p = queue.then(async () => {
        await writer.write(new TextEncoder().encode(JSON.stringify(cmd) + "\n"));
        const reply = JSON.parse(await lines.next(timeoutMs));
        if (!reply.ok) throw new Error(`cp side: ${reply.error}`);
        return reply.value as T;
      });
      queue = p.catch(() => {});
      return p;
    },
    async close() {
      try {
        await writer.write(new TextEncoder().encode(JSON.stringify({ cmd: "quit" }) + "\n"));
        await writer.close();
      } catch { /* already gone */ }
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* exited */ }
      }, 10_000);
      await child.status;
      clearTimeout(timer);
      await lines.done.catch(() => {});
    },
  };
}

export async function startLanMock(topo: Topology) {
  const child = new Deno.Command("ip", {
    args: [
      "netns",
      "exec",
      topo.lan,
      Deno.execPath(),
      "run",
      "-A",
      `${ROOT}lib/mockllm/cli.ts`,
      "--hostname",
      topo.lanHostIp,
      "--port",
      "8000",
      "--models",
      "llama-3.1-8b",
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = lineReader(child.stdout);
  assert.match(await lines.next(30_000), /listening on http:\/\/198\.51\.100\.2:8000\/v1/);
  return {
    async close() {
      try {
        child.kill("SIGTERM");
      } catch { /* exited */ }
      await child.status;
      await lines.done.catch(() => {});
    },
  };
}

export interface NodeConfigOptions {
  /** Lines added to `[proxy]` after `listen_port = 8080`. */
  proxy?: string[];
  /** Whole tables (e.g. `[portman]`) added before `[[endpoints]]`, given the run's temp dir. */
  sections?: (tmp: string) => string;
  /** `[health]` every 1 s with a 500 ms timeout, so endpoint changes show fast. @default true */
  fastHealth?: boolean;
}

export interface E2eOptions {
  /** Prefix of the temporary directory. */
  prefix: string;
  /** Start the control-plane side during set-up; otherwise call `startCp()`. @default true */
  startCp?: boolean;
  /** Extra cp_side.ts flags, e.g. `--relay-over-tunnel`. */
  cpArgs?: string[];
  config?: NodeConfigOptions;
}

/** One e2e run's world; disposing it stops the sides and removes the namespaces and files. */
export interface E2eWorld extends AsyncDisposable {
  id: string;
  topo: Topology;
  tmp: string;
  /** The node's WireGuard interface name. */
  nodeIf: string;
  configPath: string;
  /** `rosenpass.state_dir` in the node's config. */
  rpState: string;
  /** The control-plane side once started. */
  readonly cp: CpSide | undefined;
  startCp(): Promise<CpSide>;
}

/** The node's `labman.toml` for the standard topology, with keys under `tmp/node`. */
export function nodeConfig(
  topo: Topology,
  tmp: string,
  nodeIf: string,
  options: NodeConfigOptions = {},
): string {
  const health = options.fastHealth ?? true ? "\n[health]\ninterval_s = 1\ntimeout_ms = 500\n" : "";
  return `[control_plane]
base_url = "http://${topo.cpIp}:8443"
node_token_file = "${tmp}/node/token"
retry_initial_ms = 200
retry_max_ms = 1000

[wireguard]
mode = "userspace"
interface_name = "${nodeIf}"
private_key_path = "${tmp}/node/wireguard/private.key"
public_key_path = "${tmp}/node/wireguard/public.key"

[rosenpass]
secret_key_path = "${tmp}/node/rosenpass/pqsk"
public_key_path = "${tmp}/node/rosenpass/pqpk"
listen = "${topo.nodeIp}:9999"
state_dir = "${tmp}/node/rp-run"

[proxy]
listen_port = 8080
${(options.proxy ?? []).map((l) => `${l}\n`).join("")}
[logging]
format = "json"
${health}${options.sections ? `\n${options.sections(tmp).trim()}\n` : ""}
[[endpoints]]
name = "lan-gpu"
base_url = "http://${topo.lanHostIp}:8000/v1"
`;
}

/**
 * Creates the topology, starts the LAN mock (and the control-plane side unless
 * `startCp: false`), and writes the node's keys (`labman keygen`), token and config. A failure
 * half-way cleans up what was started.
 */
export async function setUpE2e(options: E2eOptions): Promise<E2eWorld> {
  const id = randomSuffix();
  const topo = await createTopology();
  const tmp = await makeTestDir({ prefix: options.prefix });
  const nodeIf = `lmn${id}`;
  let cp: CpSide | undefined;
  let mock: Awaited<ReturnType<typeof startLanMock>> | undefined;
  const dispose = async () => {
    await cp?.close().catch(() => {});
    await mock?.close().catch(() => {});
    await topo.cleanup();
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  };
  const startCp = async () => {
    cp ??= await startCpSide(topo, id, `${tmp}/cp`, { extraArgs: options.cpArgs ?? [] });
    return cp;
  };
  try {
    mock = await startLanMock(topo);
    if (options.startCp ?? true) await startCp();
    const quiet = { out: () => {}, err: () => {} };
    assert.equal(await keygen(["--dir", `${tmp}/node`], quiet), 0);
    await Deno.writeTextFile(`${tmp}/node/token`, "e2e-token\n", { mode: 0o600 });
    const configPath = `${tmp}/labman.toml`;
    await Deno.writeTextFile(configPath, nodeConfig(topo, tmp, nodeIf, options.config));
    return {
      id,
      topo,
      tmp,
      nodeIf,
      configPath,
      rpState: `${tmp}/node/rp-run`,
      get cp() {
        return cp;
      },
      startCp,
      [Symbol.asyncDispose]: dispose,
    };
  } catch (e) {
    await dispose();
    throw e;
  }
}
