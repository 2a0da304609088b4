/**
 * Generic netlink for kernel WireGuard (pure): family lookup through nlctrl, WG_CMD_SET_DEVICE
 * split across messages the way wireguard-tools `ipc-linux.h` does, and WG_CMD_GET_DEVICE dumps
 * merged back into one device. Attribute numbers from `include/uapi/linux/wireguard.h`.
 *
 * @module
 */
import { formatEndpoint, parseCidr, parseEndpoint } from "./cidr.ts";
import { formatIp } from "../net/mod.ts";
import { decodeKey, encodeKey } from "./keys.ts";
import {
  attr,
  NlBuilder,
  NLM_F_ACK,
  NLM_F_DUMP,
  NLM_F_REQUEST,
  type NlMsg,
  parseAttrs,
} from "./nlmsg.ts";
import type { WgDevice, WgPeer } from "./types.ts";

export const GENL_ID_CTRL = 0x10;
export const CTRL_CMD_GETFAMILY = 3;
export const CTRL_ATTR_FAMILY_ID = 1;
export const CTRL_ATTR_FAMILY_NAME = 2;
export const GENL_HDRLEN = 4;

export const WG_GENL_NAME = "wireguard";
export const WG_GENL_VERSION = 1;
export const WG_CMD_GET_DEVICE = 0;
export const WG_CMD_SET_DEVICE = 1;

export const WGDEVICE_A_IFINDEX = 1;
export const WGDEVICE_A_IFNAME = 2;
export const WGDEVICE_A_PRIVATE_KEY = 3;
export const WGDEVICE_A_PUBLIC_KEY = 4;
export const WGDEVICE_A_FLAGS = 5;
export const WGDEVICE_A_LISTEN_PORT = 6;
export const WGDEVICE_A_FWMARK = 7;
export const WGDEVICE_A_PEERS = 8;
export const WGDEVICE_F_REPLACE_PEERS = 1;

export const WGPEER_A_PUBLIC_KEY = 1;
export const WGPEER_A_PRESHARED_KEY = 2;
export const WGPEER_A_FLAGS = 3;
export const WGPEER_A_ENDPOINT = 4;
export const WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL = 5;
export const WGPEER_A_LAST_HANDSHAKE_TIME = 6;
export const WGPEER_A_RX_BYTES = 7;
export const WGPEER_A_TX_BYTES = 8;
export const WGPEER_A_ALLOWEDIPS = 9;
export const WGPEER_A_PROTOCOL_VERSION = 10;
export const WGPEER_F_REMOVE_ME = 1;
export const WGPEER_F_REPLACE_ALLOWEDIPS = 2;
export const WGPEER_F_UPDATE_ONLY = 4;

export const WGALLOWEDIP_A_FAMILY = 1;
export const WGALLOWEDIP_A_IPADDR = 2;
export const WGALLOWEDIP_A_CIDR_MASK = 3;

const AF_INET = 2;
const AF_INET6 = 10;

/** wireguard-tools uses min(page size, 8192): 4096 on x86_64. */
export const SET_BUDGET = 4096;

function genlhdr(cmd: number, version: number): Uint8Array {
  return Uint8Array.of(cmd, version, 0, 0);
}

/** CTRL_CMD_GETFAMILY for `name` on the nlctrl family. */
export function getFamilyMessage(name: string): Uint8Array {
  return new NlBuilder(GENL_ID_CTRL, NLM_F_REQUEST | NLM_F_ACK)
    .extra(genlhdr(CTRL_CMD_GETFAMILY, 1)).strz(CTRL_ATTR_FAMILY_NAME, name).finish();
}

/** Reads CTRL_ATTR_FAMILY_ID from a GETFAMILY reply. */
export function parseFamilyId(reply: NlMsg): number {
  for (const a of parseAttrs(reply.payload.subarray(GENL_HDRLEN))) {
    if (a.type === CTRL_ATTR_FAMILY_ID) return attr.u16(a);
  }
  throw new SyntaxError("Cannot parse GETFAMILY reply: no CTRL_ATTR_FAMILY_ID");
}

