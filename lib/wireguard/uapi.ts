/**
 * The WireGuard cross-platform UAPI text protocol (wireguard-go `device/uapi.go`,
 * wireguard-tools `ipc-uapi.h`): one straight-line encoder for `set=1` and one strict parser for
 * `get=1` replies. Keys travel as 64 lowercase hex characters on the wire and base64 here.
 *
 * @module
 */
import { formatEndpoint, parseCidr, parseEndpoint } from "./cidr.ts";
import { errnoName } from "./errno.ts";
import { hexToKey, keyToHex } from "./keys.ts";
import type { WgDevice, WgPeer } from "./types.ts";

/** The UAPI reported a failure (errno is positive, e.g. 22 for EINVAL). */
export class UapiError extends Error {
  constructor(readonly errno: number, what: string) {
    super(`Cannot ${what}: wireguard UAPI returned errno=${-errno} (${errnoName(errno)})`);
    this.name = "UapiError";
  }
}

function num(value: string, key: string, max: number): number {
  if (!/^\d{1,20}$/.test(value)) {
    throw new SyntaxError(`Cannot parse UAPI ${key}=${value}: not a number`);
  }
  const n = Number(value);
  if (n > max) throw new SyntaxError(`Cannot parse UAPI ${key}=${value}: above ${max}`);
  return n;
}

function checkRange(value: number | undefined, key: string, max: number): void {
  if (value !== undefined && !(Number.isInteger(value) && value >= 0 && value <= max)) {
    throw new RangeError(`Cannot encode ${key}=${value}: must be an integer 0..${max}`);
  }
}

/** Encodes a device delta as a complete `set=1` request (ending with the blank line). */
export function encodeSet(device: WgDevice): string {
  checkRange(device.listenPort, "listen_port", 65535);
  checkRange(device.fwmark, "fwmark", 0xffffffff);
  const lines = ["set=1"];
  if (device.privateKey !== undefined) lines.push(`private_key=${keyToHex(device.privateKey)}`);
  if (device.listenPort !== undefined) lines.push(`listen_port=${device.listenPort}`);
  if (device.fwmark !== undefined) lines.push(`fwmark=${device.fwmark}`);
  if (device.replacePeers) lines.push("replace_peers=true");
  for (const p of device.peers) {
    lines.push(`public_key=${keyToHex(p.publicKey)}`);
    if (p.remove) {
      lines.push("remove=true");
      continue;
    }
    if (p.updateOnly) lines.push("update_only=true");
    if (p.presharedKey !== undefined) lines.push(`preshared_key=${keyToHex(p.presharedKey)}`);
    if (p.endpoint !== undefined) {
      const e = parseEndpoint(p.endpoint);
      lines.push(`endpoint=${formatEndpoint(e.family, e.bytes, e.port)}`);
    }
    checkRange(p.persistentKeepaliveS, "persistent_keepalive_interval", 65535);
    if (p.persistentKeepaliveS !== undefined) {
      lines.push(`persistent_keepalive_interval=${p.persistentKeepaliveS}`);
    }
    if (p.replaceAllowedIps) lines.push("replace_allowed_ips=true");
    for (const ip of p.allowedIps ?? []) {
      const c = parseCidr(ip, "allowed IP");
      lines.push(`allowed_ip=${ip.includes("/") ? ip : `${ip}/${c.prefixLen}`}`);
    }
  }
  return lines.join("\n") + "\n\n";
}

/** The `get=1` request. */
export const GET_REQUEST = "get=1\n\n";

/**
 * Parses a `get=1` reply into full device state. Unknown keys, malformed numbers and a
 * non-zero `errno=` throw. `name` is the interface the reply belongs to.
 */
export function parseGet(text: string, name: string): WgDevice {
  const device: WgDevice = { name, peers: [] };
  let peer: WgPeer | undefined;
  let sec = 0, nsec = 0;
  let sawErrno = false;
  const endPeer = () => {
    if (peer) peer.lastHandshakeMs = sec * 1000 + Math.floor(nsec / 1e6);
    sec = nsec = 0;
  };
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line === "") {
      if (sawErrno) break;
      continue;
    }
    const eq = line.indexOf("=");
    if (eq <= 0) throw new SyntaxError(`Cannot parse UAPI line ${i + 1} "${line}": no key=value`);
    const key = line.slice(0, eq), value = line.slice(eq + 1);
    if (key === "errno") {
      const e = Number(value);
      if (!/^-?\d{1,10}$/.test(value)) {
        throw new SyntaxError(
          `Cannot parse UAPI errno=${value}: not an integer — the WireGuard backend answered out of protocol`,
        );
      }
      if (e !== 0) throw new UapiError(Math.abs(e), `get device ${name}`);
      sawErrno = true;
      continue;
    }
    if (sawErrno) throw new SyntaxError(`Cannot parse UAPI line ${i + 1}: data after errno`);
    if (key === "public_key") {
      endPeer();
      peer = { publicKey: hexToKey(value, "public_key"), allowedIps: [] };
      device.peers.push(peer);
      continue;
    }
    if (!peer) {
      switch (key) {
        case "private_key":
          device.privateKey = hexToKey(value, "private_key");
          break;
        case "listen_port":
          device.listenPort = num(value, key, 65535);
          break;
        case "fwmark":
          device.fwmark = num(value, key, 0xffffffff);
          break;
        default:
          throw new SyntaxError(`Cannot parse UAPI line ${i + 1}: unknown device key "${key}"`);
      }
      continue;
    }
    switch (key) {
      case "preshared_key":
        peer.presharedKey = hexToKey(value, "preshared_key");
        break;
      case "protocol_version":
        peer.protocolVersion = num(value, key, 0xffffffff);
        break;
      case "endpoint": {
        const e = parseEndpoint(value);
        peer.endpoint = formatEndpoint(e.family, e.bytes, e.port);
        break;
      }
      case "last_handshake_time_sec":
        sec = num(value, key, Number.MAX_SAFE_INTEGER / 1000);
        break;
      case "last_handshake_time_nsec":
        nsec = num(value, key, 999_999_999);
        break;
      case "tx_bytes":
        peer.txBytes = num(value, key, Number.MAX_SAFE_INTEGER);
        break;
      case "rx_bytes":
        peer.rxBytes = num(value, key, Number.MAX_SAFE_INTEGER);
        break;
      case "persistent_keepalive_interval":
        peer.persistentKeepaliveS = num(value, key, 65535);
        break;
      case "allowed_ip":
        parseCidr(value, "allowed_ip");
        peer.allowedIps!.push(value);
        break;
      default:
        throw new SyntaxError(`Cannot parse UAPI line ${i + 1}: unknown peer key "${key}"`);
    }
  }
  if (!sawErrno) throw new SyntaxError("Cannot parse UAPI get reply: missing errno= line");
  endPeer();
  return device;
}

/**
 * Reads the reply to a `set=1`: returns 0 on `errno=0`, throws UapiError otherwise. A failed
 * set is not rolled back: lines before the bad one are already applied.
 */
export function parseErrno(text: string, what = "set device"): 0 {
  const m = /^errno=(-?\d{1,10})\n\n?$/.exec(text);
  if (!m) {
    throw new SyntaxError(
      `Cannot ${what}: malformed UAPI reply ${JSON.stringify(text.slice(0, 80))}`,
    );
  }
  const e = Number(m[1]);
  if (e !== 0) throw new UapiError(Math.abs(e), what);
  return 0;
}
