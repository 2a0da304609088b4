/**
 * Bringing the labman interface up and down under invariant 1: the address is a single /32 or
 * /128, the only routes are the control-plane peer's allowed IPs, and nothing here touches IP
 * forwarding, NAT or firewall rules. Also the status view and Prometheus metrics.
 *
 * @module
 */
import { Counter, Gauge, type Registry } from "prom-client";
import { formatCidr, parseCidr } from "./cidr.ts";
import { networkOf } from "./rtnl.ts";
import type { Base64Key, InterfaceSpec, WgDevice, WireGuardBackend } from "./types.ts";

/** Canonical `network/len` form used to compare routes with allowed IPs. */
function canonical(cidr: string, what: string): string {
  return formatCidr(networkOf(parseCidr(cidr, what)));
}

/** The union of every peer's allowed IPs: the only routes labman may add. */
export function peerRoutes(device: WgDevice): string[] {
  const out: string[] = [];
  for (const p of device.peers) {
    for (const ip of p.allowedIps ?? []) {
      const c = canonical(ip, "allowed IP");
      if (!out.includes(c)) out.push(c);
    }
  }
  return out;
}

/**
 * Throws unless `spec` keeps invariant 1 for `device`: one host address, and routes that are
 * exactly allowed IPs of the configured peers (never a default route).
 */
export function validateInterfaceSpec(spec: InterfaceSpec, device: WgDevice): void {
  const addr = parseCidr(spec.address, "wireguard.address");
  const host = addr.family === 4 ? 32 : 128;
  if (!spec.address.includes("/") || addr.prefixLen !== host) {
    throw new RangeError(
      `Cannot use wireguard.address "${spec.address}": it must be a single /32 (IPv4) or /128 (IPv6) address — labman never takes a subnet (invariant 1)`,
    );
  }
  const allowed = new Set(peerRoutes(device));
  for (const r of spec.routes) {
    const c = canonical(r, "route");
    if (c.endsWith("/0")) {
      throw new RangeError(
        `Cannot add route "${r}": labman never adds a default route through the tunnel — remove 0.0.0.0/0 or ::/0 from the control-plane peer's allowed IPs`,
      );
    }
    if (!allowed.has(c)) {
      throw new RangeError(
        `Cannot add route "${r}": not an allowed IP of the control-plane peer (${
          [...allowed].join(", ") || "none"
        }) — labman only routes the peer's allowed IPs`,
      );
    }
  }
}

export interface BringUpOptions {
  backend: WireGuardBackend;
  spec: InterfaceSpec;
  /** Keys, port and peers; applied as a full replacement. */
  device: WgDevice;
}

/**
 * Validates, (re)creates the link (a stale one of the same name is removed by the backend),
 * then applies the full device config. On failure the link is removed again.
 */
export async function bringUp({ backend, spec, device }: BringUpOptions): Promise<void> {
  validateInterfaceSpec(spec, device);
  await backend.create(spec);
  try {
    await backend.set({ ...device, name: spec.name, replacePeers: true });
  } catch (e) {
    await backend.destroy(spec.name).catch(() => {});
    throw e;
  }
}

export async function tearDown({ backend, name }: { backend: WireGuardBackend; name: string }) {
  await backend.destroy(name);
}

export interface PeerStatus {
  publicKey: Base64Key;
  endpoint?: string;
  /** Seconds since the last handshake; null if there has never been one. */
  lastHandshakeAgeS: number | null;
  rxBytes: number;
  txBytes: number;
  allowedIps: string[];
}

export interface InterfaceStatus {
  name: string;
  backend: WireGuardBackend["kind"];
  publicKey?: Base64Key;
  listenPort?: number;
  peers: PeerStatus[];
}

/** Reads the device and turns it into ages and counters (never exposes private or preshared keys). */
export async function status(
  backend: WireGuardBackend,
  name: string,
  now: number = Date.now(),
): Promise<InterfaceStatus> {
  const d = await backend.get(name);
  const out: InterfaceStatus = { name, backend: backend.kind, peers: [] };
  if (d.publicKey !== undefined) out.publicKey = d.publicKey;
  if (d.listenPort !== undefined) out.listenPort = d.listenPort;
  for (const p of d.peers) {
    const ps: PeerStatus = {
      publicKey: p.publicKey,
      lastHandshakeAgeS: p.lastHandshakeMs ? Math.max(0, (now - p.lastHandshakeMs) / 1000) : null,
      rxBytes: p.rxBytes ?? 0,
      txBytes: p.txBytes ?? 0,
      allowedIps: p.allowedIps ?? [],
    };
    if (p.endpoint !== undefined) ps.endpoint = p.endpoint;
    out.peers.push(ps);
  }
  return out;
}

/**
 * WireGuard gauges and counters on `registry`. Call `update(status)` on each scrape or poll;
 * byte counters follow the device's totals and restart from zero when the device is recreated.
 */
export function wireguardMetrics(registry: Registry) {
  const registers = [registry];
  const handshakeAge = new Gauge({
    name: "labman_wireguard_last_handshake_age_seconds",
    help: "Seconds since the last WireGuard handshake with the peer (absent if none yet).",
    labelNames: ["peer"] as const,
    registers,
  });
  const rx = new Counter({
    name: "labman_wireguard_received_bytes_total",
    help: "Bytes received from the peer through the tunnel.",
    labelNames: ["peer"] as const,
    registers,
  });
  const tx = new Counter({
    name: "labman_wireguard_sent_bytes_total",
    help: "Bytes sent to the peer through the tunnel.",
    labelNames: ["peer"] as const,
    registers,
  });
  const info = new Gauge({
    name: "labman_wireguard_backend_info",
    help: "The WireGuard backend in use (value is always 1).",
    labelNames: ["backend"] as const,
    registers,
  });
  const last = new Map<string, { rx: number; tx: number }>();

  const follow = (c: Counter<"peer">, peer: string, prev: number | undefined, now: number) => {
    if (prev === undefined || now < prev) {
      c.remove({ peer });
      c.inc({ peer }, now);
    } else if (now > prev) c.inc({ peer }, now - prev);
  };

  return {
    update(s: InterfaceStatus): void {
      info.reset();
      info.set({ backend: s.backend }, 1);
      const seen = new Set<string>();
      for (const p of s.peers) {
        seen.add(p.publicKey);
        const prev = last.get(p.publicKey);
        follow(rx, p.publicKey, prev?.rx, p.rxBytes);
        follow(tx, p.publicKey, prev?.tx, p.txBytes);
        last.set(p.publicKey, { rx: p.rxBytes, tx: p.txBytes });
        if (p.lastHandshakeAgeS === null) handshakeAge.remove({ peer: p.publicKey });
        else handshakeAge.set({ peer: p.publicKey }, p.lastHandshakeAgeS);
      }
      for (const peer of [...last.keys()]) {
        if (seen.has(peer)) continue;
        last.delete(peer);
        for (const m of [rx, tx, handshakeAge]) m.remove({ peer });
      }
    },
  };
}
