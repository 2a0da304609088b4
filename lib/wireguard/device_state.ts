/**
 * Folds a device delta into the full desired state, so a restarted wireguard-go (or a recreated
 * link) can be given everything it had with one `replace_peers` set.
 *
 * @module
 */
import type { WgDevice, WgPeer } from "./types.ts";

/** Returns the full state after `delta`; `base` is the previous full state (if any). */
export function applyDelta(base: WgDevice | undefined, delta: WgDevice): WgDevice {
  const out: WgDevice = {
    name: delta.name,
    replacePeers: true,
    peers: [],
  };
  const privateKey = delta.privateKey ?? base?.privateKey;
  const listenPort = delta.listenPort ?? base?.listenPort;
  const fwmark = delta.fwmark ?? base?.fwmark;
  if (privateKey !== undefined) out.privateKey = privateKey;
  if (listenPort !== undefined) out.listenPort = listenPort;
  if (fwmark !== undefined) out.fwmark = fwmark;
  const peers = new Map<string, WgPeer>();
  if (!delta.replacePeers) { for (const p of base?.peers ?? []) peers.set(p.publicKey, { ...p }); }
  for (const d of delta.peers) {
    const cur = peers.get(d.publicKey);
    if (d.remove) {
      peers.delete(d.publicKey);
      continue;
    }
    if (!cur && d.updateOnly) continue;
    const next: WgPeer = { publicKey: d.publicKey, replaceAllowedIps: true, allowedIps: [] };
    const presharedKey = d.presharedKey ?? cur?.presharedKey;
    const endpoint = d.endpoint ?? cur?.endpoint;
    const keepalive = d.persistentKeepaliveS ?? cur?.persistentKeepaliveS;
    if (presharedKey !== undefined) next.presharedKey = presharedKey;
    if (endpoint !== undefined) next.endpoint = endpoint;
    if (keepalive !== undefined) next.persistentKeepaliveS = keepalive;
    const ips = d.replaceAllowedIps ? [] : [...(cur?.allowedIps ?? [])];
    for (const ip of d.allowedIps ?? []) if (!ips.includes(ip)) ips.push(ip);
    next.allowedIps = ips;
    peers.set(d.publicKey, next);
  }
  out.peers = [...peers.values()];
  return out;
}