/** WG_CMD_GET_DEVICE as a dump request for interface `name`. */
export function getDeviceMessage(familyId: number, name: string): Uint8Array {
  return new NlBuilder(familyId, NLM_F_REQUEST | NLM_F_DUMP)
    .extra(genlhdr(WG_CMD_GET_DEVICE, WG_GENL_VERSION)).strz(WGDEVICE_A_IFNAME, name).finish();
}

/** `struct sockaddr_in` (16 B) / `sockaddr_in6` (28 B): family in host order, port in network order. */
export function encodeSockaddr(endpoint: string): Uint8Array {
  const e = parseEndpoint(endpoint);
  const b = new Uint8Array(e.family === 4 ? 16 : 28);
  const v = new DataView(b.buffer);
  v.setUint16(0, e.family === 4 ? AF_INET : AF_INET6, true);
  v.setUint16(2, e.port, false);
  b.set(e.bytes, e.family === 4 ? 4 : 8);
  return b;
}

export function decodeSockaddr(b: Uint8Array): string | undefined {
  if (b.length < 2) throw new SyntaxError("Cannot parse WGPEER_A_ENDPOINT: too short");
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const family = v.getUint16(0, true);
  if (family === AF_INET && b.length >= 16) {
    return formatEndpoint(4, b.subarray(4, 8), v.getUint16(2, false));
  }
  if (family === AF_INET6 && b.length >= 28) {
    return formatEndpoint(6, b.subarray(8, 24), v.getUint16(2, false));
  }
  if (family === 0) return undefined;
  throw new SyntaxError(`Cannot parse WGPEER_A_ENDPOINT: family ${family}, ${b.length} bytes`);
}

/** Thrown by a builder write that would overflow the budget; caught to split the message. */
function tryPut(b: NlBuilder, put: () => void): boolean {
  const mark = b.length;
  try {
    put();
    return true;
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    b.nestCancel(mark);
    return false;
  }
}

/**
 * Builds WG_CMD_SET_DEVICE for `device` as one or more messages of at most `budget` bytes.
 * The first carries the device attributes (and REPLACE_PEERS); later ones carry only IFNAME and
 * PEERS. A peer cut in the middle of its allowed IPs continues in the next message with only
 * its public key, its REMOVE_ME/UPDATE_ONLY flags and the remaining IPs (wireguard-tools keeps
 * only REMOVE_ME; keeping UPDATE_ONLY too means a continuation can never create a peer that the
 * first part skipped).
 */
