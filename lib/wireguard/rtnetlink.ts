/**
 * rtnetlink message building and parsing (pure): links, addresses and routes, laid out as in
 * `linux/rtnetlink.h`, `linux/if_link.h` and `linux/if_addr.h`. I/O lives in `rtnl.ts`.
 *
 * @module
 */
import type { Cidr } from "./cidr.ts";
import { formatIp } from "../net/mod.ts";
import {
  attr,
  NlBuilder,
  NLM_F_ACK,
  NLM_F_CREATE,
  NLM_F_DUMP,
  NLM_F_EXCL,
  NLM_F_REQUEST,
  type NlMsg,
  parseAttrs,
} from "./nlmsg.ts";

export const RTM_NEWLINK = 16;
export const RTM_DELLINK = 17;
export const RTM_GETLINK = 18;
export const RTM_NEWADDR = 20;
export const RTM_GETADDR = 22;
export const RTM_NEWROUTE = 24;
export const RTM_GETROUTE = 26;

export const AF_UNSPEC = 0;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const IFF_UP = 0x1;

export const IFLA_IFNAME = 3;
export const IFLA_MTU = 4;
export const IFLA_LINKINFO = 18;
export const IFLA_AF_SPEC = 26;
export const IFLA_INET6_ADDR_GEN_MODE = 8;
export const IN6_ADDR_GEN_MODE_NONE = 1;
export const IFLA_INFO_KIND = 1;
export const IFA_ADDRESS = 1;
export const IFA_LOCAL = 2;
export const RTA_DST = 1;
export const RTA_OIF = 4;
export const RTA_TABLE = 15;

export const RT_TABLE_MAIN = 254;
export const RTPROT_STATIC = 4;
export const RT_SCOPE_UNIVERSE = 0;
export const RT_SCOPE_LINK = 253;
export const RTN_UNICAST = 1;

/** sizeof(struct ifinfomsg), sizeof(struct ifaddrmsg), sizeof(struct rtmsg). */
export const IFINFOMSG_LEN = 16;
export const IFADDRMSG_LEN = 8;
export const RTMSG_LEN = 12;

export interface LinkInfo {
  index: number;
  name: string;
  flags: number;
  mtu?: number;
  kind?: string;
}

export interface AddrInfo {
  index: number;
  family: 4 | 6;
  prefixLen: number;
  address: string;
}

export interface RouteInfo {
  family: 4 | 6;
  dst: string;
  dstLen: number;
  table: number;
  protocol: number;
  scope: number;
  type: number;
  oif?: number;
}

const ACKED = NLM_F_REQUEST | NLM_F_ACK;
const CREATE_EXCL = ACKED | NLM_F_CREATE | NLM_F_EXCL;

function ifinfomsg(index = 0, flags = 0, change = 0): Uint8Array {
  const b = new Uint8Array(IFINFOMSG_LEN);
  const v = new DataView(b.buffer);
  v.setUint8(0, AF_UNSPEC);
  v.setInt32(4, index, true);
  v.setUint32(8, flags, true);
  v.setUint32(12, change, true);
  return b;
}

const familyOf = (c: Cidr) => (c.family === 4 ? AF_INET : AF_INET6);

/** RTM_NEWLINK CREATE|EXCL: a new link of `kind` ("wireguard", "dummy", …). */
export function newLinkMessage(name: string, kind: string, mtu?: number): Uint8Array {
  const b = new NlBuilder(RTM_NEWLINK, CREATE_EXCL).extra(ifinfomsg()).strz(IFLA_IFNAME, name);
  if (mtu !== undefined) b.u32(IFLA_MTU, mtu);
  const nest = b.nestStart(IFLA_LINKINFO);
  b.strz(IFLA_INFO_KIND, kind);
  b.nestEnd(nest);
  return b.finish();
}

/** RTM_NEWLINK on an existing index: set or clear IFF_UP, optionally the MTU. */
export function setLinkMessage(index: number, opts: { up?: boolean; mtu?: number }): Uint8Array {
  const change = opts.up === undefined ? 0 : IFF_UP;
  const b = new NlBuilder(RTM_NEWLINK, ACKED).extra(ifinfomsg(index, opts.up ? IFF_UP : 0, change));
  if (opts.mtu !== undefined) b.u32(IFLA_MTU, opts.mtu);
  return b.finish();
}

/**
 * Turns off IPv6 address generation on a link, so bringing it up adds no fe80::/64 next to the
 * single configured address: IFLA_AF_SPEC { AF_INET6 { IFLA_INET6_ADDR_GEN_MODE u8 NONE } }.
 */
export function noLinkLocalMessage(index: number): Uint8Array {
  const b = new NlBuilder(RTM_NEWLINK, ACKED).extra(ifinfomsg(index));
  const spec = b.nestStart(IFLA_AF_SPEC);
  const inet6 = b.nestStart(AF_INET6);
  b.u8(IFLA_INET6_ADDR_GEN_MODE, IN6_ADDR_GEN_MODE_NONE);
  b.nestEnd(inet6);
  b.nestEnd(spec);
  return b.finish();
}

export function delLinkMessage(index: number): Uint8Array {
  return new NlBuilder(RTM_DELLINK, ACKED).extra(ifinfomsg(index)).finish();
}

