/**
 * Link, address and route operations for the WireGuard interface. `NetlinkLinkOps` speaks
 * rtnetlink through the FFI socket; `IpCommandLinkOps` shells out to iproute2 and exists only
 * for hosts where FFI is unavailable.
 *
 * @module
 */
import { type Cidr, parseCidr } from "./cidr.ts";
import { Errno } from "./errno.ts";
import { NetlinkError } from "./nlmsg.ts";
import { NETLINK_ROUTE, NetlinkSocket } from "./netlink_socket.ts";
import {
  type AddrInfo,
  delLinkMessage,
  getAddrMessage,
  getLinkMessage,
  getRouteMessage,
  type LinkInfo,
  newAddrMessage,
  newLinkMessage,
  newRouteMessage,
  noLinkLocalMessage,
  parseAddr,
  parseLink,
  parseRoute,
  type RouteInfo,
  RTM_NEWADDR,
  RTM_NEWLINK,
  RTM_NEWROUTE,
  setLinkMessage,
} from "./rtnetlink.ts";

/** The rtnetlink operations the WireGuard backends need, by interface name. */
export interface LinkOps {
  getLink(name: string): Promise<LinkInfo | undefined>;
  /** Creates a link of `kind`; EEXIST if present. */
  createLink(name: string, kind: string, mtu?: number): Promise<void>;
  /** Deletes the link; false if it did not exist. */
  deleteLink(name: string): Promise<boolean>;
  setLink(name: string, opts: { up?: boolean; mtu?: number }): Promise<void>;
  /** Stops the kernel adding an IPv6 link-local address when the link goes up. */
  disableLinkLocal(name: string): Promise<void>;
  addAddress(name: string, cidr: string): Promise<void>;
  /** Adds a device route (host bits of `cidr` are masked off). */
  addRoute(name: string, cidr: string): Promise<void>;
  listAddresses(name: string): Promise<AddrInfo[]>;
  /** Routes in the main table whose output interface is `name`. */
  listRoutes(name: string): Promise<RouteInfo[]>;
  close(): void;
}

/** Zeroes the host bits so the kernel accepts the prefix as a route destination. */
export function networkOf(c: Cidr): Cidr {
  const bytes = c.bytes.slice();
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, c.prefixLen - 8 * i));
    bytes[i] &= (0xff << (8 - keep)) & 0xff;
  }
  return { ...c, bytes };
}

export class NetlinkLinkOps implements LinkOps {
  #sock: NetlinkSocket;

  constructor(sock?: NetlinkSocket) {
    this.#sock = sock ?? NetlinkSocket.open(NETLINK_ROUTE);
  }

  async getLink(name: string): Promise<LinkInfo | undefined> {
    try {
      const replies = await this.#sock.request(getLinkMessage(name), `look up link ${name}`);
      const link = replies.find((m) => m.type === RTM_NEWLINK);
      return link ? parseLink(link) : undefined;
    } catch (e) {
      if (e instanceof NetlinkError && e.errno === Errno.ENODEV) return undefined;
      throw e;
    }
  }

  async createLink(name: string, kind: string, mtu?: number): Promise<void> {
    await this.#sock.request(newLinkMessage(name, kind, mtu), `create ${kind} link ${name}`);
  }

  async deleteLink(name: string): Promise<boolean> {
    const link = await this.getLink(name);
    if (!link) return false;
    try {
      await this.#sock.request(delLinkMessage(link.index), `delete link ${name}`);
    } catch (e) {
      // wireguard-go may remove its TUN between our lookup and the delete.
      if (e instanceof NetlinkError && e.errno === Errno.ENODEV) return false;
      throw e;
    }
    return true;
  }

  async setLink(name: string, opts: { up?: boolean; mtu?: number }): Promise<void> {
    const index = await this.#index(name);
    await this.#sock.request(setLinkMessage(index, opts), `configure link ${name}`);
  }

  async disableLinkLocal(name: string): Promise<void> {
    const index = await this.#index(name);
    await this.#sock.request(noLinkLocalMessage(index), `disable IPv6 link-local on ${name}`);
  }

  async addAddress(name: string, cidr: string): Promise<void> {
    const index = await this.#index(name);
    await this.#sock.request(
      newAddrMessage(index, parseCidr(cidr, "address")),
      `add address ${cidr} to ${name}`,
    );
  }

  async addRoute(name: string, cidr: string): Promise<void> {
    const index = await this.#index(name);
    await this.#sock.request(
      newRouteMessage(index, networkOf(parseCidr(cidr, "route"))),
      `add route ${cidr} dev ${name}`,
    );
  }

  async listAddresses(name: string): Promise<AddrInfo[]> {
    const index = await this.#index(name);
    const replies = await this.#sock.request(getAddrMessage(), "list addresses");
    return replies.filter((m) => m.type === RTM_NEWADDR).map(parseAddr)
      .filter((a) => a.index === index);
  }

  async listRoutes(name: string): Promise<RouteInfo[]> {
    const index = await this.#index(name);
    const out: RouteInfo[] = [];
    for (const family of [4, 6] as const) {
      const replies = await this.#sock.request(getRouteMessage(family), "list routes");
      out.push(...replies.filter((m) => m.type === RTM_NEWROUTE).map(parseRoute));
    }
    return out.filter((r) => r.oif === index && r.table === 254);
  }

  close(): void {
    this.#sock.close();
  }

  async #index(name: string): Promise<number> {
    const link = await this.getLink(name);
    if (!link) throw new NetlinkError(Errno.ENODEV, `find link ${name}`);
    return link.index;
  }
}