export function setDeviceMessages(
  familyId: number,
  device: WgDevice,
  budget = SET_BUDGET,
): Uint8Array[] {
  const peers = device.peers;
  // Validate everything up front so no message is sent for a delta that cannot be encoded.
  for (const p of peers) {
    decodeKey(p.publicKey, "peer public key");
    for (const ip of p.allowedIps ?? []) parseCidr(ip, "allowed IP");
    if (p.endpoint !== undefined) encodeSockaddr(p.endpoint);
  }
  if (budget < 256 || budget > 65536) {
    throw new RangeError(`Cannot encode WireGuard SET: budget ${budget} must be 256..65536`);
  }
  const out: Uint8Array[] = [];
  let peerIdx = 0, ipIdx = 0, first = true;
  for (let guard = 0; guard < 1_000_000; guard++) {
    const b = new NlBuilder(familyId, NLM_F_REQUEST | NLM_F_ACK, 0, budget)
      .extra(genlhdr(WG_CMD_SET_DEVICE, WG_GENL_VERSION)).strz(WGDEVICE_A_IFNAME, device.name);
    if (first) {
      if (device.privateKey !== undefined) {
        b.bytes(WGDEVICE_A_PRIVATE_KEY, decodeKey(device.privateKey, "private key"));
      }
      if (device.listenPort !== undefined) b.u16(WGDEVICE_A_LISTEN_PORT, device.listenPort);
      if (device.fwmark !== undefined) b.u32(WGDEVICE_A_FWMARK, device.fwmark);
      if (device.replacePeers) b.u32(WGDEVICE_A_FLAGS, WGDEVICE_F_REPLACE_PEERS);
    }
    if (peerIdx < peers.length) {
      const peersAt = b.nestStart(WGDEVICE_A_PEERS);
      let added = 0, full = false;
      while (!full && peerIdx < peers.length) {
        const p = peers[peerIdx];
        const continuing = ipIdx > 0;
        const ips = p.remove ? [] : p.allowedIps ?? [];
        const peerAt = b.length;
        let listAt = -1;
        const headerFits = tryPut(b, () => {
          b.nestStart(0);
          b.bytes(WGPEER_A_PUBLIC_KEY, decodeKey(p.publicKey));
          let flags = (p.remove ? WGPEER_F_REMOVE_ME : 0) |
            (p.updateOnly ? WGPEER_F_UPDATE_ONLY : 0);
          if (!continuing && p.replaceAllowedIps) flags |= WGPEER_F_REPLACE_ALLOWEDIPS;
          if (flags) b.u32(WGPEER_A_FLAGS, flags);
          if (!continuing && !p.remove) {
            if (p.presharedKey !== undefined) {
              b.bytes(WGPEER_A_PRESHARED_KEY, decodeKey(p.presharedKey));
            }
            if (p.endpoint !== undefined) b.bytes(WGPEER_A_ENDPOINT, encodeSockaddr(p.endpoint));
            if (p.persistentKeepaliveS !== undefined) {
              b.u16(WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, p.persistentKeepaliveS);
            }
          }
          if (ips.length > ipIdx) listAt = b.nestStart(WGPEER_A_ALLOWEDIPS);
        });
        if (!headerFits) {
          full = true;
          break;
        }
        let addedIps = 0;
        for (; ipIdx < ips.length; ipIdx++) {
          const c = parseCidr(ips[ipIdx], "allowed IP");
          const fits = tryPut(b, () => {
            const n = b.nestStart(0);
            b.u16(WGALLOWEDIP_A_FAMILY, c.family === 4 ? AF_INET : AF_INET6);
            b.bytes(WGALLOWEDIP_A_IPADDR, c.bytes);
            b.u8(WGALLOWEDIP_A_CIDR_MASK, c.prefixLen);
            b.nestEnd(n);
          });
          if (!fits) {
            full = true;
            break;
          }
          addedIps++;
        }
        if (full && addedIps === 0) {
          // Not one IP fits after the header: move the whole peer to the next message.
          b.nestCancel(peerAt);
          break;
        }
        if (listAt >= 0) b.nestEnd(listAt);
        b.nestEnd(peerAt);
        added++;
        if (full) break; // this peer continues at ipIdx in the next message
        ipIdx = 0;
        peerIdx++;
      }
      if (added === 0) {
        b.nestCancel(peersAt);
        if (!first) {
          throw new RangeError(
            `Cannot encode WireGuard peer ${
              peers[peerIdx].publicKey
            }: does not fit a ${budget}-byte message`,
          );
        }
      } else {
        b.nestEnd(peersAt);
      }
    }
    out.push(b.finish());
    first = false;
    if (peerIdx >= peers.length) return out;
  }
  throw new Error("Cannot encode WireGuard SET: splitting did not terminate");
}

