/**
 * Finds inference servers: a TCP connect to each host × well-known port, then the fingerprint
 * questions to every port that accepted. Loopback only unless the caller names other hosts —
 * probing a LAN is something an operator asks for, never a default (docs/endpoints.md).
 *
 * @module
 */
import { type Fingerprint, identifyServer, type ServerKind } from "../registry/mod.ts";
import { joinHostPort } from "../net/mod.ts";

/** Default ports of each server; several share 8080 and 1234, hence the fingerprints. */
export const WELL_KNOWN_PORTS: Readonly<Record<number, readonly ServerKind[]>> = Object.freeze({
  11434: ["ollama"],
  8000: ["vllm"],
  8080: ["llamacpp", "tgi", "mistralrs", "localai"],
  1234: ["lmstudio", "mistralrs"],
  30000: ["sglang"],
  3000: ["tgi"],
  5001: ["koboldcpp"],
});

export const DEFAULT_PORTS: readonly number[] = Object.freeze(
  Object.keys(WELL_KNOWN_PORTS).map(Number).sort((a, b) => a - b),
);

export const LOOPBACK_HOSTS: readonly string[] = Object.freeze(["127.0.0.1"]);

/** Most hosts one scan may cover (a /24 is 254). */
export const MAX_HOSTS = 256;

export interface ScanOptions {
  /** @default LOOPBACK_HOSTS */
  hosts?: readonly string[];
  /** @default DEFAULT_PORTS */
  ports?: readonly number[];
  /** TCP connect deadline per host:port. @default 500 */
  connectTimeoutMs?: number;
  /** Per HTTP request while fingerprinting. @default 2000 */
  requestTimeoutMs?: number;
  /** Ports probed at once. @default 16 */
  concurrency?: number;
  signal?: AbortSignal;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
  /** Seam for tests. @default a real TCP connect */
  isOpen?: (host: string, port: number, timeoutMs: number) => Promise<boolean>;
}

export interface FoundServer extends Fingerprint {
  readonly host: string;
  readonly port: number;
  /** `http://host:port/v1`, ready for `base_url`. */
  readonly baseUrl: string;
}

export interface ScanResult {
  readonly servers: FoundServer[];
  /** host:port pairs that accepted a connection but answered nothing we recognise. */
  readonly unknown: string[];
  /** How many host:port pairs were tried. */
  readonly probed: number;
}

async function tcpOpen(host: string, port: number, timeoutMs: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const attempt = Deno.connect({ hostname: host, port });
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), timeoutMs);
  });
  try {
    const r = await Promise.race([attempt, timeout]);
    if (r === "timeout") {
      // Close the socket if it connects after all, so nothing leaks.
      attempt.then((c) => c.close(), () => {});
      return false;
    }
    r.close();
    return true;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

/** Probes every host × port; servers come back in host, then port order. */
export async function scanServers(options: ScanOptions = {}): Promise<ScanResult> {
  const hosts = options.hosts ?? LOOPBACK_HOSTS;
  const ports = options.ports ?? DEFAULT_PORTS;
  if (hosts.length > MAX_HOSTS) {
    throw new RangeError(
      `Cannot scan ${hosts.length} hosts: at most ${MAX_HOSTS} — name fewer hosts or a smaller range`,
    );
  }
  const isOpen = options.isOpen ?? tcpOpen;
  const pairs = hosts.flatMap((host) => ports.map((port) => ({ host, port })));
  const results: (FoundServer | string | undefined)[] = new Array(pairs.length);
  let next = 0;
  const worker = async () => {
    while (next < pairs.length && !options.signal?.aborted) {
      const i = next++;
      const { host, port } = pairs[i]!;
      if (!(await isOpen(host, port, options.connectTimeoutMs ?? 500))) continue;
      const root = `http://${joinHostPort(host, port)}`;
      const fp = await identifyServer(root, {
        timeoutMs: options.requestTimeoutMs ?? 2000,
        ...(options.fetch ? { fetch: options.fetch } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      });
      results[i] = fp ? { ...fp, host, port, baseUrl: `${root}/v1` } : joinHostPort(host, port);
    }
  };
  const n = Math.max(1, Math.min(options.concurrency ?? 16, pairs.length));
  await Promise.all(Array.from({ length: n }, worker));
  return {
    servers: results.filter((r): r is FoundServer => typeof r === "object"),
    unknown: results.filter((r): r is string => typeof r === "string"),
    probed: pairs.length,
  };
}

/**
 * Expands `--hosts`: names and addresses as given, IPv4 CIDR ranges (/24 or narrower) into
 * their host addresses. Throws a RangeError naming the bad entry.
 */
export function expandHosts(list: readonly string[]): string[] {
  const out: string[] = [];
  for (const raw of list) {
    const entry = raw.trim();
    if (entry === "") continue;
    const cidr = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(entry);
    if (cidr) {
      const octets = cidr.slice(1, 5).map(Number);
      const bits = Number(cidr[5]);
      if (octets.some((o) => o > 255) || bits > 32) {
        throw new RangeError(`Cannot scan "${entry}": not an IPv4 range — use e.g. 192.168.1.0/24`);
      }
      if (bits < 24) {
        throw new RangeError(
          `Cannot scan "${entry}": ranges wider than /24 are refused — name a /24 or narrower`,
        );
      }
      const base = ((octets[0]! << 24) | (octets[1]! << 16) | (octets[2]! << 8) | octets[3]!) >>> 0;
      const size = 2 ** (32 - bits);
      const start = (base & ~(size - 1)) >>> 0;
      // Skip the network and broadcast addresses of ranges that have them.
      const first = size > 2 ? 1 : 0;
      const last = size > 2 ? size - 2 : size - 1;
      for (let k = first; k <= last; k++) {
        const a = (start + k) >>> 0;
        out.push(`${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`);
      }
      continue;
    }
    if (!/^[A-Za-z0-9.:\-\[\]%]+$/.test(entry)) {
      throw new RangeError(`Cannot scan "${entry}": not a host name, address or IPv4 range`);
    }
    out.push(entry.replace(/^\[(.*)\]$/, "$1"));
  }
  return [...new Set(out)];
}
