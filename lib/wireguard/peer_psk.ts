/**
 * Setting one peer's PSK, shared by every backend.
 *
 * A PSK change only affects the *next* WireGuard handshake: the current session keys keep
 * carrying traffic for up to 180 s. That is fine for a fresh Rosenpass key, but not for a
 * fail-closed install (invariant 6), where traffic must stop now. Removing and re-adding the
 * peer discards its session keys, so nothing flows until a handshake with the new PSK succeeds.
 *
 * @module
 */
import type { Base64Key, WgDevice, WireGuardBackend } from "./types.ts";

export interface SetPeerPskOptions {
  /** Drop the peer's current session so the new PSK takes effect at once. @default false */
  dropSession?: boolean;
}

export async function applyPeerPsk(
  backend: Pick<WireGuardBackend, "get"> & { set(device: WgDevice): Promise<void> },
  name: string,
  peerPublicKey: Base64Key,
  psk: Base64Key,
  options: SetPeerPskOptions = {},
): Promise<void> {
  if (!options.dropSession) {
    await backend.set({
      name,
      peers: [{ publicKey: peerPublicKey, updateOnly: true, presharedKey: psk }],
    });
    return;
  }
  const current = (await backend.get(name)).peers.find((p) => p.publicKey === peerPublicKey);
  if (!current) {
    throw new Error(`Cannot set the PSK of peer ${peerPublicKey} on ${name}: no such peer`);
  }
  await backend.set({ name, peers: [{ publicKey: peerPublicKey, remove: true }] });
  await backend.set({
    name,
    peers: [{
      publicKey: peerPublicKey,
      presharedKey: psk,
      ...(current.endpoint !== undefined ? { endpoint: current.endpoint } : {}),
      ...(current.persistentKeepaliveS !== undefined
        ? { persistentKeepaliveS: current.persistentKeepaliveS }
        : {}),
      allowedIps: current.allowedIps ?? [],
      replaceAllowedIps: true,
    }],
  });
}
