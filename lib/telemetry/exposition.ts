/**
 * The supervisor's side of metrics: its own prom-client registry and the exposition text merged
 * from it and the data-plane Workers' plain snapshots ({@linkcode ./plain_metrics.ts}) on every
 * scrape. prom-client is imported when the first scrape runs, never at module load: the Worker
 * imports `mod.ts`, which re-exports this, and must not load prom-client.
 *
 * @module
 */
import type { Counter } from "prom-client";
import type { MetricJSON } from "./plain_metrics.ts";

/** Merges metric snapshots (prom-client's `getMetricsAsJSON()` format) into one exposition. */
export async function mergeExposition(
  snapshots: readonly (readonly MetricJSON[] | readonly { name: string }[])[],
): Promise<string> {
  const { Registry } = await import("prom-client");
  const merged = Registry.merge(
    snapshots.map((json) => {
      const r = new Registry();
      for (const metric of json) r.registerMetric(snapshotMetric(metric));
      return r;
    }),
  );
  return await merged.metrics();
}

/** A read-only metric whose get() returns the snapshot: prom-client serialises it as is. */
function snapshotMetric(json: unknown): Counter {
  const m = json as { name: string; help: string; type: string; aggregator?: string };
  return {
    name: m.name,
    help: m.help,
    type: m.type,
    aggregator: m.aggregator,
    get: () => Promise.resolve(json),
    reset: () => {},
  } as unknown as Counter;
}

/** The supervisor's own metrics registry (prom-client's). */
export type { Registry as SupervisorRegistry } from "prom-client";
