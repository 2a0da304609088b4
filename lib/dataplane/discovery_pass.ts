/**
 * Worker side of the pre-registration discovery pass: one health check and model listing of
 * every configured endpoint, cut off at a budget, without binding anything. Tunnel mode needs
 * it because the proxy's address comes from registration, yet the registration should already
 * carry what the node can serve.
 *
 * @module
 */
import { EndpointRegistry, type EndpointRegistryOptions } from "../registry/mod.ts";
import type { DataPlaneStatus, DiscoverySettings } from "./messages.ts";

/**
 * Runs the registry's first discovery pass for at most `budgetMs`. Endpoints still probing when
 * the budget runs out count as not (yet) healthy: their models are not reported, the count of
 * configured endpoints and the concurrency known so far are.
 */
/** The endpoint registry these settings describe (the Worker's, and the discovery pass's). */
export function registryFor(
  settings: DiscoverySettings,
  metrics?: EndpointRegistryOptions["metrics"],
): EndpointRegistry {
  return new EndpointRegistry({
    endpoints: settings.endpoints,
    apiKeys: settings.apiKeys,
    modelFilters: settings.modelFilters ?? {},
    health: settings.health,
    proxy: settings.proxy,
    ...(metrics ? { metrics } : {}),
    localMode: settings.localMode,
  });
}

export async function discoverOnce(
  settings: DiscoverySettings,
  budgetMs: number,
): Promise<DataPlaneStatus["capabilities"]> {
  const registry = registryFor(settings);
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      registry.start(),
      new Promise<void>((resolve) => timer = setTimeout(resolve, Math.max(0, budgetMs))),
    ]);
    return registry.toNodeCapabilities();
  } finally {
    clearTimeout(timer);
    // Aborts probes still running, so the Worker holds no socket once it answers.
    await registry.stop();
  }
}
