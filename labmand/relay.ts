/**
 * Starts and stops the Portman relay for labmand and feeds it labman's own messages
 * (`available_model_capacity`, `usage_report`) every `portman.report_interval_s`.
 *
 * The daemon hands in callbacks rather than objects (the slug table, the drain, the status and
 * usage sources), so the lifecycle can change without this file.
 *
 * @module
 */
import type { LabmanConfig } from "../lib/config/mod.ts";
import type { SlugEntry } from "../lib/control/mod.ts";
import type { DataPlaneStatus } from "../lib/dataplane/mod.ts";
import { makeEnvelope } from "../lib/protocol/mod.ts";
import type { UsageRow } from "../lib/proxy/mod.ts";
import {
  checkWebsocketUrl,
  ensurePortmanSecret,
  type Relay,
  startRelay,
} from "../lib/relay/mod.ts";
import { getLogger, type SupervisorRegistry as Registry } from "../lib/telemetry/mod.ts";
import { createRelayMetrics } from "../lib/relay/mod.ts";
import { joinHostPort } from "../lib/net/mod.ts";

const log = getLogger("relay");

export interface DaemonRelayOptions {
  config: LabmanConfig;
  /** The node token; without one (no control plane) the relay serves Portman and observers only. */
  nodeToken?: string;
  /** `update_registry`: replace the data plane's slug table (the heartbeat `slugs` path). */
  setSlugs: (entries: SlugEntry[]) => Promise<void>;
  /** `drain`: drive the daemon's drain. */
  drain: (reason: string) => Promise<void>;
  /** Latest data-plane snapshot (free slots per endpoint and model). */
  status: () => DataPlaneStatus | null;
  /** Token usage accumulated since the last call (and reset by it). */
  takeUsage?: () => Promise<UsageRow[]>;
  /** Where the relay's Prometheus metrics go (the supervisor's registry). */
  registry?: Registry;
}

export interface DaemonRelay {
  readonly relay: Relay;
  /**
   * Dials the control plane at the registration's `websocket_url` (again after a
   * re-registration). `peerAllowedIps`: the tunnel peer's (empty in local mode).
   */
  connect(reg: { websocket_url: string; node_id: string }, peerAllowedIps: string[]): void;
  stop(): Promise<void>;
}

/** Free slots per (endpoint, model) from a data-plane snapshot. */
export function capacityFromStatus(status: DataPlaneStatus): {
  model: string;
  endpoint: string;
  free_slots: number | null;
  max_slots: number | null;
  healthy: boolean;
}[] {
  const out = [];
  for (const e of status.endpoints) {
    const free = e.max_concurrent === null ? null : Math.max(0, e.max_concurrent - e.in_flight);
    for (const model of e.models) {
      out.push({
        model,
        endpoint: e.name,
        free_slots: e.healthy ? free : 0,
        max_slots: e.max_concurrent,
        healthy: e.healthy,
      });
    }
  }
  return out;
}

/** Starts the relay when `[portman] enabled`; null otherwise. */
export async function startDaemonRelay(options: DaemonRelayOptions): Promise<DaemonRelay | null> {
  const p = options.config.portman;
  if (!p.enabled) return null;
  let secret: string | null = null;
  try {
    const s = await ensurePortmanSecret(p.secret_file);
    secret = s.secret;
    if (s.created) {
      log.info("created the Portman secret {path} (mode 0600)", { path: p.secret_file });
    }
  } catch (err) {
    if (!p.allow_unauthenticated) {
      throw new Error(
        `Cannot read portman.secret_file: ${
          (err as Error).message
        } — fix the file, or set portman.allow_unauthenticated for credential-less clients only`,
      );
    }
    log.warn("no usable Portman secret ({message}); only credential-less clients can connect", {
      message: (err as Error).message,
    });
  }
  if (p.allow_unauthenticated) {
    log.warn(
      "portman.allow_unauthenticated = true: a Portman without credentials is accepted, so any local user can impersonate it (and forge usage reports)",
    );
  }
  const relay = await startRelay({
    portman: p,
    secret,
    ...(options.nodeToken && options.config.control_plane
      ? {
        upstream: {
          retryInitialMs: Math.min(500, options.config.control_plane.retry_initial_ms),
          retryMaxMs: options.config.control_plane.retry_max_ms,
        },
      }
      : {}),
    onUpdateRegistry: options.setSlugs,
    onDrain: options.drain,
  });
  if (options.registry) createRelayMetrics(options.registry.asPromRegistry(), () => relay.stats());
  log.info("Portman relay listening on ws://{addr}/agent", {
    addr: joinHostPort(relay.addr.hostname, relay.addr.port),
  });

  let periodStart = new Date();
  const report = async () => {
    const status = options.status();
    if (status) {
      relay.sendOwn(
        makeEnvelope("available_model_capacity", { models: capacityFromStatus(status) }),
      );
    }
    const entries = await options.takeUsage?.().catch(() => []) ?? [];
    const periodEnd = new Date();
    if (entries.length) {
      relay.sendOwn(makeEnvelope("usage_report", {
        period_start: periodStart.toISOString(),
        period_end: periodEnd.toISOString(),
        source: "labman",
        entries: entries.map((r) => ({ ...r })),
      }));
    }
    periodStart = periodEnd;
  };
  let reporting = false;
  const timer = setInterval(() => {
    if (reporting) return;
    reporting = true;
    report().finally(() => reporting = false);
  }, p.report_interval_s * 1000);

  return {
    relay,
    connect(reg, peerAllowedIps) {
      const cp = options.config.control_plane;
      if (!cp || !options.nodeToken) return;
      const why = checkWebsocketUrl(reg.websocket_url, cp.base_url, peerAllowedIps);
      if (why) {
        log.error("Cannot use the control plane's websocket_url: {why}; relaying to nobody", {
          why,
        });
        return;
      }
      relay.connectUpstream({
        url: reg.websocket_url,
        token: options.nodeToken,
        siteId: reg.node_id,
      });
    },
    async stop() {
      clearInterval(timer);
      // A last report so usage of the final interval is not lost.
      await report().catch(() => {});
      await relay.stop();
    },
  };
}
