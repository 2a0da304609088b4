/**
 * Cross-field rules that zod's per-field checks cannot express (roadmap §1.2, design §4
 * invariants 1–3), and normalisation of URLs and addresses. Pure: no file system access
 * (key-file checks live in `key_files.ts`). Every rule adds to a list, so one run reports every
 * problem at once.
 *
 * @module
 */
import {
  cidrOverlaps,
  hostPrefix,
  type Ip,
  isMulticast,
  isUnspecified,
  parseCidr,
  parseHostIp as parseIp,
  PRIVATE_RANGES,
  privateRangeOf,
  sameIp,
  splitHostPort,
} from "../net/mod.ts";
import { formatIp, ipSyntaxHint, isLoopbackIp as isLoopback, unbracketHost } from "../net/mod.ts";
import type { FieldIssue } from "./issue.ts";
import type { LabmanConfig } from "./schema.ts";

/** The outcome of {@link validateConfig}. */
export interface ValidationResult {
  /** A normalised copy of the input (base URLs end in `/v1`, address has a prefix, …). */
  config: LabmanConfig;
  errors: FieldIssue[];
  warnings: FieldIssue[];
}

const WG_KEY = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;
const MAX_THRESHOLD = 100;

class Collector {
  readonly errors: FieldIssue[] = [];
  readonly warnings: FieldIssue[] = [];
  error(path: (string | number)[], message: string, fix?: string): void {
    this.errors.push(fix === undefined ? { path, message } : { path, message, fix });
  }
  warn(path: (string | number)[], message: string, fix?: string): void {
    this.warnings.push(fix === undefined ? { path, message } : { path, message, fix });
  }
}

/** Parses an http(s) URL, reporting why it is unusable. Returns undefined after an error. */
function httpUrl(
  c: Collector,
  path: (string | number)[],
  raw: string,
  example: string,
): URL | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    c.error(path, `not an http(s) URL: ${JSON.stringify(raw)}`, `use e.g. "${example}"`);
    return undefined;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    c.error(
      path,
      `not an http(s) URL: scheme is "${url.protocol.slice(0, -1)}"`,
      `use e.g. "${example}"`,
    );
    return undefined;
  }
  if (url.username !== "" || url.password !== "") {
    c.error(
      path,
      "must not contain a user name or password (secrets in URLs end up in logs)",
      path[0] === "endpoints"
        ? `put the key in endpoints[${path[1]}].api_key_file`
        : "put the token in control_plane.node_token_file",
    );
    return undefined;
  }
  if (url.search !== "" || url.hash !== "") {
    c.error(path, "must not have a query (?…) or fragment (#…)", `use e.g. "${example}"`);
    return undefined;
  }
  return url;
}

function trimSlashes(path: string): string {
  return path.replace(/\/+$/, "");
}

/**
 * Normalises an endpoint base URL so that it ends in `/v1`: trailing slashes go, an empty path
 * becomes `/v1`, any other path must already end in `/v1`.
 */
export function normaliseEndpointUrl(
  raw: string,
): { ok: true; url: string } | { ok: false; message: string; fix: string } {
  const c = new Collector();
  const url = httpUrl(c, ["endpoints", 0, "base_url"], raw, "http://127.0.0.1:11434/v1");
  if (!url) return { ok: false, message: c.errors[0].message, fix: c.errors[0].fix ?? "" };
  let path = trimSlashes(url.pathname);
  if (path === "") path = "/v1";
  if (!path.endsWith("/v1")) {
    return {
      ok: false,
      message: `path "${path}" does not end in /v1`,
      fix: `use e.g. "${url.origin}${path}/v1"`,
    };
  }
  return { ok: true, url: url.origin + path };
}

function checkControlPlane(c: Collector, config: LabmanConfig): void {
  const cp = config.control_plane;
  if (!cp) return;
  const url = httpUrl(c, ["control_plane", "base_url"], cp.base_url, "https://cp.example.net");
  if (url) {
    cp.base_url = url.origin + trimSlashes(url.pathname);
    const host = parseIp(url.hostname);
    if (url.protocol === "http:" && !(host && isLoopback(host)) && url.hostname !== "localhost") {
      c.warn(
        ["control_plane", "base_url"],
        "uses plain http: the node token travels unencrypted",
        "use https://",
      );
    }
  }
  if (cp.node_token !== undefined && cp.node_token_file !== undefined) {
    c.error(
      ["control_plane", "node_token"],
      "node_token and node_token_file are both set",
      "keep only node_token_file (a file of mode 0600)",
    );
  } else if (cp.node_token === undefined && cp.node_token_file === undefined) {
    c.error(
      ["control_plane"],
      "no node token: set exactly one of node_token_file or node_token",
      'add node_token_file = "/etc/labman/node_token" (a file of mode 0600)',
    );
  }
  if (cp.retry_initial_ms > cp.retry_max_ms) {
    c.error(
      ["control_plane", "retry_initial_ms"],
      `must not exceed control_plane.retry_max_ms (${cp.retry_max_ms})`,
      "lower retry_initial_ms or raise retry_max_ms",
    );
  }
}

