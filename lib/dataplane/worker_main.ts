/**
 * Data-plane Worker entry: endpoint registry, health checks, routing and the OpenAI proxy.
 * Runs with the narrowed permissions of `permissions.ts`; every request from the control plane
 * is parsed here and only here.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import type { EndpointRegistry } from "../registry/mod.ts";
import {
  BodyBudget,
  type ConnectionLimits,
  createProxyHandler,
  createUpstreamClients,
  type ProxyHandler,
  startProxyServer,
  type UpstreamClientFactory,
  upstreamOptionsFromConfig,
  UsageLedger,
} from "../proxy/mod.ts";
import { createDataPlaneMetrics, getLogger, setupLogging } from "../telemetry/mod.ts";
import type { DataPlaneSettings, DataPlaneStatus, FromWorker, ToWorker } from "./messages.ts";
import { discoverOnce, registryFor } from "./discovery_pass.ts";

const log = getLogger("dataplane");
const post = (msg: FromWorker) => self.postMessage(msg);

let state:
  | {
    registry: EndpointRegistry;
    server: Awaited<ReturnType<typeof startProxyServer>>;
    /** Replaced on reload; the listener dispatches to whichever is current. */
    proxy: ProxyHandler;
    /** Every handler that may still have requests in flight (the current one included). */
    handlers: Set<ProxyHandler>;
    upstream: UpstreamClientFactory;
    metrics: ReturnType<typeof createDataPlaneMetrics>;
    /** One budget for every request body, across the handlers reloads create. */
    bodyBudget: BodyBudget;
    usage: UsageLedger | undefined;
  }
  | undefined;

function connectionLimits(proxy: DataPlaneSettings["proxy"]): ConnectionLimits {
  return {
    maxConnections: proxy.max_connections,
    headerTimeoutMs: proxy.header_timeout_ms,
    idleTimeoutMs: proxy.client_idle_timeout_ms,
  };
}

async function init(settings: DataPlaneSettings): Promise<void> {
  setupLogging({ level: settings.logging.level, format: settings.logging.format });
  const metrics = createDataPlaneMetrics();
  const registry = registryFor(settings, metrics);
  const upstream = createUpstreamClients(upstreamOptionsFromConfig(settings.proxy));
  const bodyBudget = new BodyBudget(settings.proxy.max_body_bytes_in_flight);
  const usage = settings.usage ? new UsageLedger() : undefined;
  const proxy = createProxyHandler({
    router: registry.router,
    client: upstream,
    proxy: settings.proxy,
    bodyBudget,
    metrics,
    usage,
  });
  if (settings.successor) registry.router.reserveAllSlots();
  if (settings.replay?.slugs) registry.slugs.replace(settings.replay.slugs);
  const replayed = settings.replay?.accepting;
  if (replayed) registry.router.setAccepting(replayed.accepting, replayed.reason);
  const handlers = new Set<ProxyHandler>([proxy]);
  // Bind first, then probe: a bind failure must surface before any background work starts.
  // The server gets a handler *object* so that, when the shutdown grace runs out, it can abort
  // what is in flight on every handler (requests started before a reload included).
  const server = await startProxyServer({
    hostname: settings.bind.hostname,
    port: settings.bind.port,
    reusePort: settings.bind.reusePort ?? false,
    handler: {
      fetch: (req, info) => state!.proxy.fetch(req, info),
      inFlight: () => [...handlers].reduce((n, h) => n + h.inFlight(), 0),
      abortAll: (reason) => {
        for (const h of handlers) h.abortAll(reason);
      },
    },
    limits: connectionLimits(settings.proxy),
    metrics,
  });
  state = { registry, server, proxy, upstream, metrics, handlers, bodyBudget, usage };
  await registry.start();
  post({ type: "ready", addr: server.addr });
}

/** Totals for heartbeats, read from the request counter (one source of truth). */
async function requestCounts(): Promise<{ total: number; errors: number }> {
  let total = 0, errors = 0;
  for (const v of (await state!.metrics.requests.get()).values) {
    total += v.value;
    if (Number(v.labels.status) >= 500) errors += v.value;
  }
  return { total, errors };
}

