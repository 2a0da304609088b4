/**
 * Network address text: the single IP literal parser/formatter, CIDR prefixes and address
 * classes, and the host helpers (IPv6 brackets, loopback) every area uses.
 *
 * ```ts
 * import { formatIp, joinHostPort, parseIp } from "../net/mod.ts";
 * const ip = parseIp("fd00:0::05"); // { family: 6, bytes }
 * formatIp(ip!.bytes); // "fd00::5"
 * joinHostPort("fd00::5", 8080); // "[fd00::5]:8080"
 * ```
 *
 * @module
 */
export { formatIp, inPrefix, type Ip, ipSyntaxHint, isLoopbackIp, parseIp } from "./ip.ts";
export { bracketHost, isLoopbackHost, joinHostPort, unbracketHost } from "./host.ts";
export {
  type Cidr,
  cidrOverlaps,
  hostPrefix,
  isMulticast,
  isUnspecified,
  parseCidr,
  parseHostIp,
  PRIVATE_RANGES,
  privateRangeOf,
  sameIp,
  splitHostPort,
} from "./cidr.ts";
