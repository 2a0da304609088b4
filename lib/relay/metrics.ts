/**
 * Prometheus metrics of the relay, read from its counters at scrape time and registered in the
 * registry the caller passes (the supervisor's).
 *
 * @module
 */
import { Counter, Gauge, type Registry } from "prom-client";
import type { RelayStats } from "./relay.ts";

/** A counter whose value is a monotonic number kept elsewhere. */
function mirrored(
  registry: Registry,
  name: string,
  help: string,
  read: () => Record<string, number>,
  label?: string,
): Counter {
  return new Counter({
    name,
    help,
    registers: [registry],
    ...(label ? { labelNames: [label] } : {}),
    collect() {
      this.reset();
      for (const [k, v] of Object.entries(read())) {
        if (label) this.inc({ [label]: k }, v);
        else this.inc(v);
      }
    },
  });
}

export function createRelayMetrics(registry: Registry, stats: () => RelayStats): void {
  new Gauge({
    name: "labman_relay_agents_connected",
    help: "Portman agents connected to the relay.",
    registers: [registry],
    collect() {
      this.set(stats().agents.filter((a) => a.connected).length);
    },
  });
  new Gauge({
    name: "labman_relay_upstream_connected",
    help: "1 when the relay's link to the control plane is open.",
    registers: [registry],
    collect() {
      this.set(stats().upstream?.connected ? 1 : 0);
    },
  });
  new Gauge({
    name: "labman_relay_upstream_queued_messages",
    help: "Upstream messages not yet confirmed by the control plane (replayed after a reconnect).",
    registers: [registry],
    collect() {
      this.set(stats().upstream?.queued ?? 0);
    },
  });
  mirrored(
    registry,
    "labman_relay_messages_total",
    "Envelopes relayed, by direction.",
    () => {
      const c = stats().counters;
      return { up: c.up, down: c.down };
    },
    "direction",
  );
  mirrored(
    registry,
    "labman_relay_rejected_total",
    "Frames refused with an error envelope (both directions).",
    () => ({ _: stats().counters.rejected }),
  );
  mirrored(
    registry,
    "labman_relay_dropped_total",
    "Upstream messages dropped because the outbox was full while the control plane was away.",
    () => ({ _: stats().upstream?.dropped ?? 0 }),
  );
  mirrored(
    registry,
    "labman_relay_directives_expired_total",
    "Held directives answered with AGENT_UNAVAILABLE.",
    () => ({ _: stats().counters.expired }),
  );
  mirrored(
    registry,
    "labman_relay_upstream_reconnects_total",
    "Reconnections of the control-plane link.",
    () => ({ _: stats().upstream?.reconnects ?? 0 }),
  );
}
