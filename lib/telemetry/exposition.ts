/**
 * The supervisor's side of metrics: its own prom-client registry and the exposition text merged
 * from it and the data-plane Workers' plain snapshots ({@linkcode ./plain_metrics.ts}) on every
 * scrape. Kept out of `mod.ts` so the Worker, which imports `mod.ts`, never loads prom-client.
 *
 * @module
 */
import { type Counter, Registry } from "prom-client";
import type { MetricJSON } from "./plain_metrics.ts";

/** Merges metric snapshots (prom-client's `getMetricsAsJSON()` format) into one exposition. */
export async function mergeExposition(
  snapshots: readonly (readonly MetricJSON[] | Awaited<ReturnType<Registry["getMetricsAsJSON"]>>)[],
): Promise<string> {
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

export { Registry };
