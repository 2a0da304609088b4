/**
 * Chooses the WireGuard backend: kernel when the host can create `wireguard` links and resolve
 * the genl family, userspace (wireguard-go) otherwise, or whatever the config forces.
 *
 * @module
 */
import { getLogger } from "../telemetry/mod.ts";
import { Errno } from "./errno.ts";
import { KernelBackend, resolveWireGuardFamily } from "./kernel.ts";
import { NETLINK_GENERIC, NetlinkSocket } from "./netlink_socket.ts";
import { NetlinkError } from "./nlmsg.ts";
import { NetlinkLinkOps } from "./rtnl.ts";
import type { WireGuardBackend } from "./types.ts";
import { UserspaceBackend } from "./userspace.ts";

export type BackendMode = "auto" | "kernel" | "userspace";

/** Result of probing for kernel WireGuard. */
export interface KernelProbe {
  available: boolean;
  reason: string;
}

/** The pure decision: which kind to use and why. Throws when `kernel` is forced but absent. */
export function decideBackend(
  mode: BackendMode,
  probe: KernelProbe | undefined,
): { kind: "kernel" | "userspace"; reason: string } {
  if (mode === "userspace") return { kind: "userspace", reason: 'wireguard.mode is "userspace"' };
  if (!probe) throw new TypeError(`Cannot choose a backend for mode "${mode}": no kernel probe`);
  if (mode === "kernel") {
    if (probe.available) return { kind: "kernel", reason: 'wireguard.mode is "kernel"' };
    throw new Error(
      `Cannot use wireguard.mode "kernel": ${probe.reason} — load the wireguard module or set wireguard.mode = "auto"`,
    );
  }
  return probe.available
    ? { kind: "kernel", reason: `auto: ${probe.reason}` }
    : { kind: "userspace", reason: `auto: ${probe.reason}; using wireguard-go` };
}

/**
 * Tries `RTM_NEWLINK kind=wireguard` on a throwaway name first (it can autoload the module),
 * then the genl family lookup. Leaves nothing behind.
 */
export async function probeKernelWireGuard(): Promise<KernelProbe> {
  let links: NetlinkLinkOps | undefined;
  let genl: NetlinkSocket | undefined;
  const name = `lmprobe${crypto.getRandomValues(new Uint16Array(1))[0].toString(16)}`;
  try {
    links = new NetlinkLinkOps();
    try {
      await links.createLink(name, "wireguard");
    } catch (e) {
      if (e instanceof NetlinkError && e.errno === Errno.EOPNOTSUPP) {
        return {
          available: false,
          reason: 'kernel has no WireGuard (link kind "wireguard": EOPNOTSUPP)',
        };
      }
      return {
        available: false,
        reason: `cannot create a wireguard link: ${(e as Error).message}`,
      };
    }
    await links.deleteLink(name);
    genl = NetlinkSocket.open(NETLINK_GENERIC);
    const id = await resolveWireGuardFamily(genl);
    return { available: true, reason: `kernel WireGuard present (genl family id ${id})` };
  } catch (e) {
    return { available: false, reason: `kernel WireGuard unusable: ${(e as Error).message}` };
  } finally {
    await links?.deleteLink(name).catch(() => {});
    links?.close();
    genl?.close();
  }
}

export interface SelectDeps {
  /** @default probeKernelWireGuard */
  probeKernel?: () => Promise<KernelProbe>;
  /** @default () => new KernelBackend() */
  makeKernel?: () => WireGuardBackend;
  /** @default () => new UserspaceBackend() */
  makeUserspace?: () => WireGuardBackend;
}

/** Picks and constructs the backend, logging which one and why. */
export async function selectBackend(
  mode: BackendMode,
  deps: SelectDeps = {},
): Promise<{ backend: WireGuardBackend; reason: string }> {
  const probe = mode === "userspace"
    ? undefined
    : await (deps.probeKernel ?? probeKernelWireGuard)();
  const { kind, reason } = decideBackend(mode, probe);
  const backend = kind === "kernel"
    ? (deps.makeKernel ?? (() => new KernelBackend()))()
    : (deps.makeUserspace ?? (() => new UserspaceBackend()))();
  getLogger("wireguard").info("WireGuard backend: {kind} ({reason})", { kind, reason });
  return { backend, reason };
}