function checkEndpoints(c: Collector, config: LabmanConfig): void {
  if (config.endpoints.length === 0) {
    c.warn(
      ["endpoints"],
      "no endpoints configured: the proxy will serve no models",
      "add an [[endpoints]] table",
    );
  }
  const names = new Map<string, number>();
  const urls = new Map<string, number>();
  config.endpoints.forEach((ep, i) => {
    const first = names.get(ep.name);
    if (first !== undefined) {
      c.error(
        ["endpoints", i, "name"],
        `duplicate endpoint name "${ep.name}" (also endpoints[${first}].name)`,
        "give every endpoint a unique name",
      );
    } else {
      names.set(ep.name, i);
    }
    const n = normaliseEndpointUrl(ep.base_url);
    if (!n.ok) {
      c.error(["endpoints", i, "base_url"], n.message, n.fix);
      return;
    }
    ep.base_url = n.url;
    checkEndpointHost(c, i, new URL(n.url).hostname);
    const same = urls.get(n.url);
    if (same !== undefined) {
      c.warn(
        ["endpoints", i, "base_url"],
        `same URL as endpoints[${same}] (${n.url}): its capacity would be counted twice`,
        "remove one of the two entries",
      );
    } else {
      urls.set(n.url, i);
    }
  });
}

/** Cloud metadata services: an endpoint there would hand the data plane the node's credentials. */
const METADATA_HOSTS = new Set([
  "169.254.169.254",
  "169.254.170.2",
  "fd00:ec2::254",
  "metadata.google.internal",
  "metadata",
]);

/**
 * Endpoint addresses that cannot be an LLM server the node may reach: unspecified (0.0.0.0, ::),
 * broadcast, multicast and metadata-service addresses are errors; other link-local addresses
 * (169.254.0.0/16, fe80::/10) are only a warning, since a directly cabled box may use one.
 */
function checkEndpointHost(c: Collector, i: number, rawHost: string): void {
  const path = ["endpoints", i, "base_url"];
  const host = rawHost.replace(/^\[|\]$/g, "").toLowerCase();
  if (METADATA_HOSTS.has(host)) {
    c.error(
      path,
      `host ${rawHost} is a cloud metadata service, not an LLM endpoint`,
      "use the address of the machine that runs the model server",
    );
    return;
  }
  const ip = parseIp(host);
  if (ip === undefined) return;
  const fix = "use the unicast address of the machine that runs the model server";
  if (isUnspecified(ip)) {
    c.error(path, `host ${rawHost} is the unspecified address, which names no machine`, fix);
  } else if (ip.family === 4 && ip.bytes.every((b) => b === 255)) {
    c.error(path, `host ${rawHost} is the broadcast address`, fix);
  } else if (isMulticast(ip)) {
    c.error(path, `host ${rawHost} is a multicast address`, fix);
  } else if (
    (ip.family === 4 && ip.bytes[0] === 169 && ip.bytes[1] === 254) ||
    (ip.family === 6 && ip.bytes[0] === 0xfe && (ip.bytes[1] & 0xc0) === 0x80)
  ) {
    c.warn(
      path,
      `host ${rawHost} is a link-local address: it only works on one directly attached link`,
      "prefer a stable LAN address; keep it only if the server is cabled to this node",
    );
  }
}

