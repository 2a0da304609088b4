/**
 * IP address and CIDR parsing for config validation. Pure, no DNS: config addresses must be
 * literals so that the bind address and the Deno permission list compare as text.
 *
 * @module
 */

/** A parsed IP address: 4 bytes (IPv4) or 16 bytes (IPv6). */
export interface Ip {
  family: 4 | 6;
  bytes: Uint8Array;
}

/** A parsed prefix. `bare` is true when the text had no `/len` part. */
export interface Cidr {
  ip: Ip;
  prefix: number;
  bare: boolean;
}

function parseIpv4(text: string): Ip | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const bytes = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i];
    // Leading zeros are rejected: some parsers read them as octal.
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    bytes[i] = n;
  }
  return { family: 4, bytes };
}

function parseIpv6(text: string): Ip | undefined {
  if (text.includes("%")) return undefined; // zone ids are not bindable addresses in config
  let head = text;
  let tailV4: Ip | undefined;
  const lastColon = text.lastIndexOf(":");
  if (text.slice(lastColon + 1).includes(".")) {
    tailV4 = parseIpv4(text.slice(lastColon + 1));
    if (!tailV4) return undefined;
    head = text.slice(0, lastColon + 1) + "0:0";
  }
  const halves = head.split("::");
  if (halves.length > 2) return undefined;
  const toGroups = (s: string): number[] | undefined => {
    if (s === "") return [];
    const out: number[] = [];
    for (const g of s.split(":")) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const left = toGroups(halves[0]);
  const right = halves.length === 2 ? toGroups(halves[1]) : [];
  if (!left || !right) return undefined;
  let groups: number[];
  if (halves.length === 2) {
    const fill = 8 - left.length - right.length;
    if (fill < 1) return undefined;
    groups = [...left, ...new Array<number>(fill).fill(0), ...right];
  } else {
    groups = left;
  }
  if (groups.length !== 8) return undefined;
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => {
    bytes[i * 2] = g >> 8;
    bytes[i * 2 + 1] = g & 0xff;
  });
  if (tailV4) bytes.set(tailV4.bytes, 12);
  return { family: 6, bytes };
}

/** Parses an IPv4 or IPv6 literal (IPv6 may be written in brackets). */
export function parseIp(text: string): Ip | undefined {
  const t = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
  return t.includes(":") ? parseIpv6(t) : parseIpv4(t);
}

/** Canonical text: dotted quad, or RFC 5952 compressed IPv6. */
export function formatIp(ip: Ip): string {
  if (ip.family === 4) return Array.from(ip.bytes).join(".");
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((ip.bytes[i] << 8) | ip.bytes[i + 1]);
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  return hex.slice(0, bestStart).join(":") + "::" + hex.slice(bestStart + bestLen).join(":");
}

/** Parses `ip/len` or a bare `ip` (prefix = full length). */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf("/");
  if (slash < 0) {
    const ip = parseIp(text);
    return ip ? { ip, prefix: ip.family === 4 ? 32 : 128, bare: true } : undefined;
  }
  const ip = parseIp(text.slice(0, slash));
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

function inPrefix(ip: Ip, net: Ip, prefix: number): boolean {
  if (ip.family !== net.family) return false;
  for (let bit = 0; bit < prefix; bit++) {
    const byte = bit >> 3;
    const mask = 0x80 >> (bit & 7);
    if ((ip.bytes[byte] & mask) !== (net.bytes[byte] & mask)) return false;
  }
  return true;
}

/** True when the two prefixes share at least one address. */
export function cidrOverlaps(a: Cidr, b: Cidr): boolean {
  if (a.ip.family !== b.ip.family) return false;
  return inPrefix(a.ip, b.ip, Math.min(a.prefix, b.prefix));
}

function cidr(text: string): Cidr {
  const c = parseCidr(text);
  if (!c) throw new RangeError(`Cannot parse built-in prefix ${text}`);
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

const LOOPBACK_V4 = cidr("127.0.0.0/8");
const LOOPBACK_V6 = cidr("::1/128");
const MULTICAST = [cidr("224.0.0.0/4"), cidr("ff00::/8")];

export function isLoopback(ip: Ip): boolean {
  return inPrefix(ip, LOOPBACK_V4.ip, 8) || inPrefix(ip, LOOPBACK_V6.ip, 128);
}

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
