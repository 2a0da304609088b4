/**
 * labmand's composition root: the one place every subsystem is wired together (style habit 15).
 * The supervisor holds config, secrets, the WireGuard backend, the Rosenpass child and the
 * control-plane session; the data plane runs in a permission-narrowed Worker.
 *
 * The daemon's phase lives in one {@linkcode Lifecycle} (lib/lifecycle): the parts here only
 * dispatch events to it, and everything observable — heartbeat `state`, `/readyz`, systemd
 * `STATUS=`/`READY=1`/`STOPPING=1`, the router's accepting flag, metrics — is derived from it.
 *
 * Start-up (roadmap §7.1): logging → config → node key → admin listener → then
 * - local mode: data plane on 127.0.0.1 (first discovery pass) → READY → registration in the
 *   background, with real capabilities;
 * - tunnel mode: a first discovery pass (bind-less Worker, bounded) → registration with those
 *   capabilities (retried with backoff, the reason in STATUS=) → labman0 → Rosenpass → data
 *   plane on the WireGuard address → first PSK on the interface → READY; the live status goes
 *   out in an immediate heartbeat.
 *
 * The sequences themselves live in small parts tested with fakes: `startup.ts`,
 * `stop_sequence.ts`, `publisher.ts`, `session_wiring.ts`, `tunnel_watch.ts`, `reload.ts`,
 * `readiness_checks.ts`, `signals.ts`; this file wires them.
 *
 * Shutdown: draining (the heartbeat says so at once; requests get `proxy.shutdown_grace_ms`,
 * then are aborted) → stopping (final heartbeat, DELETE retried within a bound) → Rosenpass and
 * labman0 down, key material removed → stopped.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { startAdminServer } from "../lib/admin/mod.ts";
import { formatIssue, type LabmanConfig, loadConfig, proxyListenAddr } from "../lib/config/mod.ts";
import type { ControlSession, RegisterResponse, SlugEntry } from "../lib/control/mod.ts";
import {
  type DataPlane,
  type DataPlaneSettings,
  type DataPlaneStatus,
  discoverCapabilities,
  startDataPlane,
} from "../lib/dataplane/mod.ts";
import { EXIT, exitCode, heartbeatState, Lifecycle } from "../lib/lifecycle/mod.ts";
import { sdNotify } from "../lib/systemd/mod.ts";
import {
  getLogger,
  mergeExposition,
  setupLogging,
  SupervisorRegistry,
} from "../lib/telemetry/mod.ts";
import type { InterfaceStatus } from "../lib/wireguard/mod.ts";
import { buildAdminStatus } from "./admin_status.ts";
import { createDaemonMetrics } from "./daemon_metrics.ts";
import { buildNodeStatus } from "./node_status.ts";
import { Publisher } from "./publisher.ts";
import { readinessChecks } from "./readiness_checks.ts";
import type { DaemonRelay } from "./relay.ts";
import { applySettings, needsWiderPermissions, planReload } from "./reload.ts";
import { wireSession } from "./session_wiring.ts";
import { installSignals, openReloadsWhenOperating, ReloadQueue } from "./signals.ts";
import { runStartup } from "./startup.ts";
import { runStopSequence, STOP_CONTROL_MS } from "./stop_sequence.ts";
import type { TunnelWatch } from "./tunnel_watch.ts";
import type { Tunnel } from "./tunnel.ts";
import { LABMAN_VERSION } from "./version.ts";
import { joinHostPort } from "../lib/net/mod.ts";
import { labmandPathAccess } from "../lib/permissions/mod.ts";

const log = getLogger("labmand");

export interface DaemonOptions {
  config: LabmanConfig;
  /** File the config came from; SIGHUP re-reads it. */
  configPath: string;
  /** Aborting it stops the daemon as SIGTERM would (tests, `labman dev`). */
  signal?: AbortSignal;
  /** Install SIGTERM/SIGINT/SIGHUP handlers. @default true */
  handleSignals?: boolean;
  /** Called once the proxy listens. */
  onReady?: (info: { proxyUrl: string; adminUrl: string | null }) => void;
}

/** Exit codes (docs/operations.md): 0 clean, 1 start failed, 2 fatal, 3 forced, 4 rejected. */
export { EXIT };

