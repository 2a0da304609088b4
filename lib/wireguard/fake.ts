/**
 * An in-memory WireGuard backend for tests of code above the seam (bring-up, metrics, daemon
 * lifecycle). It applies deltas with the same semantics as the real backends.
 *
 * @module
 */
import { applyDelta } from "./device_state.ts";
import { encodeKey, publicKeyFromPrivate } from "./keys.ts";
import type { Base64Key, InterfaceSpec, WgDevice, WgPeer, WireGuardBackend } from "./types.ts";

export class FakeBackend implements WireGuardBackend {
  readonly kind = "fake" as const;
  readonly links = new Map<string, InterfaceSpec>();
  readonly devices = new Map<string, WgDevice>();
  /** Every call, in order, for assertions. */
  readonly calls: string[] = [];
  /** Runtime counters a test can set per interface and peer key. */
  readonly stats = new Map<string, Map<Base64Key, Partial<WgPeer>>>();

  create(spec: InterfaceSpec): Promise<void> {
    this.calls.push(`create ${spec.name}`);
    this.links.set(spec.name, structuredClone(spec));
    this.devices.set(spec.name, { name: spec.name, peers: [] });
    return Promise.resolve();
  }

  set(device: WgDevice): Promise<void> {
    this.calls.push(`set ${device.name}`);
    const cur = this.devices.get(device.name);
    if (!cur) return Promise.reject(new Error(`Cannot configure ${device.name}: no such device`));
    this.devices.set(device.name, applyDelta(cur, device));
    return Promise.resolve();
  }

  async get(name: string): Promise<WgDevice> {
    const cur = this.devices.get(name);
    if (!cur) throw new Error(`Cannot read ${name}: no such device`);
    const stats = this.stats.get(name);
    const { replacePeers: _r, ...rest } = cur;
    // As the kernel does: the public key is derived from the private one.
    const publicKey = cur.privateKey
      ? { publicKey: encodeKey(await publicKeyFromPrivate(cur.privateKey)) }
      : {};
    return {
      ...structuredClone(rest),
      ...publicKey,
      peers: cur.peers.map(({ replaceAllowedIps: _x, ...p }) => ({
        lastHandshakeMs: 0,
        rxBytes: 0,
        txBytes: 0,
        ...structuredClone(p),
        ...stats?.get(p.publicKey),
      })),
    };
  }

  destroy(name: string): Promise<void> {
    this.calls.push(`destroy ${name}`);
    this.links.delete(name);
    this.devices.delete(name);
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.calls.push("close");
    this.links.clear();
    this.devices.clear();
    return Promise.resolve();
  }
}
