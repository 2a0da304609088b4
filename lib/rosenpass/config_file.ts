/**
 * Renders the TOML config for `rosenpass exchange-config` (pure). The peer gets `key_out` only,
 * never `device`/`peer`, so rosenpass never runs `wg`: labmand applies every key itself through
 * the WireGuard backend and keeps the fail-closed guard in one place.
 *
 * @module
 */
import { stringify } from "smol-toml";

export interface RosenpassPeerConfig {
  /** Path of the peer's Rosenpass public key (raw binary). */
  publicKeyPath: string;
  /**
   * `host:port` of the peer's rosenpass. Only the side that has it initiates: the node has the
   * control plane's endpoint, the control plane side has none and only responds.
   */
  endpoint?: string;
  /** Where rosenpass writes each new key (base64) before announcing it on stdout. */
  keyOutPath: string;
}

export interface RosenpassConfigInput {
  publicKeyPath: string;
  secretKeyPath: string;
  /** Socket addresses to listen on; `127.0.0.1:0` binds a random port. */
  listen: string[];
  peer: RosenpassPeerConfig;
}

/** Returns the config text; throws a TypeError naming the field when a value cannot work. */
export function renderRosenpassConfig(input: RosenpassConfigInput): string {
  const paths: [string, string][] = [
    ["publicKeyPath", input.publicKeyPath],
    ["secretKeyPath", input.secretKeyPath],
    ["peer.publicKeyPath", input.peer.publicKeyPath],
    ["peer.keyOutPath", input.peer.keyOutPath],
  ];
  for (const [field, value] of paths) {
    if (!value.startsWith("/")) {
      throw new TypeError(
        `Cannot render rosenpass config: ${field} must be an absolute path, got ${
          JSON.stringify(value)
        } — rosenpass resolves relative paths against its own working directory`,
      );
    }
  }
  for (const addr of [...input.listen, ...(input.peer.endpoint ? [input.peer.endpoint] : [])]) {
    if (!/^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+):\d{1,5}$/.test(addr)) {
      throw new TypeError(
        `Cannot render rosenpass config: ${JSON.stringify(addr)} is not host:port or [v6]:port`,
      );
    }
  }
  const peer: Record<string, string> = { public_key: input.peer.publicKeyPath };
  if (input.peer.endpoint) peer.endpoint = input.peer.endpoint;
  peer.key_out = input.peer.keyOutPath;
  return stringify({
    public_key: input.publicKeyPath,
    secret_key: input.secretKeyPath,
    listen: input.listen,
    // stdout carries only `output-key` lines either way; Quiet keeps stderr to real problems.
    verbosity: "Quiet",
    peers: [peer],
  }) + "\n";
}
