/**
 * Hands out single-host WireGuard addresses (`/32`) from an IPv4 pool, stable per key
 * (the node's WireGuard public key), so a node that registers again keeps its address.
 *
 * @module
 */

function parseIpv4(text: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

function formatIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

/** Parses `a.b.c.d/len` into its network number and size. */
export function parseCidr4(cidr: string): { network: number; prefix: number; size: number } {
  const [ip, len, extra] = cidr.split("/");
  const addr = ip === undefined ? undefined : parseIpv4(ip);
  const prefix = Number(len);
  if (addr === undefined || extra !== undefined || !/^\d{1,2}$/.test(len ?? "") || prefix > 32) {
    throw new TypeError(
      `Cannot parse address pool "${cidr}": expected IPv4 CIDR like 10.90.0.0/24`,
    );
  }
  const size = 2 ** (32 - prefix);
  const network = prefix === 0 ? 0 : (addr & (~(size - 1) >>> 0)) >>> 0;
  return { network, prefix, size };
}

export class AddressPool {
  #network: number;
  #size: number;
  #byKey = new Map<string, string>();
  #used = new Set<number>();

  /**
   * @param cidr IPv4 pool, e.g. `10.90.0.0/24`. Its network and broadcast addresses and its first
   * host (by convention the control plane's own tunnel address) are never handed out.
   * @param reserved more addresses (`a.b.c.d` or `a.b.c.d/32`) never handed out.
   */
  constructor(cidr: string, reserved: readonly string[] = []) {
    const { network, prefix, size } = parseCidr4(cidr);
    if (prefix > 29) {
      throw new RangeError(`Cannot use address pool "${cidr}": use a /29 or larger pool`);
    }
    this.#network = network;
    this.#size = size;
    this.#used.add(network).add(network + size - 1).add(network + 1);
    for (const r of reserved) {
      const ip = parseIpv4(r.replace(/\/32$/, ""));
      if (ip !== undefined) this.#used.add(ip);
    }
  }

  /** The key's address (`a.b.c.d/32`), allocating one on first use; `undefined` when full. */
  allocate(key: string): string | undefined {
    const known = this.#byKey.get(key);
    if (known) return known;
    for (let i = 0; i < this.#size; i++) {
      const ip = this.#network + i;
      if (this.#used.has(ip)) continue;
      this.#used.add(ip);
      const address = `${formatIpv4(ip)}/32`;
      this.#byKey.set(key, address);
      return address;
    }
    return undefined;
  }

  /** Number of addresses handed out. */
  get allocated(): number {
    return this.#byKey.size;
  }
}
