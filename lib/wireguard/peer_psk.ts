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
import type { Base64Key, WireGuardBackend } from "./types.ts";

export interface SetPeerPskOptions {
  /** Drop the peer's current session so the new PSK takes effect at once. @default false */
  dropSession?: boolean;
}

/**
 * Sets one peer's PSK (Rosenpass rotation) through any backend's `get`/`set`: update-only, so a
 * PSK for an unknown peer never creates one. With `dropSession` the peer's current session is
 * discarded too, so a fail-closed key stops traffic at once rather than at the next rekey.
 */
export async function setPeerPsk(
  backend: Pick<WireGuardBackend, "get" | "set">,
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

/** {@linkcode setPeerPsk} bound to `backend`: what the Rosenpass supervisor writes PSKs into. */
export function pskTarget(backend: Pick<WireGuardBackend, "get" | "set">): {
  setPeerPsk(
    name: string,
    peerPublicKey: Base64Key,
    psk: Base64Key,
    options?: SetPeerPskOptions,
  ): Promise<void>;
} {
  return {
    setPeerPsk: (name, peerPublicKey, psk, options) =>
      setPeerPsk(backend, name, peerPublicKey, psk, options),
  };
}
