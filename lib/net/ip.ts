/**
 * The one IP literal parser and formatter. Config validation, the WireGuard codecs and the
 * listeners all go through it, so an address accepted in one place is accepted everywhere.
 * Pure, no DNS.
 *
 * @module
 */

/** A parsed IP address: 4 bytes (IPv4) or 16 bytes (IPv6), network order. */
export interface Ip {
  family: 4 | 6;
  bytes: Uint8Array;
}

// Leading zeros are rejected: inet_aton and some URL parsers read `010` as octal (8), others as
// decimal (10), so the same text would name two different hosts.
const OCTET = /^(0|[1-9][0-9]{0,2})$/;
const HEXTET = /^[0-9a-fA-F]{1,4}$/;

function parseIpv4(text: string): Ip | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const bytes = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i];
    if (!OCTET.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    bytes[i] = n;
  }
  return { family: 4, bytes };
}

function toGroups(s: string): number[] | undefined {
  if (s === "") return [];
  const out: number[] = [];
  for (const g of s.split(":")) {
    if (!HEXTET.test(g)) return undefined;
    out.push(parseInt(g, 16));
  }
  return out;
}

function parseIpv6(text: string): Ip | undefined {
  // Zone ids (`fe80::1%eth0`) are not portable addresses in config, netlink or permissions.
  if (text.includes("%")) return undefined;
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

/**
 * Parses an IPv4 or IPv6 literal: no brackets (see {@linkcode unbracketHost}), no zone, no
 * leading-zero IPv4 octets. Undefined when the text is not one.
 */
export function parseIp(text: string): Ip | undefined {
  return text.includes(":") ? parseIpv6(text) : parseIpv4(text);
}

/** Why {@linkcode parseIp} rejected `text`, worded for an error message's `<why>` part. */
export function ipSyntaxHint(text: string): string {
  if (!text.includes(":") && /(^|\.)0[0-9]/.test(text)) {
    return "IPv4 octets must not have leading zeros (some parsers read them as octal)";
  }
  if (text.includes("%")) return "IPv6 zone ids (%iface) are not accepted";
  return "not an IP address (an IPv4 or IPv6 literal)";
}

/** Canonical text of 4 or 16 bytes: dotted quad, or RFC 5952 compressed IPv6. */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join(".");
  if (bytes.length !== 16) {
    throw new RangeError(`Cannot format IP address: ${bytes.length} bytes — expected 4 or 16`);
  }
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i] << 8) | bytes[i + 1]);
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

/** True when the first `prefix` bits of `ip` and `net` agree (and the families match). */
export function inPrefix(ip: Ip, net: Ip, prefix: number): boolean {
  if (ip.family !== net.family) return false;
  for (let bit = 0; bit < prefix; bit++) {
    const byte = bit >> 3;
    const mask = 0x80 >> (bit & 7);
    if ((ip.bytes[byte] & mask) !== (net.bytes[byte] & mask)) return false;
  }
  return true;
}

/** 127.0.0.0/8 or ::1. */
export function isLoopbackIp(ip: Ip): boolean {
  if (ip.family === 4) return ip.bytes[0] === 127;
  return ip.bytes.every((b, i) => b === (i === 15 ? 1 : 0));
}