/** RTM_GETLINK by name (answered with one RTM_NEWLINK, or ENODEV), or a dump without a name. */
export function getLinkMessage(name?: string): Uint8Array {
  if (name === undefined) {
    return new NlBuilder(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP).extra(ifinfomsg()).finish();
  }
  return new NlBuilder(RTM_GETLINK, ACKED).extra(ifinfomsg()).strz(IFLA_IFNAME, name).finish();
}

function ifaddrmsg(index: number, c: Cidr): Uint8Array {
  const b = new Uint8Array(IFADDRMSG_LEN);
  b[0] = familyOf(c);
  b[1] = c.prefixLen;
  new DataView(b.buffer).setUint32(4, index, true);
  return b;
}

/** RTM_NEWADDR with IFA_LOCAL and IFA_ADDRESS both set, as iproute2 does. */
export function newAddrMessage(index: number, c: Cidr): Uint8Array {
  return new NlBuilder(RTM_NEWADDR, CREATE_EXCL).extra(ifaddrmsg(index, c))
    .bytes(IFA_LOCAL, c.bytes).bytes(IFA_ADDRESS, c.bytes).finish();
}

export function getAddrMessage(): Uint8Array {
  return new NlBuilder(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP).extra(new Uint8Array(IFADDRMSG_LEN))
    .finish();
}

function rtmsg(c: Cidr | undefined, family: number): Uint8Array {
  const b = new Uint8Array(RTMSG_LEN);
  b[0] = family;
  b[1] = c?.prefixLen ?? 0;
  b[4] = RT_TABLE_MAIN;
  b[5] = RTPROT_STATIC;
  // A device route without gateway is link-scoped for IPv4; IPv6 routes stay universe.
  b[6] = family === AF_INET ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE;
  b[7] = RTN_UNICAST;
  return b;
}

/** RTM_NEWROUTE: `dst` out of `oif` in the main table (no gateway). */
export function newRouteMessage(oif: number, dst: Cidr): Uint8Array {
  return new NlBuilder(RTM_NEWROUTE, CREATE_EXCL).extra(rtmsg(dst, familyOf(dst)))
    .bytes(RTA_DST, dst.bytes).u32(RTA_OIF, oif).finish();
}

export function getRouteMessage(family: 4 | 6): Uint8Array {
  const hdr = new Uint8Array(RTMSG_LEN);
  hdr[0] = family === 4 ? AF_INET : AF_INET6;
  return new NlBuilder(RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP).extra(hdr).finish();
}

function view(msg: NlMsg, min: number, what: string): DataView {
  if (msg.payload.length < min) throw new SyntaxError(`Cannot parse ${what}: payload too short`);
  return new DataView(msg.payload.buffer, msg.payload.byteOffset, msg.payload.byteLength);
}

export function parseLink(msg: NlMsg): LinkInfo {
  const v = view(msg, IFINFOMSG_LEN, "RTM_NEWLINK");
  const info: LinkInfo = { index: v.getInt32(4, true), name: "", flags: v.getUint32(8, true) };
  for (const a of parseAttrs(msg.payload.subarray(IFINFOMSG_LEN))) {
    if (a.type === IFLA_IFNAME) info.name = attr.str(a);
    else if (a.type === IFLA_MTU) info.mtu = attr.u32(a);
    else if (a.type === IFLA_LINKINFO) {
      for (const n of parseAttrs(a.value)) if (n.type === IFLA_INFO_KIND) info.kind = attr.str(n);
    }
  }
  return info;
}

export function parseAddr(msg: NlMsg): AddrInfo {
  const v = view(msg, IFADDRMSG_LEN, "RTM_NEWADDR");
  const family = v.getUint8(0) === AF_INET ? 4 : 6;
  let local: Uint8Array | undefined, address: Uint8Array | undefined;
  for (const a of parseAttrs(msg.payload.subarray(IFADDRMSG_LEN))) {
    if (a.type === IFA_LOCAL) local = a.value;
    else if (a.type === IFA_ADDRESS) address = a.value;
  }
  const bytes = local ?? address;
  if (!bytes) throw new SyntaxError("Cannot parse RTM_NEWADDR: no IFA_LOCAL/IFA_ADDRESS");
  return {
    index: v.getUint32(4, true),
    family,
    prefixLen: v.getUint8(1),
    address: formatIp(bytes),
  };
}

export function parseRoute(msg: NlMsg): RouteInfo {
  const v = view(msg, RTMSG_LEN, "RTM_NEWROUTE");
  const family = v.getUint8(0) === AF_INET ? 4 : 6;
  const r: RouteInfo = {
    family,
    dst: family === 4 ? "0.0.0.0" : "::",
    dstLen: v.getUint8(1),
    table: v.getUint8(4),
    protocol: v.getUint8(5),
    scope: v.getUint8(6),
    type: v.getUint8(7),
  };
  for (const a of parseAttrs(msg.payload.subarray(RTMSG_LEN))) {
    if (a.type === RTA_DST) r.dst = formatIp(a.value);
    else if (a.type === RTA_OIF) r.oif = attr.u32(a);
    else if (a.type === RTA_TABLE) r.table = attr.u32(a);
  }
  return r;
}
