/**
 * IP address and CIDR parsing to and from the raw bytes netlink and `sockaddr` carry.
 *
 * @module
 */
import { formatIp, ipSyntaxHint, parseCidr as parseNetCidr, parseIp } from "../net/mod.ts";

export interface Cidr {
  family: 4 | 6;
  /** 4 or 16 network-order bytes. */
  bytes: Uint8Array;
  prefixLen: number;
}

/** Parses `addr/len`; a bare address means a host prefix. Throws a SyntaxError naming `what`. */
export function parseCidr(text: string, what = "CIDR"): Cidr {
  const c = parseNetCidr(text);
  if (c) return { family: c.ip.family, bytes: c.ip.bytes, prefixLen: c.prefix };
  const [addr, len] = text.split("/");
  const ip = parseIp(addr);
  const why = !ip
    ? ipSyntaxHint(addr)
    : `prefix length ${JSON.stringify(len)} must be 0..${ip.family === 4 ? 32 : 128}`;
  throw new SyntaxError(
    `Cannot parse ${what} "${text}": ${why} — write an IPv4/IPv6 address[/prefix], e.g. 10.90.0.5/32`,
  );
}

export function formatCidr(c: Cidr): string {
  return `${formatIp(c.bytes)}/${c.prefixLen}`;
}

/** Parses `ip:port` or `[ip6]:port` (IP literals only: resolving names is the caller's job). */
export function parseEndpoint(text: string): { family: 4 | 6; bytes: Uint8Array; port: number } {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(text) ?? /^([^:]+):(\d{1,5})$/.exec(text);
  const ip = m ? parseIp(m[1]) : undefined;
  const port = m ? Number(m[2]) : -1;
  if (!m || !ip || port < 1 || port > 65535 || (m[0].startsWith("[") !== (ip.family === 6))) {
    throw new SyntaxError(
      `Cannot parse endpoint "${text}": expected IPv4:port or [IPv6]:port with port 1..65535`,
    );
  }
  return { ...ip, port };
}

export function formatEndpoint(family: 4 | 6, bytes: Uint8Array, port: number): string {
  return family === 4 ? `${formatIp(bytes)}:${port}` : `[${formatIp(bytes)}]:${port}`;
}
