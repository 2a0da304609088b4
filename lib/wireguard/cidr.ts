/**
 * IP address and CIDR parsing to and from the raw bytes netlink and `sockaddr` carry.
 *
 * @module
 */

export interface Cidr {
  family: 4 | 6;
  /** 4 or 16 network-order bytes. */
  bytes: Uint8Array;
  prefixLen: number;
}

/** Parses an IPv4 or IPv6 literal (no zone, no brackets); undefined when it is not one. */
export function parseIp(text: string): { family: 4 | 6; bytes: Uint8Array } | undefined {
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(text)) {
    const parts = text.split(".").map(Number);
    if (parts.some((p) => p > 255)) return undefined;
    return { family: 4, bytes: Uint8Array.from(parts) };
  }
  if (!text.includes(":") || !/^[0-9a-fA-F:.]+$/.test(text)) return undefined;
  let head = text;
  let tail4: number[] = [];
  const lastColon = text.lastIndexOf(":");
  if (text.slice(lastColon + 1).includes(".")) {
    const v4 = parseIp(text.slice(lastColon + 1));
    if (!v4 || v4.family !== 4) return undefined;
    tail4 = [(v4.bytes[0] << 8) | v4.bytes[1], (v4.bytes[2] << 8) | v4.bytes[3]];
    head = text.slice(0, lastColon + 1) + "0"; // placeholder group, dropped below
  }
  const halves = head.split("::");
  if (halves.length > 2) return undefined;
  const toGroups = (s: string) => (s === "" ? [] : s.split(":"));
  const left = toGroups(halves[0]);
  const right = halves.length === 2 ? toGroups(halves[1]) : [];
  if (tail4.length) (halves.length === 2 ? right : left).pop();
  const fixed = left.length + right.length + tail4.length;
  if (halves.length === 1 ? fixed !== 8 : fixed > 7) return undefined;
  const groups: number[] = [];
  for (const g of [...left, ...Array(8 - fixed).fill("0"), ...right]) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
    groups.push(parseInt(g, 16));
  }
  groups.push(...tail4);
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 0xff;
  });
  return { family: 6, bytes };
}

/** Parses `addr/len`; a bare address means a host prefix. Throws a SyntaxError naming `what`. */
export function parseCidr(text: string, what = "CIDR"): Cidr {
  const [addr, len, extra] = text.split("/");
  const ip = parseIp(addr);
  if (!ip || extra !== undefined) {
    throw new SyntaxError(`Cannot parse ${what} "${text}": not an IPv4/IPv6 address[/prefix]`);
  }
  const max = ip.family === 4 ? 32 : 128;
  const prefixLen = len === undefined ? max : Number(len);
  if (!/^\d{1,3}$/.test(len ?? String(max)) || prefixLen > max) {
    throw new SyntaxError(`Cannot parse ${what} "${text}": prefix length must be 0..${max}`);
  }
  return { ...ip, prefixLen };
}

/** Formats 4 or 16 bytes as a canonical address (RFC 5952 for IPv6). */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join(".");
  if (bytes.length !== 16) throw new RangeError(`Cannot format IP: ${bytes.length} bytes`);
  const groups = Array.from({ length: 8 }, (_, i) => (bytes[2 * i] << 8) | bytes[2 * i + 1]);
  let bestStart = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i > 1) [bestStart, bestLen] = [i, j - i];
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLen).join(":")}`;
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