/** Validates and normalises wireguard.address; returns its IP when usable. */
function checkWireGuardAddress(c: Collector, config: LabmanConfig): Ip | undefined {
  const raw = config.wireguard.address;
  if (raw === undefined) return undefined;
  const path = ["wireguard", "address"];
  const cidr = parseCidr(raw);
  if (!cidr) {
    const hint = ipSyntaxHint(unbracketHost(raw.split("/")[0]));
    c.error(path, `${JSON.stringify(raw)}: ${hint}`, 'use e.g. "10.90.0.5/32"');
    return undefined;
  }
  const ip = formatIp(cidr.ip.bytes);
  if (cidr.prefix !== hostPrefix(cidr.ip)) {
    c.error(
      path,
      `"${raw}" is a network, not a single host: labman never routes a LAN`,
      `use "${ip}/${hostPrefix(cidr.ip)}"`,
    );
    return undefined;
  }
  if (isUnspecified(cidr.ip) || isLoopback(cidr.ip) || isMulticast(cidr.ip)) {
    c.error(path, `"${raw}" is not a unicast host address`, 'use e.g. "10.90.0.5/32"');
    return undefined;
  }
  config.wireguard.address = `${ip}/${cidr.prefix}`;
  return cidr.ip;
}

function checkPeer(c: Collector, config: LabmanConfig): void {
  const peer = config.wireguard.peer;
  if (!peer) return;
  if (!WG_KEY.test(peer.public_key)) {
    c.error(
      ["wireguard", "peer", "public_key"],
      "not a WireGuard public key (44 characters of base64 ending in '=')",
      "copy the control plane's key as printed by `wg pubkey`",
    );
  }
  if (peer.endpoint !== undefined && !splitHostPort(peer.endpoint)) {
    c.error(
      ["wireguard", "peer", "endpoint"],
      `not "host:port": ${JSON.stringify(peer.endpoint)}`,
      'use e.g. "cp.example.net:51820" or "[2001:db8::1]:51820"',
    );
  }
  if (peer.allowed_ips.length === 0) {
    c.warn(
      ["wireguard", "peer", "allowed_ips"],
      "is empty: no traffic from the control plane will be accepted",
      'add the control plane\'s tunnel address, e.g. ["10.90.0.1/32"]',
    );
  }
  peer.allowed_ips = peer.allowed_ips.map((raw, i) => {
    const path = ["wireguard", "peer", "allowed_ips", i];
    const cidr = parseCidr(raw);
    if (!cidr) {
      c.error(path, `not an IP prefix: ${JSON.stringify(raw)}`, 'use e.g. "10.90.0.1/32"');
      return raw;
    }
    const text = `${formatIp(cidr.ip.bytes)}/${cidr.prefix}`;
    if (cidr.prefix === 0) {
      c.warn(
        path,
        `"${raw}" is a default route: every destination would go into the tunnel`,
        "list only the control plane's tunnel address (a /32 or /128)",
      );
    } else if (cidr.prefix < hostPrefix(cidr.ip)) {
      const lan = PRIVATE_RANGES.find((r) => cidrOverlaps(cidr, r.cidr));
      c.warn(
        path,
        lan
          ? `"${raw}" overlaps the private range ${lan.text}: it may shadow LAN hosts`
          : `"${raw}" is wider than a single host`,
        "list only the control plane's tunnel address (a /32 or /128); labman adds no routes for it",
      );
    }
    return text;
  });
}

function checkMode(c: Collector, config: LabmanConfig): void {
  const wg = config.wireguard;
  if (wg.mode === "off" || config.control_plane) return;
  if (wg.address === undefined || wg.peer === undefined) {
    c.error(
      wg.address === undefined ? ["wireguard", "address"] : ["wireguard", "peer"],
      `wireguard.mode = "${wg.mode}" needs a [control_plane] (which assigns the address and peer) ` +
        "or both wireguard.address and [wireguard.peer]",
      'add [control_plane], set wireguard.address and [wireguard.peer], or use mode = "off" (local mode)',
    );
  }
  const rp = config.rosenpass;
  if (rp.enabled && rp.peer_public_key_path === undefined) {
    c.error(
      ["rosenpass", "peer_public_key_path"],
      "is required without a [control_plane]: Rosenpass needs the peer's public key",
      "set it, or set rosenpass.enabled = false (no post-quantum PSK)",
    );
  }
}

function describeAddr(ip: Ip, raw: string): string {
  if (isUnspecified(ip)) return `"${raw}" binds every interface, including the LAN`;
  const lan = privateRangeOf(ip);
  if (lan) return `"${raw}" is a LAN address (${lan})`;
  if (isLoopback(ip)) return `"${raw}" is a loopback address`;
  return `"${raw}" is not the WireGuard address`;
}

