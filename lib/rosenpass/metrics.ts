/**
 * Prometheus metrics of the rosenpass supervisor, registered in the registry the caller passes.
 *
 * @module
 */
import { Counter, Gauge, type Registry } from "prom-client";
import { PQ_STATES, type PqState } from "./psk_guard.ts";

export function createRosenpassMetrics(registry: Registry, pskAgeS: () => number | null) {
  const registers = [registry];
  const metrics = {
    pskAge: new Gauge({
      name: "labman_rosenpass_psk_age_seconds",
      help: "Age of the WireGuard PSK currently installed by labmand (exchanged or random).",
      registers,
      collect() {
        this.set(pskAgeS() ?? 0);
      },
    }),
    exchanges: new Counter({
      name: "labman_rosenpass_exchanges_total",
      help: "Rosenpass keys exchanged, validated and applied to WireGuard.",
      registers,
    }),
    stale: new Counter({
      name: "labman_rosenpass_stale_total",
      help: "Times rosenpass reported its key stale.",
      registers,
    }),
    restarts: new Counter({
      name: "labman_rosenpass_restarts_total",
      help: "Restarts of the rosenpass child after it exited unexpectedly.",
      registers,
    }),
    state: new Gauge({
      name: "labman_rosenpass_state",
      help: "Post-quantum PSK state: 1 for the current state, 0 for the others.",
      labelNames: ["state"] as const,
      registers,
    }),
    setState(current: PqState): void {
      for (const s of PQ_STATES) metrics.state.set({ state: s }, s === current ? 1 : 0);
    },
  };
  return metrics;
}

export type RosenpassMetrics = ReturnType<typeof createRosenpassMetrics>;