/** The parts of `ip -j addr show` output used here. */
interface IpAddrJson {
  ifindex: number;
  addr_info?: { family: string; prefixlen: number; local: string }[];
}

/** iproute2 fallback, used only when FFI is unavailable (never mixed with NetlinkLinkOps). */
export class IpCommandLinkOps implements LinkOps {
  constructor(readonly ipPath = "ip") {}

  async #ip(args: string[], what: string, allowFail = false): Promise<string> {
    const out = await new Deno.Command(this.ipPath, { args, stdout: "piped", stderr: "piped" })
      .output();
    const text = new TextDecoder().decode(out.stdout);
    if (!out.success && !allowFail) {
      throw new Error(
        `Cannot ${what}: ip ${args.join(" ")}: ${new TextDecoder().decode(out.stderr).trim()}`,
      );
    }
    return out.success ? text : "";
  }

  async getLink(name: string): Promise<LinkInfo | undefined> {
    const text = await this.#ip(["-j", "-d", "link", "show", "dev", name], `look up ${name}`, true);
    if (!text) return undefined;
    const [l] = JSON.parse(text);
    return {
      index: l.ifindex,
      name: l.ifname,
      flags: l.flags?.includes("UP") ? 1 : 0,
      mtu: l.mtu,
      kind: l.linkinfo?.info_kind,
    };
  }

  async createLink(name: string, kind: string, mtu?: number): Promise<void> {
    await this.#ip(
      ["link", "add", name, ...(mtu ? ["mtu", String(mtu)] : []), "type", kind],
      `create ${name}`,
    );
  }

  async deleteLink(name: string): Promise<boolean> {
    if (!await this.getLink(name)) return false;
    await this.#ip(["link", "del", name], `delete ${name}`);
    return true;
  }

  async setLink(name: string, opts: { up?: boolean; mtu?: number }): Promise<void> {
    const args = ["link", "set", "dev", name];
    if (opts.mtu !== undefined) args.push("mtu", String(opts.mtu));
    if (opts.up !== undefined) args.push(opts.up ? "up" : "down");
    await this.#ip(args, `configure ${name}`);
  }

  async disableLinkLocal(name: string): Promise<void> {
    await this.#ip(["link", "set", "dev", name, "addrgenmode", "none"], `configure ${name}`);
  }

  async addAddress(name: string, cidr: string): Promise<void> {
    await this.#ip(["addr", "add", cidr, "dev", name], `add address ${cidr} to ${name}`);
  }

  async addRoute(name: string, cidr: string): Promise<void> {
    const c = parseCidr(cidr, "route");
    await this.#ip(
      [c.family === 4 ? "-4" : "-6", "route", "add", cidr, "dev", name],
      `add route ${cidr}`,
    );
  }

  async listAddresses(name: string): Promise<AddrInfo[]> {
    const [l] = JSON.parse(
      await this.#ip(["-j", "addr", "show", "dev", name], `list addresses`),
    ) as IpAddrJson[];
    return (l?.addr_info ?? []).map((a) => ({
      index: l.ifindex,
      family: a.family === "inet" ? 4 : 6,
      prefixLen: a.prefixlen,
      address: a.local,
    }));
  }

  async listRoutes(name: string): Promise<RouteInfo[]> {
    const out: RouteInfo[] = [];
    for (const [flag, family] of [["-4", 4], ["-6", 6]] as const) {
      const routes = JSON.parse(
        await this.#ip(["-j", flag, "route", "show", "dev", name], "list routes"),
      ) as { dst: string }[];
      for (const r of routes) {
        const dflt = family === 4 ? "0.0.0.0/0" : "::/0";
        const [dst, len] = (r.dst === "default" ? dflt : r.dst).split("/");
        out.push({
          family,
          dst,
          dstLen: Number(len ?? (family === 4 ? 32 : 128)),
          table: 254,
          protocol: 0,
          scope: 0,
          type: 1,
        });
      }
    }
    return out;
  }

  close(): void {}
}

/** NetlinkLinkOps when libmnl loads, else the iproute2 fallback. */
export function defaultLinkOps(): LinkOps {
  try {
    return new NetlinkLinkOps();
  } catch {
    return new IpCommandLinkOps();
  }
}
