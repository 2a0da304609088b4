/**
 * The tunnel half of the supervisor: `labman0` from the registration answer (or static config),
 * and the Rosenpass child that keeps its PSK post-quantum. Invariants 1 and 6 are enforced by
 * the modules used here (`bringUp` validates address and routes; the PSK guard fails closed);
 * this file only wires them in start-up order.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { LabmanConfig } from "../lib/config/mod.ts";
import type { RegisterResponse } from "../lib/control/mod.ts";
import { randomPsk, type RosenpassStatus, RosenpassSupervisor } from "../lib/rosenpass/mod.ts";
import { Counter } from "prom-client";
import type { TunnelSample } from "../lib/lifecycle/mod.ts";
import { getLogger, type SupervisorRegistry as Registry } from "../lib/telemetry/mod.ts";
import {
  type Base64Key,
  bringUp,
  type InterfaceStatus,
  pskTarget,
  selectBackend,
  status as wgStatus,
  tearDown,
  UserspaceBackend,
  type WireGuardBackend,
  wireguardMetrics,
} from "../lib/wireguard/mod.ts";

const log = getLogger("tunnel");

/** Where the tunnel's peer comes from: registration, or the static config before/without it. */
export interface TunnelPlan {
  address: string;
  listenPort: number;
  peer: {
    publicKey: Base64Key;
    endpoint?: string;
    allowedIps: string[];
    persistentKeepaliveS: number;
  };
  rosenpass: { peerPublicKey: Uint8Array | null; peerEndpoint: string | null } | null;
}

/** Pure: the plan from config and an optional registration answer (which wins). */
export function planTunnel(config: LabmanConfig, reg: RegisterResponse | null): TunnelPlan {
  const wg = config.wireguard;
  const rp = config.rosenpass;
  if (reg) {
    const p = reg.wireguard.peer;
    return {
      address: reg.wireguard.address,
      listenPort: reg.wireguard.listen_port ?? wg.listen_port,
      peer: {
        publicKey: p.public_key,
        ...(p.endpoint ? { endpoint: p.endpoint } : {}),
        allowedIps: p.allowed_ips,
        persistentKeepaliveS: p.persistent_keepalive_s ?? 25,
      },
      rosenpass: rp.enabled
        ? {
          peerPublicKey: reg.rosenpass
            ? new Uint8Array(Buffer.from(reg.rosenpass.peer_public_key, "base64"))
            : null,
          peerEndpoint: reg.rosenpass?.peer_endpoint ?? rp.peer_endpoint ?? null,
        }
        : null,
    };
  }
  if (!wg.address || !wg.peer) {
    throw new Error(
      "Cannot bring up the tunnel: wireguard.address and wireguard.peer are needed when there is no control plane to register with — set both, or configure [control_plane]",
    );
  }
  return {
    address: wg.address,
    listenPort: wg.listen_port,
    peer: {
      publicKey: wg.peer.public_key,
      ...(wg.peer.endpoint ? { endpoint: wg.peer.endpoint } : {}),
      allowedIps: wg.peer.allowed_ips,
      persistentKeepaliveS: wg.peer.persistent_keepalive_s,
    },
    rosenpass: rp.enabled ? { peerPublicKey: null, peerEndpoint: rp.peer_endpoint ?? null } : null,
  };
}

export interface Tunnel {
  readonly iface: string;
  readonly address: string;
  readonly backend: WireGuardBackend;
  /**
   * Resolves once the first exchanged PSK has been *written to the interface* (at once when
   * Rosenpass is off): the supervisor reports each completed write, nothing is polled.
   */
  readonly firstPsk: Promise<void>;
  /** Persistent keepalive towards the control plane, in seconds (0: off). */
  readonly keepaliveS: number;
  pq(): { state: "active" | "waiting" | "stale" | "disabled"; psk_age_s?: number };
  rosenpassStatus(): RosenpassStatus | null;
  /** Reads the device and refreshes the WireGuard metrics. */
  status(): Promise<InterfaceStatus>;
  /** One live health sample: backend, interface, peer counters, PQ state. Never throws. */
  sample(): Promise<{ sample: TunnelSample; status: InterfaceStatus | null }>;
  /** Drops the peer's session (keeping its PSK) so the next keepalive handshakes afresh. */
  reinitiate(): Promise<void>;
  /** Stops Rosenpass, removes the interface and every key file written for this run. */
  down(): Promise<void>;
}