async function readApiKeys(config: LabmanConfig): Promise<Record<string, string>> {
  const keys: Record<string, string> = {};
  for (const [i, e] of config.endpoints.entries()) {
    if (!e.api_key_file) continue;
    try {
      keys[e.name] = (await Deno.readTextFile(e.api_key_file)).trim();
    } catch (err) {
      throw new Error(
        `Cannot read endpoints[${i}].api_key_file ${e.api_key_file}: ${
          (err as Error).message
        } — fix the path or its permissions (the file holds the bare key)`,
      );
    }
  }
  return keys;
}

function proxyBind(config: LabmanConfig, wgAddress: string | null): DataPlaneSettings["bind"] {
  // Loopback only when no tunnel address is known yet: never a wildcard (invariant 2).
  const hostname = proxyListenAddr(config, wgAddress) ?? "127.0.0.1";
  return { hostname, port: config.proxy.listen_port, reusePort: true };
}

export { needsWiderPermissions };

export async function dataPlaneSettings(
  config: LabmanConfig,
  wgAddress: string | null,
): Promise<DataPlaneSettings> {
  return {
    bind: proxyBind(config, wgAddress),
    endpoints: config.endpoints,
    apiKeys: await readApiKeys(config),
    // Compiled here so the Worker loads no glob library; the registry module and picomatch load
    // in the supervisor only if some endpoint has globs.
    modelFilters: config.endpoints.some((e) => e.models_include || e.models_exclude)
      ? await (await import("../lib/registry/mod.ts")).modelFiltersFor(config.endpoints)
      : {},
    health: config.health,
    proxy: config.proxy,
    logging: config.logging,
    // Without a control plane there is nobody to send a slug table: route model ids as they are.
    localMode: config.wireguard.mode === "off" || !config.control_plane,
    // Usage goes to the control plane as the relay's usage_report: only counted when it can.
    usage: config.portman.enabled && !!config.control_plane,
  };
}

async function readNodeToken(config: LabmanConfig): Promise<string> {
  const cp = config.control_plane!;
  if (cp.node_token) return cp.node_token;
  try {
    return (await Deno.readTextFile(cp.node_token_file!)).trim();
  } catch (err) {
    throw new Error(
      `Cannot read control_plane.node_token_file ${cp.node_token_file}: ${
        (err as Error).message
      } — fix the path or its permissions (mode 0600, owned by root)`,
    );
  }
}

function hostName(): string {
  try {
    return Deno.hostname().slice(0, 64) || "labman-node";
  } catch {
    return "labman-node";
  }
}

/** Bound on the final heartbeat plus the DELETE and its retries at shutdown. */
export { STOP_CONTROL_MS };