async function status(): Promise<DataPlaneStatus> {
  if (!state) throw new Error("Cannot answer: the data plane is not initialised yet");
  const snap = state.registry.snapshot();
  const counts = await requestCounts();
  return {
    endpoints: snap.map((e) => ({
      name: e.name,
      healthy: e.healthy,
      models: e.models,
      in_flight: e.in_flight,
      max_concurrent: e.max_concurrent ?? null,
      ...(e.last_error ? { last_error: e.last_error } : {}),
      kind: e.kind,
      condition: e.condition,
      ...(e.capacity?.slots !== undefined ? { server_slots: e.capacity.slots } : {}),
      ...(e.capacity?.running !== undefined ? { server_running: e.capacity.running } : {}),
    })),
    requests: {
      total: counts.total,
      errors: counts.errors,
      in_flight: state.proxy.inFlight(),
      queue_depth: state.registry.router.queueDepth(),
    },
    capabilities: state.registry.toNodeCapabilities(),
  };
}

async function handle(msg: ToWorker): Promise<unknown> {
  if (!state) throw new Error("Cannot answer: the data plane is not initialised yet");
  switch (msg.type) {
    case "reconfigure":
      setupLogging({ level: msg.settings.logging.level, format: msg.settings.logging.format });
      state.registry.reconfigure({
        endpoints: msg.settings.endpoints,
        apiKeys: msg.settings.apiKeys,
        modelFilters: msg.settings.modelFilters ?? {},
        health: msg.settings.health,
        proxy: msg.settings.proxy,
      });
      // New limits apply to new requests; in-flight ones finish on the handler they started on.
      // The upstream pools (and their connection caps) are kept so no connection is dropped.
      state.bodyBudget.setLimit(msg.settings.proxy.max_body_bytes_in_flight);
      state.server.setLimits(connectionLimits(msg.settings.proxy));
      for (const h of state.handlers) if (h.inFlight() === 0) state.handlers.delete(h);
      state.proxy = createProxyHandler({
        router: state.registry.router,
        client: state.upstream,
        proxy: msg.settings.proxy,
        bodyBudget: state.bodyBudget,
        metrics: state.metrics,
        usage: state.usage,
      });
      state.handlers.add(state.proxy);
      return;
    case "slugs":
      state.registry.slugs.replace(msg.entries);
      return;
    case "accepting":
      state.registry.router.setAccepting(msg.accepting, msg.reason);
      return;
    case "metrics":
      return await state.metrics.registry.getMetricsAsJSON();
    case "status":
      return await status();
    case "usage":
      return state.usage?.take() ?? [];
    case "shutdown":
      state.registry.router.setAccepting(false, "node is shutting down");
      await state.server.shutdown(msg.graceMs);
      await state.registry.stop();
      state.upstream.close();
      return;
    case "retire":
      return state.registry.router.retire((endpoint, slots) =>
        post({ type: "slots_returned", endpoint, slots })
      );
    case "reserve":
      state.registry.router.setReservedSlots(msg.held);
      return;
    case "return":
      state.registry.router.returnSlots(msg.endpoint, msg.slots);
      return;
    case "init":
      throw new Error("Cannot initialise the data plane: it already is");
  }
}

self.onmessage = (ev: MessageEvent<ToWorker>) => {
  const msg = ev.data;
  if (msg.type === "init") {
    init(msg.settings).catch((err) => {
      const message = err instanceof Error ? err.message : String(err);
      log.error("data plane failed to start: {message}", { message });
      post({ type: "fatal", message });
    });
    return;
  }
  if (msg.type === "discover") {
    discoverOnce(msg.settings, msg.budgetMs).then(
      (capabilities) => post({ type: "discovered", capabilities }),
      (err) => post({ type: "fatal", message: String(err?.message ?? err) }),
    );
    return;
  }
  handle(msg).then(
    (value) => post({ type: "reply", id: msg.id, ok: true, value }),
    (err) => post({ type: "reply", id: msg.id, ok: false, error: String(err?.message ?? err) }),
  );
};
