/**
 * Supervisor side of the pre-registration discovery pass (tunnel mode): a short-lived Worker
 * with network access to the configured endpoints only (it binds nothing) probes each once, so
 * that the registration body carries the node's real capabilities even though the proxy cannot
 * bind before registration hands out its address.
 *
 * ```ts
 * import { discoverCapabilities } from "./lib/dataplane/mod.ts";
 * const caps = await discoverCapabilities(settings, { budgetMs: 5_000 });
 * ```
 *
 * @module
 */
import { getLogger } from "../telemetry/mod.ts";
import type { DataPlaneStatus, DiscoverySettings, FromWorker, ToWorker } from "./messages.ts";
import { endpointNetEntry } from "./permissions.ts";

const log = getLogger("dataplane");

/** Default bound on the pre-registration discovery pass (docs/control-plane.md). */
export const REGISTRATION_DISCOVERY_MS = 5_000;
/** Time past the budget for the Worker to load and answer before it is terminated. */
const DISCOVERY_MARGIN_MS = 2_000;

export interface DiscoverOptions {
  /** How long the endpoints may take to answer. @default REGISTRATION_DISCOVERY_MS */
  budgetMs?: number;
  /** Module the Worker runs. @default worker_main.ts beside this file */
  workerUrl?: URL;
}

/** The Worker's permissions: connect to the endpoints, nothing else (not even a listener). */
export function discoveryPermissions(
  endpointBaseUrls: readonly string[],
): Deno.PermissionOptionsObject {
  return {
    net: [...new Set(endpointBaseUrls.map(endpointNetEntry))],
    read: false,
    write: false,
    run: false,
    env: false,
    ffi: false,
    sys: false,
    import: false,
  };
}

/**
 * Probes every endpoint once, within `budgetMs` (plus a margin for the Worker to start): the
 * capabilities known by then, or `null` when the Worker failed or did not answer in time (the
 * node then registers with none and reports them in its first heartbeat). Never throws.
 */
export async function discoverCapabilities(
  settings: DiscoverySettings,
  options: DiscoverOptions = {},
): Promise<DataPlaneStatus["capabilities"] | null> {
  const budgetMs = options.budgetMs ?? REGISTRATION_DISCOVERY_MS;
  if (settings.endpoints.length === 0) {
    return { models: [], endpoint_count: 0, max_concurrent_requests: 0 };
  }
  const worker = new Worker(options.workerUrl ?? new URL("./worker_main.ts", import.meta.url), {
    type: "module",
    name: "labman-discovery",
    deno: { permissions: discoveryPermissions(settings.endpoints.map((e) => e.base_url)) },
  });
  const answer = Promise.withResolvers<DataPlaneStatus["capabilities"] | null>();
  worker.onmessage = (ev: MessageEvent<FromWorker>) => {
    const msg = ev.data;
    if (msg.type === "discovered") answer.resolve(msg.capabilities);
    else if (msg.type === "fatal") {
      log.warn("Cannot discover the endpoints before registering: {message}", {
        message: msg.message,
      });
      answer.resolve(null);
    }
  };
  worker.onerror = (ev: ErrorEvent) => {
    ev.preventDefault();
    log.warn("Cannot discover the endpoints before registering: {message}", {
      message: ev.message,
    });
    answer.resolve(null);
  };
  worker.onmessageerror = () => answer.resolve(null);
  const timer = setTimeout(() => {
    log.warn("discovery before registration took over {ms} ms: registering without it", {
      ms: budgetMs + DISCOVERY_MARGIN_MS,
    });
    answer.resolve(null);
  }, budgetMs + DISCOVERY_MARGIN_MS);
  try {
    worker.postMessage({ type: "discover", settings, budgetMs } satisfies ToWorker);
    return await answer.promise;
  } finally {
    clearTimeout(timer);
    worker.terminate();
  }
}
