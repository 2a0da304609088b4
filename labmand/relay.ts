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
import { getLogger, type Registry } from "../lib/telemetry/mod.ts";
import { createRelayMetrics } from "../lib/relay/metrics.ts";

const log = getLogger("relay");

export interface DaemonRelayOptions {
  config: LabmanConfig;
  /** From registration; absent without a control plane. */
  websocketUrl?: string;
  /** The tunnel peer's allowed IPs (empty in local mode): where `websocketUrl` may point. */
  peerAllowedIps?: string[];
  nodeToken?: string;
  nodeId?: string;
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
      throw new Error(`portman.secret_file: ${(err as Error).message}`);
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
  let websocketUrl = options.websocketUrl;
  if (websocketUrl && options.config.control_plane) {
    const why = checkWebsocketUrl(
      websocketUrl,
      options.config.control_plane.base_url,
      options.peerAllowedIps ?? [],
    );
    if (why) {
      log.error("Cannot use the control plane's websocket_url: {why}; relaying to nobody", { why });
      websocketUrl = undefined;
    }
  }
  const relay = await startRelay({
    portman: p,
    secret,
    ...(websocketUrl && options.nodeToken
      ? {
        upstream: {
          url: websocketUrl,
          token: options.nodeToken,
          retryInitialMs: Math.min(500, options.config.control_plane?.retry_initial_ms ?? 500),
          retryMaxMs: options.config.control_plane?.retry_max_ms ?? 30_000,
        },
      }
      : {}),
    ...(options.nodeId ? { siteId: options.nodeId } : {}),
    onUpdateRegistry: options.setSlugs,
    onDrain: options.drain,
  });
  if (options.registry) createRelayMetrics(options.registry, () => relay.stats());
  log.info("Portman relay listening on ws://{addr}/agent{upstream}", {
    addr: `${fmtHost(relay.addr.hostname)}:${relay.addr.port}`,
    upstream: websocketUrl ? ` (control plane ${websocketUrl})` : "",
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
    async stop() {
      clearInterval(timer);
      // A last report so usage of the final interval is not lost.
      await report().catch(() => {});
      await relay.stop();
    },
  };
}

function fmtHost(h: string): string {
  return h.includes(":") ? `[${h}]` : h;
}
