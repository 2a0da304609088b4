/**
 * CIDR prefixes and address classes (private, loopback, multicast) over the one IP parser, for
 * config validation, the relay's URL checks and the WireGuard codecs. Pure, no DNS: addresses
 * must be literals so that the bind address and the Deno permission list compare as text.
 *
 * @module
 */
import { inPrefix, type Ip, parseIp } from "./ip.ts";
import { unbracketHost } from "./host.ts";

/** A parsed prefix. `bare` is true when the text had no `/len` part. */
export interface Cidr {
  ip: Ip;
  prefix: number;
  bare: boolean;
}

/** Parses an IP literal written as a host: IPv6 may be in brackets (`[::1]`). */
export function parseHostIp(text: string): Ip | undefined {
  return parseIp(unbracketHost(text));
}

/** Parses `ip/len` or a bare `ip` (prefix = full length). */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf("/");
  if (slash < 0) {
    const ip = parseHostIp(text);
    return ip ? { ip, prefix: ip.family === 4 ? 32 : 128, bare: true } : undefined;
  }
  const ip = parseHostIp(text.slice(0, slash));
  const lenText = text.slice(slash + 1);
  if (!ip || !/^(0|[1-9][0-9]{0,2})$/.test(lenText)) return undefined;
  const prefix = Number(lenText);
  if (prefix > (ip.family === 4 ? 32 : 128)) return undefined;
  return { ip, prefix, bare: false };
}

export function hostPrefix(ip: Ip): number {
  return ip.family === 4 ? 32 : 128;
}

export function sameIp(a: Ip, b: Ip): boolean {
  return a.family === b.family && a.bytes.every((v, i) => v === b.bytes[i]);
}

/** True when the two prefixes share at least one address. */
export function cidrOverlaps(a: Cidr, b: Cidr): boolean {
  if (a.ip.family !== b.ip.family) return false;
  return inPrefix(a.ip, b.ip, Math.min(a.prefix, b.prefix));
}

function cidr(text: string): Cidr {
  const c = parseCidr(text);
  if (!c) {
    throw new RangeError(
      `Cannot parse built-in prefix ${text}: it is not a valid CIDR — fix the constant in the code`,
    );
  }
  return c;
}

/** Private-use ranges: RFC 1918, RFC 4193 (ULA) and link-local. */
export const PRIVATE_RANGES: readonly { text: string; cidr: Cidr }[] = [
  "10.0.0.0/8",
  "172.16.0.0/12",
  "192.168.0.0/16",
  "169.254.0.0/16",
  "fc00::/7",
  "fe80::/10",
].map((text) => ({ text, cidr: cidr(text) }));

const MULTICAST = [cidr("224.0.0.0/4"), cidr("ff00::/8")];

export function isUnspecified(ip: Ip): boolean {
  return ip.bytes.every((b) => b === 0);
}

export function isMulticast(ip: Ip): boolean {
  return MULTICAST.some((m) => inPrefix(ip, m.ip, m.prefix));
}

/** The private range containing `ip`, if any. */
export function privateRangeOf(ip: Ip): string | undefined {
  return PRIVATE_RANGES.find((r) => inPrefix(ip, r.cidr.ip, r.cidr.prefix))?.text;
}

/** Splits `host:port` / `[v6]:port`. Returns undefined when the port is missing or invalid. */
export function splitHostPort(text: string): { host: string; port: number } | undefined {
  let host: string;
  let portText: string;
  if (text.startsWith("[")) {
    const end = text.indexOf("]");
    if (end < 0 || text[end + 1] !== ":") return undefined;
    host = text.slice(1, end);
    portText = text.slice(end + 2);
  } else {
    const colon = text.lastIndexOf(":");
    if (colon <= 0) return undefined;
    host = text.slice(0, colon);
    if (host.includes(":")) return undefined; // unbracketed IPv6
    portText = text.slice(colon + 1);
  }
  if (!/^[0-9]{1,5}$/.test(portText)) return undefined;
  const port = Number(portText);
  if (port < 1 || port > 65535 || host === "") return undefined;
  return { host, port };
}