/** Invariant 2: the proxy binds only to the WireGuard address (local mode: loopback). */
function checkProxyAddr(c: Collector, config: LabmanConfig, wgIp: Ip | undefined): void {
  const raw = config.proxy.listen_addr;
  if (raw === undefined) return;
  const path = ["proxy", "listen_addr"];
  const ip = parseIp(raw);
  const local = config.wireguard.mode === "off";
  if (!ip) {
    c.error(
      path,
      `${JSON.stringify(raw)}: ${ipSyntaxHint(unbracketHost(raw))}`,
      local ? 'use "127.0.0.1"' : "remove it: the proxy binds to the WireGuard address",
    );
    return;
  }
  config.proxy.listen_addr = formatIp(ip.bytes);
  if (local) {
    const ok = formatIp(ip.bytes) === "127.0.0.1" || formatIp(ip.bytes) === "::1";
    if (!ok) {
      c.error(
        path,
        `${
          describeAddr(ip, raw)
        }; in local mode (wireguard.mode = "off") the proxy binds only to 127.0.0.1 or ::1`,
        'use "127.0.0.1" or remove proxy.listen_addr',
      );
    }
    return;
  }
  if (wgIp) {
    if (!sameIp(ip, wgIp)) {
      c.error(
        path,
        `${describeAddr(ip, raw)}; the proxy binds only to the WireGuard address ${
          formatIp(wgIp.bytes)
        }`,
        `use "${formatIp(wgIp.bytes)}" or remove proxy.listen_addr`,
      );
    }
    return;
  }
  // An invalid wireguard.address was reported already; comparing against it would add noise.
  if (config.wireguard.address !== undefined) return;
  c.error(
    path,
    `${describeAddr(ip, raw)}; the proxy binds only to the WireGuard address, ` +
      "which is not known until registration",
    "remove proxy.listen_addr (the proxy binds to the assigned address) or also set wireguard.address",
  );
}

/** Invariant 3: admin and Portman listeners bind only to loopback. */
function checkLoopback(c: Collector, section: "admin" | "portman", raw: string): Ip | undefined {
  const ip = parseIp(raw);
  const path = [section, "listen_addr"];
  if (!ip) {
    c.error(path, `${JSON.stringify(raw)}: ${ipSyntaxHint(unbracketHost(raw))}`, 'use "127.0.0.1"');
    return undefined;
  }
  if (!isLoopback(ip)) {
    c.error(
      path,
      `${describeAddr(ip, raw)}; the ${section} listener binds only to loopback`,
      'use "127.0.0.1" (or "::1")',
    );
    return undefined;
  }
  return ip;
}

interface Listener {
  path: (string | number)[];
  label: string;
  /** undefined: the WireGuard address, not known yet (never loopback, never "all"). */
  addr: Ip | undefined;
  port: number;
}

function clashes(a: Listener, b: Listener): boolean {
  if (a.port !== b.port) return false;
  if (a.addr === undefined || b.addr === undefined) return a.addr === b.addr;
  if (isUnspecified(a.addr) || isUnspecified(b.addr)) return true;
  return sameIp(a.addr, b.addr);
}

function checkClashes(c: Collector, listeners: Listener[]): void {
  for (let i = 1; i < listeners.length; i++) {
    for (let j = 0; j < i; j++) {
      const [a, b] = [listeners[j], listeners[i]];
      if (!clashes(a, b)) continue;
      c.error(
        b.path,
        `port ${b.port} is also used by ${a.label} on ${
          a.addr ? formatIp(a.addr.bytes) : "the WireGuard address"
        }`,
        "choose a different port",
      );
      break;
    }
  }
}

