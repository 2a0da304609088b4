/**
 * Supervisor metrics derived from the lifecycle and the control session: node phase, tunnel
 * state, heartbeat failures and the age of the last successful heartbeat. Plain-number metrics,
 * so an idle supervisor does not load prom-client (the exposition text is prom-client's,
 * rendered at scrape time by `mergeExposition`).
 *
 * @module
 */
import { type LifecycleState, PHASES, type TunnelHealth } from "../lib/lifecycle/mod.ts";
import {
  type MetricJSON,
  PlainCounter,
  PlainGauge,
  type SupervisorRegistry,
} from "../lib/telemetry/mod.ts";

const TUNNEL_STATES: readonly TunnelHealth[] = ["none", "up", "degraded", "failed_closed", "down"];

export function createDaemonMetrics(
  registry: SupervisorRegistry,
  now: () => number = () => performance.now(),
) {
  const registers = [registry];
  let lastOkAt: number | null = null;
  const phase = new PlainGauge({
    name: "labman_node_state",
    help: "Lifecycle phase of labmand: 1 for the current phase, 0 for the others.",
    labelNames: ["state"] as const,
    registers,
  });
  const tunnel = new PlainGauge({
    name: "labman_tunnel_state",
    help:
      "Live tunnel health: 1 for the current state (none in local mode, up, degraded, failed_closed, down).",
    labelNames: ["state"] as const,
    registers,
  });
  const failures = new PlainCounter({
    name: "labman_control_heartbeat_failures_total",
    help: "Heartbeats that failed (network error, timeout or non-2xx answer).",
    registers,
  });
  // Computed when scraped (prom-client's `collect()`), so the age is current.
  const ageName = "labman_control_last_heartbeat_success_age_seconds";
  registry.registerMetric({
    name: ageName,
    get: (): Promise<MetricJSON> =>
      Promise.resolve({
        help: "Seconds since the last heartbeat the control plane accepted; -1 before the first.",
        name: ageName,
        type: "gauge",
        values: [{ value: lastOkAt === null ? -1 : (now() - lastOkAt) / 1000, labels: {} }],
        aggregator: "sum",
      }),
    reset: () => {},
  });
  return {
    update(s: LifecycleState): void {
      for (const p of PHASES) phase.set({ state: p }, p === s.phase ? 1 : 0);
      for (const t of TUNNEL_STATES) tunnel.set({ state: t }, t === s.tunnel ? 1 : 0);
    },
    heartbeat(ok: boolean): void {
      if (ok) lastOkAt = now();
      else failures.inc();
    },
  };
}
