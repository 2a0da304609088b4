/**
 * Requests through a userspace WireGuard tunnel (wireguard-go on both ends) vs the same requests
 * over the bare veth between two network namespaces: what the tunnel itself adds, apart from
 * labmand. Needs root; loopback-free (namespaces only) and bounded in time.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { createTopology, run, sh, startWireguardGo } from "../tests/helpers/netns.ts";
import { type OhaRun, runOha } from "./_oha.ts";
import { delta, int, ms, ratio, table } from "./_report.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

export interface TunnelBench {
  veth: { c1: OhaRun; c50: OhaRun };
  tunnel: { c1: OhaRun; c50: OhaRun };
}

const BODY = JSON.stringify({ model: "m", messages: [{ role: "user", content: "hi" }] });

/** Runs the comparison, or returns the reason it cannot run here. */
export async function measureTunnel(ohaBin: string): Promise<TunnelBench | { skipped: string }> {
  if (Deno.uid() !== 0) return { skipped: "needs root (network namespaces, wireguard-go)" };
  for (const tool of ["wireguard-go", "wg", "ip"]) {
    if ((await run(["sh", "-c", `command -v ${tool}`])).code !== 0) {
      return { skipped: `${tool} not installed` };
    }
  }
  const topo = await createTopology();
  const id = topo.node.slice(-6);
  const nodeIf = `lbn${id}`, cpIf = `lbc${id}`;
  let mock: Deno.ChildProcess | undefined;
  const wgGo: Deno.ChildProcess[] = [];
  try {
    // The model server listens on every address of the node namespace: veth and tunnel.
    mock = new Deno.Command("ip", {
      args: [
        "netns",
        "exec",
        topo.node,
        Deno.execPath(),
        "run",
        "-A",
        `${ROOT}lib/mockllm/cli.ts`,
        "--hostname",
        "0.0.0.0",
        "--port",
        "8000",
        "--models",
        "m",
        "--fixed-body",
      ],
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const reader = mock.stdout.pipeThrough(new TextDecoderStream()).getReader();
    const first = await reader.read();
    reader.releaseLock();
    if (!String(first.value).includes("listening")) throw new Error("mock did not start");

    const keys = async () => {
      const priv = (await sh(["wg", "genkey"])).trim();
      const pub = (await run(["wg", "pubkey"], { stdin: priv })).stdout.trim();
      return { priv, pub };
    };
    const node = await keys(), cp = await keys();
    const up = async (
      ns: string,
      iface: string,
      addr: string,
      self: { priv: string },
      peer: string,
      allowed: string,
      endpoint?: string,
    ) => {
      wgGo.push(await startWireguardGo(ns, iface));
      const keyFile = await Deno.makeTempFile();
      await Deno.writeTextFile(keyFile, self.priv);
      await sh([
        "wg",
        "set",
        iface,
        "private-key",
        keyFile,
        "listen-port",
        "51820",
        "peer",
        peer,
        "allowed-ips",
        allowed,
        ...(endpoint ? ["endpoint", endpoint] : []),
      ], ns);
      await Deno.remove(keyFile);
      await sh(["ip", "addr", "add", addr, "dev", iface], ns);
      await sh(["ip", "link", "set", iface, "up"], ns);
      await sh(["ip", "route", "add", allowed, "dev", iface], ns);
    };
    await up(topo.node, nodeIf, "10.77.0.2/32", node, cp.pub, "10.77.0.1/32");
    await up(topo.cp, cpIf, "10.77.0.1/32", cp, node.pub, "10.77.0.2/32", `${topo.nodeIp}:51820`);

    const measure = async (host: string) => {
      const url = `http://${host}:8000/v1/chat/completions`;
      const prefix = ["ip", "netns", "exec", topo.cp];
      // Warm-up brings the handshake and keep-alive connections up.
      await runOha(ohaBin, { url, body: BODY, connections: 4, durationS: 1, prefix });
      const c1 = await runOha(ohaBin, { url, body: BODY, connections: 1, durationS: 4, prefix });
      const c50 = await runOha(ohaBin, { url, body: BODY, connections: 50, durationS: 4, prefix });
      return { c1, c50 };
    };
    const veth = await measure(topo.nodeIp);
    const tunnel = await measure("10.77.0.2");
    return { veth, tunnel };
  } finally {
    for (const p of [...wgGo, ...(mock ? [mock] : [])]) {
      try {
        p.kill("SIGKILL");
      } catch { /* gone */ }
      await p.status;
    }
    await mock?.stdout.cancel().catch(() => {});
    await topo.cleanup();
  }
}

/** The report section (markdown). */
export function tunnelSection(r: TunnelBench | { skipped: string }): string {
  const head =
    '## WireGuard (userspace) vs bare veth, between two network namespaces (oha in "cp", mock in "node")\n\n';
  if ("skipped" in r) return `${head}Not measured: ${r.skipped}.\n`;
  const rows = [
    ["bare veth", r.veth],
    ["wireguard-go tunnel", r.tunnel],
  ] as const;
  const lines = rows.map(([name, m]) => [
    name,
    ms(m.c1.p50),
    ms(m.c1.p99),
    name === "bare veth"
      ? "—"
      : `${delta(m.c1.p50 - r.veth.c1.p50)} / ${delta(m.c1.p99 - r.veth.c1.p99)}`,
    int(m.c1.okRps),
    int(m.c50.okRps),
    name === "bare veth" ? "—" : ratio(m.c50.okRps, r.veth.c50.okRps),
    String(m.c1.errors + m.c50.errors),
  ]);
  return head + table(
    [
      "path",
      "1 conn p50 ms",
      "1 conn p99 ms",
      "added p50 / p99 ms",
      "1 conn req/s",
      "50 conns req/s",
      "×veth",
      "errors",
    ],
    lines.map((l) => [...l]),
  ) + "\n";
}