export interface BringUpTunnelOptions {
  config: LabmanConfig;
  privateKey: Base64Key;
  plan: TunnelPlan;
  /** Supervisor registry for WireGuard and Rosenpass metrics. */
  registry: Registry;
  /** @default selected from `wireguard.mode` */
  backend?: WireGuardBackend;
}

export async function bringUpTunnel(options: BringUpTunnelOptions): Promise<Tunnel> {
  const { config, plan } = options;
  const iface = config.wireguard.interface_name;
  const backend = options.backend ?? (await selectBackend(
    config.wireguard.mode as "auto" | "kernel" | "userspace",
    { makeUserspace: () => new UserspaceBackend({ wireguardGo: config.wireguard.wireguard_go }) },
  )).backend;

  // With Rosenpass on, the tunnel starts on a random PSK: nothing flows until the first
  // post-quantum exchange (never the all-zero "no PSK").
  const initialPsk = plan.rosenpass ? randomPsk() : undefined;
  await bringUp({
    backend,
    spec: { name: iface, address: plan.address, routes: plan.peer.allowedIps },
    device: {
      name: iface,
      privateKey: options.privateKey,
      listenPort: plan.listenPort,
      peers: [{
        publicKey: plan.peer.publicKey,
        ...(plan.peer.endpoint ? { endpoint: plan.peer.endpoint } : {}),
        allowedIps: plan.peer.allowedIps,
        persistentKeepaliveS: plan.peer.persistentKeepaliveS,
        ...(initialPsk ? { presharedKey: initialPsk } : {}),
      }],
    },
  });
  log.info("{iface} is up with {address} (peer allowed IPs: {routes})", {
    iface,
    address: plan.address,
    routes: plan.peer.allowedIps,
  });

  let supervisor: RosenpassSupervisor | null = null;
  let firstPsk: Promise<void> = Promise.resolve();
  let peerPqpk: string | null = null;
  if (!plan.rosenpass) {
    log.warn(
      "rosenpass.enabled = false: the tunnel is NOT post-quantum protected (classic WireGuard only)",
    );
  } else if (!plan.rosenpass.peerPublicKey && !config.rosenpass.peer_public_key_path) {
    log.error(
      "Rosenpass is enabled but the control plane sent no Rosenpass public key: the tunnel stays closed (random PSK) — enable Rosenpass on the control plane, or set rosenpass.enabled = false",
    );
    firstPsk = new Promise(() => {});
  } else {
    let peerPublicKeyPath = config.rosenpass.peer_public_key_path;
    if (plan.rosenpass.peerPublicKey) {
      await Deno.mkdir(config.rosenpass.state_dir, { recursive: true, mode: 0o700 });
      peerPublicKeyPath = `${config.rosenpass.state_dir}/peer.pqpk`;
      peerPqpk = peerPublicKeyPath;
      await Deno.writeFile(peerPublicKeyPath, plan.rosenpass.peerPublicKey, { mode: 0o600 });
    }
    const first = Promise.withResolvers<void>();
    firstPsk = first.promise;
    supervisor = new RosenpassSupervisor({
      config: config.rosenpass,
      backend: pskTarget(backend),
      iface,
      peerWgPublicKey: plan.peer.publicKey,
      ...(peerPublicKeyPath ? { peerPublicKeyPath } : {}),
      peerEndpoint: plan.rosenpass.peerEndpoint,
      registry: options.registry.asPromRegistry(),
      onInstalled: (kind) => {
        if (kind === "exchanged") first.resolve();
      },
    });
    await supervisor.start();
  }

  const metrics = wireguardMetrics(options.registry.asPromRegistry());
  let countedRestarts = 0;
  const backendRestarts = new Counter({
    name: "labman_wireguard_backend_restarts_total",
    help: "Restarts of the WireGuard backend process (wireguard-go) after it exited unexpectedly.",
    registers: [options.registry.asPromRegistry()],
    collect() {
      const now = backend.health?.(iface).restarts ?? 0;
      if (now > countedRestarts) this.inc(now - countedRestarts);
      countedRestarts = now;
    },
  });
  void backendRestarts;
  const reinitiations = new Counter({
    name: "labman_wireguard_reinitiations_total",
    help: "Handshakes the node re-initiated because nothing came back from the control plane.",
    registers: [options.registry.asPromRegistry()],
  });
  const pqState = () => {
    if (!plan.rosenpass) return "disabled" as const;
    return supervisor?.status().state ?? "waiting";
  };
  return {
    iface,
    address: plan.address,
    backend,
    firstPsk,
    pq() {
      if (!plan.rosenpass) return { state: "disabled" };
      if (!supervisor) return { state: "waiting" };
      const s = supervisor.status();
      return s.psk_age_s === null ? { state: s.state } : { state: s.state, psk_age_s: s.psk_age_s };
    },
    rosenpassStatus: () => supervisor?.status() ?? null,
    keepaliveS: plan.peer.persistentKeepaliveS,
    async status() {
      const s = await wgStatus(backend, iface);
      metrics.update(s);
      return s;
    },
    async sample() {
      const atMs = performance.now();
      const failure = backend.health?.(iface).failure ?? null;
      let status: InterfaceStatus | null = null;
      let readError: string | null = null;
      if (failure === null) {
        try {
          status = await wgStatus(backend, iface);
          metrics.update(status);
        } catch (err) {
          readError = (err as Error).message;
        }
      }
      const peer = status?.peers.find((p) => p.publicKey === plan.peer.publicKey);
      return {
        status,
        sample: {
          atMs,
          backendFailure: failure,
          readError,
          peer: peer
            ? {
              rxBytes: peer.rxBytes,
              txBytes: peer.txBytes,
              lastHandshakeAgeS: peer.lastHandshakeAgeS,
            }
            : null,
          pq: pqState(),
        },
      };
    },
    async reinitiate() {
      reinitiations.inc();
      // The daemon warns when the tunnel turns degraded; a probe that is answered is routine.
      log.debug("nothing received from the control plane on {iface} lately: re-initiating", {
        iface,
      });
      // With Rosenpass the supervisor does it, serialized with its PSK writes.
      if (supervisor) return await supervisor.reinitiate();
      if (plan.rosenpass) return; // waiting for a Rosenpass key the tunnel never had
      const current = (await backend.get(iface)).peers.find((p) =>
        p.publicKey === plan.peer.publicKey
      );
      if (!current) return;
      await backend.set({ name: iface, peers: [{ publicKey: current.publicKey, remove: true }] });
      await backend.set({
        name: iface,
        peers: [{
          publicKey: current.publicKey,
          ...(current.endpoint !== undefined ? { endpoint: current.endpoint } : {}),
          ...(current.persistentKeepaliveS !== undefined
            ? { persistentKeepaliveS: current.persistentKeepaliveS }
            : {}),
          allowedIps: current.allowedIps ?? [],
          replaceAllowedIps: true,
        }],
      });
    },
    async down() {
      await supervisor?.stop();
      if (peerPqpk) await Deno.remove(peerPqpk).catch(() => {});
      await tearDown({ backend, name: iface }).catch((err) =>
        log.warn("Cannot remove {iface}: {message}", { iface, message: String(err) })
      );
      const closable = backend as WireGuardBackend & { close?: () => unknown };
      await closable.close?.();
      log.info("{iface} removed", { iface });
    },
  };
}
