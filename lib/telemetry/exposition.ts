/**
 * The supervisor's side of metrics: its own registry and the exposition text merged from it and
 * the data-plane Workers' plain snapshots ({@linkcode ./plain_metrics.ts}) on every scrape.
 * prom-client is imported when the first scrape runs, or when a module that is loaded only when
 * configured (tunnel, relay) creates its metrics; never at module load: an idle labmand in local
 * mode does not load it (it cost the supervisor 5–8 MB of RSS), and the Worker imports `mod.ts`,
 * which re-exports this.
 *
 * @module
 */
import type { Counter, Registry as PromRegistry } from "prom-client";
import { type MetricJSON, PlainRegistry } from "./plain_metrics.ts";

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

/**
 * The supervisor's own metrics registry: plain-number metrics (`PlainGauge`, `PlainCounter`)
 * and, from the modules that use prom-client, prom-client metrics registered through
 * {@linkcode SupervisorRegistry.asPromRegistry}. Both snapshot to the same JSON.
 */
export class SupervisorRegistry extends PlainRegistry {
  /**
   * This registry as prom-client's type, for `registers: [...]` of prom-client metrics: a
   * prom-client metric calls nothing on its registers but `registerMetric` (prom-client
   * 15 `lib/metric.js`), and its `get()` is the snapshot `getMetricsAsJSON()` collects.
   */
  asPromRegistry(): PromRegistry {
    return this as unknown as PromRegistry;
  }
}
