/**
 * The kernel backend: a `wireguard` link made with rtnetlink and configured with generic
 * netlink (WG_CMD_GET_DEVICE / WG_CMD_SET_DEVICE). The build host's kernel has no WireGuard
 * module, so `tests/wireguard_kernel_test.ts` runs this backend in a Debian kernel under QEMU.
 *
 * @module
 */
import { getLogger } from "../telemetry/mod.ts";
import {
  getDeviceMessage,
  getFamilyMessage,
  parseDeviceDump,
  parseFamilyId,
  setDeviceMessages,
  WG_GENL_NAME,
} from "./genl.ts";
import { NETLINK_GENERIC, NetlinkSocket } from "./netlink_socket.ts";
import { defaultLinkOps, type LinkOps } from "./rtnl.ts";
import type { InterfaceSpec, WgDevice, WireGuardBackend } from "./types.ts";

const log = getLogger("wireguard", "kernel");

/** Resolves the runtime id of the "wireguard" genl family; throws NetlinkError (ENOENT) if absent. */
export async function resolveWireGuardFamily(sock: NetlinkSocket): Promise<number> {
  const [reply] = await sock.request(
    getFamilyMessage(WG_GENL_NAME),
    "resolve genl family wireguard",
  );
  if (!reply) throw new Error("Cannot resolve genl family wireguard: empty reply");
  return parseFamilyId(reply);
}

export interface KernelOptions {
  /** @default NetlinkLinkOps */
  links?: LinkOps;
  /** @default a new NETLINK_GENERIC socket */
  genl?: NetlinkSocket;
}

export class KernelBackend implements WireGuardBackend {
  readonly kind = "kernel" as const;
  #links: LinkOps;
  #genl: NetlinkSocket;
  #family?: number;
  #closed = false;

  constructor(options: KernelOptions = {}) {
    this.#links = options.links ?? defaultLinkOps();
    this.#genl = options.genl ?? NetlinkSocket.open(NETLINK_GENERIC);
  }

  async #familyId(): Promise<number> {
    return this.#family ??= await resolveWireGuardFamily(this.#genl);
  }

  async create(spec: InterfaceSpec): Promise<void> {
    if (await this.#links.deleteLink(spec.name)) {
      log.warn("removed stale interface {name} before creating it", { name: spec.name });
    }
    await this.#links.createLink(spec.name, "wireguard", spec.mtu ?? 1420);
    try {
      await this.#links.disableLinkLocal(spec.name).catch(() => {});
      await this.#links.setLink(spec.name, { up: true });
      await this.#links.addAddress(spec.name, spec.address);
      for (const r of spec.routes) await this.#links.addRoute(spec.name, r);
    } catch (e) {
      await this.#links.deleteLink(spec.name).catch(() => {});
      throw e;
    }
  }

  async set(device: WgDevice): Promise<void> {
    const msgs = setDeviceMessages(await this.#familyId(), device);
    await this.#genl.requestAll(msgs, `set WireGuard device ${device.name}`);
  }

  async get(name: string): Promise<WgDevice> {
    const replies = await this.#genl.request(
      getDeviceMessage(await this.#familyId(), name),
      `get WireGuard device ${name}`,
    );
    const { ifindex: _ifindex, ...device } = parseDeviceDump(replies);
    return { ...device, name };
  }

  async destroy(name: string): Promise<void> {
    await this.#links.deleteLink(name);
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#genl.close();
      this.#links.close();
    }
    return Promise.resolve();
  }
}