function parsePeer(value: Uint8Array): WgPeer {
  const peer: WgPeer = { publicKey: "", allowedIps: [] };
  for (const a of parseAttrs(value)) {
    switch (a.type) {
      case WGPEER_A_PUBLIC_KEY:
        peer.publicKey = encodeKey(a.value);
        break;
      case WGPEER_A_PRESHARED_KEY:
        peer.presharedKey = encodeKey(a.value);
        break;
      case WGPEER_A_ENDPOINT: {
        const e = decodeSockaddr(a.value);
        if (e) peer.endpoint = e;
        break;
      }
      case WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL:
        peer.persistentKeepaliveS = attr.u16(a);
        break;
      case WGPEER_A_LAST_HANDSHAKE_TIME: {
        if (a.value.length !== 16) throw new SyntaxError("Cannot parse LAST_HANDSHAKE_TIME: size");
        const v = new DataView(a.value.buffer, a.value.byteOffset, 16);
        peer.lastHandshakeMs = Number(v.getBigInt64(0, true)) * 1000 +
          Math.floor(Number(v.getBigInt64(8, true)) / 1e6);
        break;
      }
      case WGPEER_A_RX_BYTES:
        peer.rxBytes = Number(attr.u64(a));
        break;
      case WGPEER_A_TX_BYTES:
        peer.txBytes = Number(attr.u64(a));
        break;
      case WGPEER_A_PROTOCOL_VERSION:
        peer.protocolVersion = attr.u32(a);
        break;
      case WGPEER_A_ALLOWEDIPS:
        for (const ipNest of parseAttrs(a.value)) {
          peer.allowedIps!.push(parseAllowedIp(ipNest.value));
        }
        break;
    }
  }
  if (!peer.publicKey) throw new SyntaxError("Cannot parse WireGuard peer: no WGPEER_A_PUBLIC_KEY");
  return peer;
}

function parseAllowedIp(value: Uint8Array): string {
  let family = 0, addr: Uint8Array | undefined, cidr = -1;
  // The kernel sends CIDR_MASK before IPADDR: never rely on order.
  for (const a of parseAttrs(value)) {
    if (a.type === WGALLOWEDIP_A_FAMILY) family = attr.u16(a);
    else if (a.type === WGALLOWEDIP_A_IPADDR) addr = a.value;
    else if (a.type === WGALLOWEDIP_A_CIDR_MASK) cidr = attr.u8(a);
  }
  const want = family === AF_INET ? 4 : family === AF_INET6 ? 16 : 0;
  if (!addr || addr.length !== want || cidr < 0 || cidr > want * 8) {
    throw new SyntaxError(`Cannot parse WireGuard allowed IP: family ${family}, cidr ${cidr}`);
  }
  return `${formatIp(addr)}/${cidr}`;
}

/**
 * Merges the messages of one WG_CMD_GET_DEVICE dump (NLMSG_DONE excluded) into one device.
 * A peer that continues in the next message appears again with only its key and more allowed
 * IPs: entries are coalesced by public key.
 */
export function parseDeviceDump(msgs: NlMsg[]): WgDevice & { ifindex?: number } {
  const device: WgDevice & { ifindex?: number } = { name: "", peers: [] };
  const byKey = new Map<string, WgPeer>();
  for (const m of msgs) {
    for (const a of parseAttrs(m.payload.subarray(GENL_HDRLEN))) {
      switch (a.type) {
        case WGDEVICE_A_IFINDEX:
          device.ifindex = attr.u32(a);
          break;
        case WGDEVICE_A_IFNAME:
          device.name = attr.str(a);
          break;
        case WGDEVICE_A_PRIVATE_KEY:
          device.privateKey = encodeKey(a.value);
          break;
        case WGDEVICE_A_PUBLIC_KEY:
          device.publicKey = encodeKey(a.value);
          break;
        case WGDEVICE_A_LISTEN_PORT:
          device.listenPort = attr.u16(a);
          break;
        case WGDEVICE_A_FWMARK:
          device.fwmark = attr.u32(a);
          break;
        case WGDEVICE_A_PEERS:
          for (const nest of parseAttrs(a.value)) {
            const p = parsePeer(nest.value);
            const prev = byKey.get(p.publicKey);
            if (prev) prev.allowedIps!.push(...p.allowedIps!);
            else {
              byKey.set(p.publicKey, p);
              device.peers.push(p);
            }
          }
          break;
      }
    }
  }
  return device;
}
