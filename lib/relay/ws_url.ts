/**
 * Which `websocket_url` from registration labmand will dial. The URL is control-plane input
 * (untrusted): dialling any host it names would let the control plane make the node open
 * connections into its LAN (invariant 4) carrying the node token (invariant 7). So the host must
 * be `control_plane.base_url`'s host, or an address inside the tunnel peer's allowed IPs.
 *
 * @module
 */
import { cidrOverlaps, parseCidr } from "../net/mod.ts";

/** Null when `url` may be dialled; otherwise why not, with the fix. */
export function checkWebsocketUrl(
  url: string,
  baseUrl: string,
  peerAllowedIps: readonly string[],
): string | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return `websocket_url ${JSON.stringify(url)} is not a URL`;
  }
  if (u.protocol !== "ws:" && u.protocol !== "wss:") {
    return `websocket_url must be ws:// or wss://, got ${u.protocol}`;
  }
  if (u.username || u.password) return "websocket_url must not carry credentials";
  const host = u.hostname.replace(/^\[|\]$/g, "").toLowerCase();
  let base: URL | undefined;
  try {
    base = new URL(baseUrl);
  } catch { /* validated config; cannot happen */ }
  if (base && base.hostname.replace(/^\[|\]$/g, "").toLowerCase() === host) return null;
  const ip = parseCidr(host);
  if (
    ip?.bare && peerAllowedIps.some((a) => {
      const net = parseCidr(a);
      return net !== undefined && cidrOverlaps(ip, net);
    })
  ) return null;
  return `websocket_url host ${host} is neither control_plane.base_url's host nor inside the ` +
    `tunnel peer's allowed IPs (${peerAllowedIps.join(", ") || "none"}); the control plane ` +
    `must serve the relay there`;
}
