/**
 * One device/peer model shared by every WireGuard backend (kernel netlink, userspace UAPI, fake),
 * after wireguard-tools' `containers.h`: the same shape carries full state for `get` and a delta
 * for `set`, with explicit replace/remove flags instead of "zero means unset".
 *
 * @module
 */

/** 32-byte keys are carried as standard base64 (44 chars) at this boundary. */
export type Base64Key = string;

export interface WgAllowedIp {
  /** e.g. `10.90.0.1/32` or `fd00::1/128` */
  cidr: string;
}

export interface WgPeer {
  publicKey: Base64Key;
  presharedKey?: Base64Key;
  /** `host:port` or `[v6]:port` */
  endpoint?: string;
  persistentKeepaliveS?: number;
  allowedIps?: string[];
  /** set: replace this peer's allowed IPs instead of adding. */
  replaceAllowedIps?: boolean;
  /** set: remove this peer. */
  remove?: boolean;
  /** set: only update an existing peer, never create one. */
  updateOnly?: boolean;
  // get only:
  lastHandshakeMs?: number;
  rxBytes?: number;
  txBytes?: number;
  protocolVersion?: number;
}

export interface WgDevice {
  name: string;
  privateKey?: Base64Key;
  publicKey?: Base64Key;
  listenPort?: number;
  fwmark?: number;
  /** set: replace every peer instead of merging. */
  replacePeers?: boolean;
  peers: WgPeer[];
}

/** Address, link and routes of the interface (rtnetlink side). */
export interface InterfaceSpec {
  name: string;
  /** Single /32 or /128 (invariant 1). */
  address: string;
  mtu?: number;
  /** Routes to add: exactly the control-plane peer's allowed IPs. */
  routes: string[];
}

/** The WireGuard seam: list/get/set plus link lifecycle. */
export interface WireGuardBackend {
  readonly kind: "kernel" | "userspace" | "fake";
  /** Creates the link (removing a stale one of the same name) and brings it up with address and routes. */
  create(spec: InterfaceSpec): Promise<void>;
  /** Applies a device delta. */
  set(device: WgDevice): Promise<void>;
  /** Reads full device state. */
  get(name: string): Promise<WgDevice>;
  /** Removes the link (and any userspace process behind it). Idempotent. */
  destroy(name: string): Promise<void>;
  /**
   * Releases what the backend holds (netlink sockets; wireguard-go processes it started, with
   * their links). The backend is unusable afterwards. Idempotent.
   */
  close(): Promise<void>;
  /**
   * Liveness of what carries the interface, for backends that run something (wireguard-go):
   * restarts so far and, once it cannot be kept up, why. Absent: nothing to supervise.
   */
  health?(name: string): BackendHealth;
}

export interface BackendHealth {
  /** Restarts after unexpected exits since the interface was created. */
  restarts: number;
  /** Set once the backend gave up keeping the interface up. */
  failure: string | null;
}