function checkPorts(
  c: Collector,
  config: LabmanConfig,
  addrs: { wg?: Ip; admin?: Ip; portman?: Ip },
): void {
  const local = config.wireguard.mode === "off";
  const proxyIp = config.proxy.listen_addr !== undefined
    ? parseIp(config.proxy.listen_addr)
    : local
    ? parseIp("127.0.0.1")
    : addrs.wg;
  const tcp: Listener[] = [{
    path: ["proxy", "listen_port"],
    label: "proxy.listen_port",
    addr: proxyIp,
    port: config.proxy.listen_port,
  }];
  for (const area of ["admin", "portman"] as const) {
    const addr = addrs[area];
    if (!config[area].enabled || !addr) continue;
    tcp.push({
      path: [area, "listen_port"],
      label: `${area}.listen_port`,
      addr,
      port: config[area].listen_port,
    });
  }
  checkClashes(c, tcp);
  if (local) return;
  // UDP: WireGuard listens on every address; Rosenpass on rosenpass.listen.
  const udp: Listener[] = [];
  if (config.wireguard.listen_port !== 0) {
    udp.push({
      path: ["wireguard", "listen_port"],
      label: "wireguard.listen_port (UDP)",
      addr: parseIp("0.0.0.0"),
      port: config.wireguard.listen_port,
    });
  }
  const rp = config.rosenpass;
  if (rp.enabled) {
    const hp = splitHostPort(rp.listen);
    const ip = hp ? parseIp(hp.host) : undefined;
    if (!hp || !ip) {
      c.error(
        ["rosenpass", "listen"],
        `not "address:port": ${JSON.stringify(rp.listen)}`,
        'use e.g. "0.0.0.0:9999" or "[::]:9999"',
      );
    } else {
      udp.push({
        path: ["rosenpass", "listen"],
        label: "rosenpass.listen (UDP)",
        addr: ip,
        port: hp.port,
      });
    }
    if (rp.peer_endpoint !== undefined && !splitHostPort(rp.peer_endpoint)) {
      c.error(
        ["rosenpass", "peer_endpoint"],
        `not "host:port": ${JSON.stringify(rp.peer_endpoint)}`,
        'use e.g. "cp.example.net:9999"',
      );
    }
  }
  checkClashes(c, udp);
}

function checkHealth(c: Collector, config: LabmanConfig): void {
  const h = config.health;
  if (h.timeout_ms >= h.interval_s * 1000) {
    c.error(
      ["health", "timeout_ms"],
      `must be shorter than health.interval_s (${h.interval_s} s = ${
        h.interval_s * 1000
      } ms), or checks overlap`,
      "lower timeout_ms or raise interval_s",
    );
  }
  if (h.backoff_max_s < h.interval_s) {
    c.error(
      ["health", "backoff_max_s"],
      `must be at least health.interval_s (${h.interval_s})`,
      `raise backoff_max_s to ${h.interval_s} or more`,
    );
  }
  for (const key of ["unhealthy_after", "healthy_after"] as const) {
    if (h[key] > MAX_THRESHOLD) {
      c.error(
        ["health", key],
        `${h[key]} consecutive checks is too many (at most ${MAX_THRESHOLD})`,
        "use a small number such as 2 or 3",
      );
    }
  }
}

/** The shared body budget must fit at least one body of the largest size allowed. */
function checkProxyBounds(c: Collector, config: LabmanConfig): void {
  const p = config.proxy;
  if (p.max_body_bytes_in_flight < p.max_body_bytes) {
    c.error(
      ["proxy", "max_body_bytes_in_flight"],
      `is smaller than proxy.max_body_bytes (${p.max_body_bytes}): a request of the allowed ` +
        "size could never be accepted",
      `set it to at least ${p.max_body_bytes} (default ${64 * 1024 * 1024})`,
    );
  }
}

/**
 * Applies every cross-field rule to a config that already passed the zod schema. Returns a
 * normalised copy; the input is not changed.
 */
export function validateConfig(input: LabmanConfig): ValidationResult {
  const config = structuredClone(input);
  const c = new Collector();
  checkControlPlane(c, config);
  checkEndpoints(c, config);
  const wgIp = checkWireGuardAddress(c, config);
  if (config.wireguard.mode !== "off") {
    checkPeer(c, config);
    checkMode(c, config);
  }
  checkProxyAddr(c, config, wgIp);
  const admin = checkLoopback(c, "admin", config.admin.listen_addr);
  const portman = checkLoopback(c, "portman", config.portman.listen_addr);
  checkPorts(c, config, { wg: wgIp, admin, portman });
  checkHealth(c, config);
  checkProxyBounds(c, config);
  return { config, errors: c.errors, warnings: c.warnings };
}

/**
 * The one rule for the address the proxy binds (invariant 2): `proxy.listen_addr`, else
 * 127.0.0.1 in local mode, else the IP of the tunnel address in use (`assigned`, the one the
 * control plane gave, or `wireguard.address`); undefined while no address is known.
 */
export function proxyListenAddr(
  config: LabmanConfig,
  assigned?: string | null,
): string | undefined {
  if (config.proxy.listen_addr !== undefined) return config.proxy.listen_addr;
  if (config.wireguard.mode === "off") return "127.0.0.1";
  const address = assigned ?? config.wireguard.address;
  const cidr = address ? parseCidr(address) : undefined;
  return cidr ? formatIp(cidr.ip.bytes) : undefined;
}