/** Runs labmand until it is stopped; resolves to the process exit code. */
export async function runDaemon(options: DaemonOptions): Promise<number> {
  let config = options.config;
  setupLogging({ level: config.logging.level, format: config.logging.format });
  const started = performance.now();
  const supervisorMetrics = new SupervisorRegistry();
  const localMode = config.wireguard.mode === "off";
  const lc = new Lifecycle({
    local: localMode,
    hasControlPlane: config.control_plane !== undefined,
    pq: config.rosenpass.enabled,
  });
  const metrics = createDaemonMetrics(supervisorMetrics);
  metrics.update(lc.state);

  let session: ControlSession | null = null;
  let tunnel: Tunnel | null = null;
  let dataPlane: DataPlane | null = null;
  let settings: DataPlaneSettings | null = null;
  let admin: ReturnType<typeof startAdminServer> | null = null;
  let adminUrl: string | null = null;
  let proxyUrl: string | null = null;
  let statusTimer: ReturnType<typeof setInterval> | undefined;
  let tunnelWatch: TunnelWatch | null = null;
  // Latest data-plane and tunnel snapshots: heartbeats read these synchronously. The tunnel's is
  // replaced by null when the interface cannot be read, never kept from an older read.
  let dpStatus: DataPlaneStatus | null = null;
  let wgStatus: InterfaceStatus | null = null;
  // Tunnel mode: what the discovery pass before registration found (until the data plane runs).
  let discovered: DataPlaneStatus["capabilities"] | null = null;
  let pendingSlugs: SlugEntry[] | null = null;
  // The Portman relay (docs/protocol.md) and the registration it dials the control plane with.
  let relay: DaemonRelay | null = null;
  let registration: RegisterResponse | null = null;
  const stopRequested = () => lc.state.stopCause !== null;

  // --- everything observable is derived from the lifecycle ---------------------------------
  const publisher = new Publisher({
    notify: sdNotify,
    dataPlane: () => dataPlane,
    proxyUrl: () => proxyUrl,
    beatNow: () => session?.beatNow(),
    metrics,
    onReady: () => {
      log.info("labmand ready: proxy {proxyUrl}, admin {adminUrl}", { proxyUrl, adminUrl });
      options.onReady?.({ proxyUrl: proxyUrl!, adminUrl });
    },
  });
  lc.subscribe(publisher.listener);

  // --- signals and reloads -----------------------------------------------------------------
  const requestStop = (why: string) => {
    if (!stopRequested()) log.info("{why}: stopping", { why });
    lc.dispatch({ type: "stop", cause: "signal" });
  };
  const reloads = new ReloadQueue(() =>
    reload().catch((err) => log.error("reload failed: {message}", { message: String(err) }))
  );
  const removeSignals = (options.handleSignals ?? true)
    ? installSignals({
      onStop: (sig) => requestStop(sig),
      onForce: (sig) => {
        log.warn("second stop signal ({signal}): exiting now", { signal: sig });
        Deno.exit(EXIT.forced);
      },
      onReload: () => {
        if (!publisher.readySent) log.info("SIGHUP during start-up: reloading once started");
        reloads.request();
      },
    })
    : () => {};
  const onAbort = () => requestStop("stop requested");
  options.signal?.addEventListener("abort", onAbort, { once: true });
  if (options.signal?.aborted) onAbort();
  openReloadsWhenOperating(lc, reloads);

  // --- data plane ----------------------------------------------------------------------------
  const launch = (s: DataPlaneSettings) => {
    const dp: Promise<DataPlane> = startDataPlane(s, {
      // Only the current Worker may take the daemon down; one being replaced may end as it likes.
      async onFatal(message) {
        if ((await dp) !== dataPlane) return;
        log.fatal("data plane failed: {message}", { message });
        lc.dispatch({ type: "stop", cause: "fatal", message: `data plane failed: ${message}` });
      },
    });
    return dp;
  };
  const refresh = async () => {
    if (dataPlane) dpStatus = await dataPlane.status().catch(() => dpStatus);
  };
  const startServing = async (wgAddress: string | null) => {
    settings = await dataPlaneSettings(config, wgAddress);
    // Resolves after the first discovery pass (bounded by health.timeout_ms).
    dataPlane = await launch(settings);
    if (pendingSlugs) await dataPlane.setSlugs(pendingSlugs);
    await publisher.applyAccepting(lc.state, true);
    proxyUrl = `http://${joinHostPort(dataPlane.addr.hostname, dataPlane.addr.port)}/v1`;
    await refresh();
    statusTimer = setInterval(() => void refresh(), 1000);
    await startRelay();
    lc.dispatch({ type: "dataplane_up" });
  };
  // Auxiliary: without it the proxy still serves, so a failure here is logged, not fatal.
  const startRelay = async () => {
    if (!config.portman.enabled) return;
    // Loaded only when configured: a node without a relay keeps its code out of memory.
    const { startDaemonRelay } = await import("./relay.ts");
    relay = await startDaemonRelay({
      config,
      ...(config.control_plane ? { nodeToken: await readNodeToken(config) } : {}),
      setSlugs: async (entries) => {
        pendingSlugs = entries;
        await dataPlane?.setSlugs(entries);
      },
      // A relayed `drain` is a desired state, exactly like the heartbeat's.
      drain: (reason) => {
        log.info("drain requested over the relay: {reason}", { reason });
        lc.dispatch({ type: "desired", state: "draining" });
        return Promise.resolve();
      },
      status: () => dpStatus,
      takeUsage: async () => (await dataPlane?.takeUsage()) ?? [],
      registry: supervisorMetrics,
    }).catch((err) => {
      log.error("Cannot serve the Portman relay: {message}; the proxy runs without it", {
        message: (err as Error).message,
      });
      return null;
    });
    if (registration) relay?.connect(registration, tunnelPeerIps());
  };
  const tunnelPeerIps = () => tunnel && registration ? registration.wireguard.peer.allowed_ips : [];

  // --- admin listener --------------------------------------------------------------------------
  const startAdmin = () => {
    if (!config.admin.enabled) return;
    const readinessReport = async () =>
      readinessChecks({
        state: lc.state,
        dataPlane: dataPlane ? await dataPlane.status().catch(() => null) : null,
        proxyUrl,
        tunnel: tunnel
          ? {
            iface: tunnel.iface,
            address: tunnel.address,
            backend: tunnel.backend.kind,
            pq: tunnel.pq().state,
          }
          : null,
        session: session
          ? { state: session.state, error: session.lastError?.message ?? null }
          : null,
      });
    admin = startAdminServer({
      hostname: config.admin.listen_addr,
      port: config.admin.listen_port,
      metrics: async () => {
        if (tunnel) await tunnel.status().catch(() => {});
        const parts = [await supervisorMetrics.getMetricsAsJSON()];
        const dp = dataPlane ? await dataPlane.metrics().catch(() => null) : null;
        // deno-lint-ignore no-explicit-any -- prom-client JSON snapshot crosses the Worker boundary
        if (dp) parts.push(dp as any);
        return await mergeExposition(parts);
      },
      readiness: readinessReport,
      status: async () =>
        buildAdminStatus({
          readiness: await readinessReport(),
          dataPlane: dataPlane ? await dataPlane.status().catch(() => null) : null,
          wireguard: tunnel ? await tunnel.status().catch(() => wgStatus) : null,
          pq: tunnel && tunnel.pq().state !== "disabled" ? tunnel.pq() : null,
        }),
    });
    adminUrl = `http://${joinHostPort(admin.addr.hostname, admin.addr.port)}`;
  };

  // --- reload ----------------------------------------------------------------------------------
  const reload = async () => {
    if (stopRequested() || !dataPlane || !settings) return;
    const result = await loadConfig({
      path: options.configPath,
      checkKeyFiles: true,
      pathAccess: labmandPathAccess(),
    });
    if (!result.ok) {
      log.error("reload rejected; keeping the running config. {count} error(s): {errors}", {
        count: result.errors.length,
        errors: result.errors.map(formatIssue),
      });
      return;
    }
    for (const w of result.warnings) log.warn("{warning}", { warning: formatIssue(w) });
    const { config: next, kept } = planReload(config, result.config);
    if (kept.length) {
      log.warn("reload: {fields} changes need a restart; kept the running values", {
        fields: kept.join(", "),
      });
    }
    setupLogging({ level: next.logging.level, format: next.logging.format });
    const nextSettings = await dataPlaneSettings(next, tunnel?.address ?? null);
    if (stopRequested()) return;
    const dp = dataPlane;
    await applySettings(dp, settings, nextSettings, next.proxy.shutdown_grace_ms, {
      beforeHandover: () =>
        log.info(
          "reload: new endpoint hosts need a new data plane; handing over without downtime",
        ),
      afterHandover: async () => {
        if (pendingSlugs) await dp.setSlugs(pendingSlugs);
        await publisher.applyAccepting(lc.state, true);
      },
    });
    settings = nextSettings;
    config = next;
    log.info("reloaded {path}: {n} endpoint(s)", {
      path: options.configPath,
      n: next.endpoints.length,
    });
  };

  // --- shutdown --------------------------------------------------------------------------------
  const shutdown = async () => {
    await runStopSequence({
      lc,
      reloads,
      stopWatching: () => tunnelWatch?.stop(),
      // First, while the data plane still answers: the relay sends its last usage report.
      relay,
      stopRefreshing: () => clearInterval(statusTimer),
      dataPlane,
      graceMs: config.proxy.shutdown_grace_ms,
      session,
      tunnel,
      admin,
    });
    options.signal?.removeEventListener("abort", onAbort);
    removeSignals();
  };

  // --- start-up --------------------------------------------------------------------------------
  let startFailed = false;
  try {
    // Read (and mode-checked) once: the public half goes to registration, the private half to
    // the interface. Generated on first start, so the node keeps its identity across restarts.
    // Local mode without a control plane has no use for an identity: nothing to read or create.
    const keys = localMode && !config.control_plane
      ? null
      : await (await import("./node_keys.ts")).loadNodeKeys(config);
    startAdmin();
    const wiring = wireSession(lc, {
      onSlugs: (entries) => {
        pendingSlugs = entries;
        dataPlane?.setSlugs(entries).catch((err) =>
          log.error("Cannot apply the slug table: {message}", { message: String(err) })
        );
      },
      onHeartbeat: (ok) => metrics.heartbeat(ok),
      onRegistered: (r) => {
        registration = r;
        relay?.connect(r, tunnelPeerIps());
      },
    });
    if (config.control_plane) {
      const rosenpassPublic = !localMode && config.rosenpass.enabled
        ? await rosenpassPublicKeyB64(config)
        : undefined;
      // Loaded only when configured: local mode keeps the control-plane client out of memory.
      const { ControlPlaneClient, ControlSession } = await import("../lib/control/mod.ts");
      session = new ControlSession({
        client: new ControlPlaneClient({
          baseUrl: config.control_plane.base_url,
          token: await readNodeToken(config),
          timeoutMs: config.control_plane.request_timeout_ms,
          userAgent: `labmand/${LABMAN_VERSION}`,
        }),
        node: {
          name: hostName(),
          labman_version: LABMAN_VERSION,
          ...(config.control_plane.region ? { region: config.control_plane.region } : {}),
          ...(config.control_plane.description
            ? { description: config.control_plane.description }
            : {}),
        },
        wireguardPublicKey: keys!.publicKey,
        ...(rosenpassPublic ? { rosenpassPublicKey: rosenpassPublic } : {}),
        heartbeatIntervalS: config.control_plane.heartbeat_interval_s,
        retryInitialMs: config.control_plane.retry_initial_ms,
        retryMaxMs: config.control_plane.retry_max_ms,
        stopTimeoutMs: STOP_CONTROL_MS,
        statusProvider: () =>
          buildNodeStatus({
            state: heartbeatState(lc.state),
            uptimeS: (performance.now() - started) / 1000,
            dataPlane: dpStatus,
            discovered,
            pq: tunnel?.pq() ??
              { state: localMode || !config.rosenpass.enabled ? "disabled" : "waiting" },
            wireguard: wgStatus,
            wireguardBackend: tunnel ? tunnel.backend.kind : "off",
          }),
        ...wiring.callbacks,
      });
    }

    await runStartup({
      lc,
      local: localMode,
      session,
      registered: wiring.registered,
      controlPlaneUrl: config.control_plane?.base_url ?? null,
      discover: async () => {
        discovered = await discoverCapabilities(await dataPlaneSettings(config, null));
        if (discovered) {
          log.info("found {models} model(s) on {endpoints} endpoint(s) before registering", {
            models: discovered.models.length,
            endpoints: discovered.endpoint_count,
          });
        }
      },
      bringUpTunnel: async (reg) => {
        // Loaded only with a tunnel: local mode keeps WireGuard and Rosenpass out of memory.
        const [{ bringUpTunnel, planTunnel }, { TunnelWatch }] = await Promise.all([
          import("./tunnel.ts"),
          import("./tunnel_watch.ts"),
        ]);
        const t = await bringUpTunnel({
          config,
          privateKey: keys!.privateKey!,
          plan: planTunnel(config, reg),
          registry: supervisorMetrics,
        });
        tunnel = t;
        wgStatus = await t.status().catch(() => null);
        tunnelWatch = new TunnelWatch({ lc, tunnel: t, onStatus: (st) => wgStatus = st });
        return t;
      },
      startServing,
      beatNow: () => session?.beatNow(),
    });
    await lc.until(stopRequested);
  } catch (err) {
    startFailed = !publisher.readySent;
    log.fatal("cannot start: {message}", { message: (err as Error).message });
    if (!startFailed) {
      lc.dispatch({ type: "stop", cause: "fatal", message: (err as Error).message });
    }
  }
  await shutdown();
  log.info("stopped");
  return startFailed ? EXIT.startFailed : exitCode(lc.state);
}

async function rosenpassPublicKeyB64(config: LabmanConfig): Promise<string> {
  try {
    return Buffer.from(await Deno.readFile(config.rosenpass.public_key_path)).toString("base64");
  } catch (err) {
    throw new Error(
      `Cannot read rosenpass.public_key_path ${config.rosenpass.public_key_path}: ${
        (err as Error).message
      } — create it with "labman keygen"`,
    );
  }
}
