/**
 * Test fixtures for control-plane messages (used by lib/control and lib/refcp tests).
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { HeartbeatStatus } from "./session.ts";
import { PROTOCOL_VERSION, type RegisterRequest, ROSENPASS_PUBLIC_KEY_BYTES } from "./schema.ts";

/** A random 32-byte key in base64 (shape of a WireGuard public key). */
export function randomKey(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64");
}

let rosenpassKey: string | undefined;
/** A random Rosenpass-sized public key in base64 (cached: 700 kB). */
export function randomRosenpassKey(): string {
  if (!rosenpassKey) {
    const bytes = new Uint8Array(ROSENPASS_PUBLIC_KEY_BYTES);
    for (let i = 0; i < bytes.length; i += 65536) {
      crypto.getRandomValues(bytes.subarray(i, Math.min(bytes.length, i + 65536)));
    }
    rosenpassKey = Buffer.from(bytes).toString("base64");
  }
  return rosenpassKey;
}

export function registerRequest(overrides: Partial<RegisterRequest> = {}): RegisterRequest {
  return {
    protocol_version: PROTOCOL_VERSION,
    node: { name: "gpu-box-1", labman_version: "0.1.0" },
    capabilities: { models: ["llama3:8b"], endpoint_count: 1, max_concurrent_requests: 4 },
    wireguard_public_key: randomKey(),
    ...overrides,
  };
}

export function heartbeatStatus(overrides: Partial<HeartbeatStatus> = {}): HeartbeatStatus {
  return {
    state: "active",
    uptime_s: 12,
    endpoints: [
      { name: "ollama", healthy: true, models: ["llama3:8b"], in_flight: 0, max_concurrent: 4 },
    ],
    requests: { total: 10, errors: 0, in_flight: 0, queue_depth: 0 },
    pq: { state: "active", psk_age_s: 30 },
    wireguard: { backend: "userspace", last_handshake_age_s: 5, rx_bytes: 1000, tx_bytes: 2000 },
    capabilities: { models: ["llama3:8b"], endpoint_count: 1, max_concurrent_requests: 4 },
    ...overrides,
  };
}
