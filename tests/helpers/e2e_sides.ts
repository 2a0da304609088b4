/**
 * The two far sides of the standard end-to-end topology (design §6), shared by the tunnel tests:
 * the control-plane side (tests/fixtures/cp_side.ts in netns "cp", driven by JSON commands) and
 * the mock model server on the node's LAN (netns "lan").
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { lineReader, type Topology } from "./netns.ts";

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
