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
 * - tunnel mode: registration (retried with backoff, the reason in STATUS=) → labman0 →
 *   Rosenpass → data plane on the WireGuard address → first PSK on the interface → READY; the
 *   discovered capabilities go out in an immediate heartbeat.
 *
 * Shutdown: draining (the heartbeat says so at once; requests get `proxy.shutdown_grace_ms`,
 * then are aborted) → stopping (final heartbeat, DELETE retried within a bound) → Rosenpass and
 * labman0 down, key material removed → stopped.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { startAdminServer } from "../lib/admin/mod.ts";
import { formatIssue, type LabmanConfig, loadConfig } from "../lib/config/mod.ts";
import {
  ControlPlaneClient,
  ControlSession,
  type RegisterResponse,
  type SlugEntry,
} from "../lib/control/mod.ts";
import {
  type DataPlane,
  dataPlanePermissions,
  type DataPlaneSettings,
  type DataPlaneStatus,
  startDataPlane,
} from "../lib/dataplane/mod.ts";
import {
  accepting,
  assessTunnel,
  EXIT,
  exitCode,
  heartbeatState,
  initialTrack,
  isOperating,
  Lifecycle,
  type LifecycleState,
  readiness,
  stallMsFor,
  statusText,
} from "../lib/lifecycle/mod.ts";
import { sdNotify } from "../lib/systemd/mod.ts";
import { getLogger, mergeExposition, Registry, setupLogging } from "../lib/telemetry/mod.ts";
import type { InterfaceStatus } from "../lib/wireguard/mod.ts";
import { createDaemonMetrics } from "./daemon_metrics.ts";
import { loadNodeKeys } from "./node_keys.ts";
import { buildNodeStatus } from "./node_status.ts";
import { type DaemonRelay, startDaemonRelay } from "./relay.ts";
import { installSignals, ReloadQueue } from "./signals.ts";
import { bringUpTunnel, planTunnel, type Tunnel } from "./tunnel.ts";
import { LABMAN_VERSION } from "./version.ts";

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
        `endpoints[${i}].api_key_file: cannot read ${e.api_key_file}: ${(err as Error).message}`,
      );
    }
  }
  return keys;
}

function proxyBind(config: LabmanConfig, wgAddress: string | null): DataPlaneSettings["bind"] {
  const hostname = config.proxy.listen_addr ?? wgAddress?.split("/")[0] ?? "127.0.0.1";
  return { hostname, port: config.proxy.listen_port, reusePort: true };
}

/** True when `next` needs network access the running Worker was not granted. */
export function needsWiderPermissions(
  current: DataPlaneSettings,
  next: DataPlaneSettings,
): boolean {
  const net = (s: DataPlaneSettings) =>
    dataPlanePermissions(s.bind, s.endpoints.map((e) => e.base_url)).net as string[];
  const have = new Set(net(current));
  return net(next).some((entry) => !have.has(entry));
}

export async function dataPlaneSettings(
  config: LabmanConfig,
  wgAddress: string | null,
): Promise<DataPlaneSettings> {
  return {
    bind: proxyBind(config, wgAddress),
    endpoints: config.endpoints,
    apiKeys: await readApiKeys(config),
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
      `control_plane.node_token_file: cannot read ${cp.node_token_file}: ${(err as Error).message}`,
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
export const STOP_CONTROL_MS = 10_000;

/** Runs labmand until it is stopped; resolves to the process exit code. */
export async function runDaemon(options: DaemonOptions): Promise<number> {
  let config = options.config;
  setupLogging({ level: config.logging.level, format: config.logging.format });
  const started = performance.now();
  const supervisorMetrics = new Registry();
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
  let healthTimer: ReturnType<typeof setInterval> | undefined;
  // Latest data-plane and tunnel snapshots: heartbeats read these synchronously. The tunnel's is
  // replaced by null when the interface cannot be read, never kept from an older read.
  let dpStatus: DataPlaneStatus | null = null;
  let wgStatus: InterfaceStatus | null = null;
  let pendingSlugs: SlugEntry[] | null = null;
  // The Portman relay (docs/protocol.md) and the registration it dials the control plane with.
  let relay: DaemonRelay | null = null;
  let registration: RegisterResponse | null = null;
  const stopRequested = () => lc.state.stopCause !== null;

  // --- everything observable is derived from the lifecycle ---------------------------------
  let appliedAccepting: string | null = null;
  const applyAccepting = async () => {
    const dp = dataPlane;
    if (!dp) return;
    const a = accepting(lc.state);
    const key = JSON.stringify(a);
    if (key === appliedAccepting) return;
    appliedAccepting = key;
    await dp.setAccepting(a.accepting, a.reason).catch((err) =>
      log.warn("Cannot tell the data plane to {what}: {message}", {
        what: a.accepting ? "accept requests" : "refuse requests",
        message: String(err),
      })
    );
  };
  let readySent = false;
  let stoppingSent = false;
  let lastStatus = "";
  const onChange = (s: LifecycleState, prev: LifecycleState) => {
    metrics.update(s);
    if (s.phase !== prev.phase) {
      log.info("state {from} -> {to}: {status}", {
        from: prev.phase,
        to: s.phase,
        status: statusText(s),
      });
    }
    const fields: Record<string, string> = {};
    const text = statusText(s, proxyUrl ?? undefined);
    if (text !== lastStatus) fields.STATUS = lastStatus = text;
    // READY=1 means start-up is over: serving, or settled in `error` (so systemd neither times
    // the start out nor restarts a node whose token was refused).
    let nowReady = false;
    if (!readySent && !stopRequested() && (isOperating(s) || s.phase === "error")) {
      readySent = true;
      nowReady = isOperating(s);
      fields.READY = "1";
    }
    if (!stoppingSent && s.stopCause !== null) {
      stoppingSent = true;
      fields.STOPPING = "1";
      // The control plane hears `draining` from the first moment of the drain.
      session?.beatNow();
    }
    if (Object.keys(fields).length > 0) sdNotify(fields);
    if (nowReady) {
      log.info("labmand ready: proxy {proxyUrl}, admin {adminUrl}", { proxyUrl, adminUrl });
      options.onReady?.({ proxyUrl: proxyUrl!, adminUrl });
    }
    void applyAccepting();
  };
  lc.subscribe(onChange);

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
        if (!readySent) log.info("SIGHUP during start-up: reloading once started");
        reloads.request();
      },
    })
    : () => {};
  const onAbort = () => requestStop("stop requested");
  options.signal?.addEventListener("abort", onAbort, { once: true });
  if (options.signal?.aborted) onAbort();
  void lc.until((s) => isOperating(s)).then(() => reloads.open());

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
    appliedAccepting = null;
    await applyAccepting();
    proxyUrl = `http://${fmtHost(dataPlane.addr.hostname)}:${dataPlane.addr.port}/v1`;
    await refresh();
    statusTimer = setInterval(() => void refresh(), 1000);
    await startRelay();
    lc.dispatch({ type: "dataplane_up" });
  };
  // Auxiliary: without it the proxy still serves, so a failure here is logged, not fatal.
  const startRelay = async () => {
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

  // --- tunnel health -------------------------------------------------------------------------
  const watchTunnel = (t: Tunnel) => {
    let track = initialTrack(performance.now());
    const policy = { stallMs: stallMsFor(t.keepaliveS) };
    let busy = false;
    const tick = async () => {
      if (busy || stopRequested()) return;
      busy = true;
      try {
        const { sample, status } = await t.sample();
        wgStatus = status;
        const v = assessTunnel(track, sample, policy);
        track = v.track;
        if (v.health !== lc.state.tunnel && lc.state.tunnelUp) {
          if (v.health === "up") {
            log.info("tunnel {iface} carries traffic again", { iface: t.iface });
          } else {
            log.warn("tunnel {iface} is {health}: {detail}", {
              iface: t.iface,
              health: v.health,
              detail: v.detail,
            });
          }
        }
        lc.dispatch({
          type: "tunnel_health",
          health: v.health,
          ...(v.detail ? { detail: v.detail } : {}),
        });
        if (sample.backendFailure !== null) {
          // A node that cannot carry traffic must not stay up looking alive: exit 2 and let
          // systemd (Restart=on-failure) start it afresh.
          log.fatal("{message}", { message: sample.backendFailure });
          lc.dispatch({ type: "stop", cause: "fatal", message: sample.backendFailure });
        } else if (v.reinitiate && isOperating(lc.state)) {
          await t.reinitiate().catch((err) =>
            log.warn("Cannot re-initiate the handshake: {message}", { message: String(err) })
          );
        }
      } finally {
        busy = false;
      }
    };
    healthTimer = setInterval(() => void tick(), 1000);
  };

  // --- admin listener --------------------------------------------------------------------------
  const startAdmin = () => {
    if (!config.admin.enabled) return;
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
      readiness: async () => {
        const s = lc.state;
        const r = readiness(s);
        const checks: Record<string, string> = {
          state: r.ready ? s.phase : `${s.phase} (${r.reason})`,
        };
        const status = dataPlane ? await dataPlane.status().catch(() => null) : null;
        if (status) {
          const healthy = status.endpoints.filter((e) => e.healthy).length;
          checks.proxy = `listening on ${proxyUrl}`;
          checks.endpoints = `${healthy}/${status.endpoints.length} healthy`;
        }
        if (tunnel) {
          checks.wireguard = `${tunnel.iface} ${tunnel.address} (${tunnel.backend.kind}): ${
            s.tunnel.replace("_", " ")
          }`;
          checks.pq = tunnel.pq().state;
        }
        if (session) {
          checks.control_plane = session.state === "error"
            ? `error: ${session.lastError?.message ?? "rejected"}`
            : session.state;
        }
        return { ready: r.ready, checks };
      },
    });
    adminUrl = `http://${fmtHost(admin.addr.hostname)}:${admin.addr.port}`;
  };

  // --- reload ----------------------------------------------------------------------------------
  const reload = async () => {
    if (stopRequested() || !dataPlane || !settings) return;
    const result = await loadConfig({ path: options.configPath, checkKeyFiles: true });
    if (!result.ok) {
      log.error("reload rejected; keeping the running config. {count} error(s): {errors}", {
        count: result.errors.length,
        errors: result.errors.map(formatIssue),
      });
      return;
    }
    const next = result.config;
    for (const w of result.warnings) log.warn("{warning}", { warning: formatIssue(w) });
    const fixed: string[] = [];
    if (next.proxy.listen_port !== config.proxy.listen_port) fixed.push("proxy.listen_port");
    if (next.wireguard.mode !== config.wireguard.mode) fixed.push("wireguard.mode");
    if (JSON.stringify(next.control_plane) !== JSON.stringify(config.control_plane)) {
      fixed.push("control_plane");
    }
    if (fixed.length) {
      log.warn("reload: {fields} changes need a restart; kept the running values", {
        fields: fixed.join(", "),
      });
      next.proxy.listen_port = config.proxy.listen_port;
      next.wireguard.mode = config.wireguard.mode;
      next.control_plane = config.control_plane;
    }
    setupLogging({ level: next.logging.level, format: next.logging.format });
    const nextSettings = await dataPlaneSettings(next, tunnel?.address ?? null);
    if (stopRequested()) return;
    if (needsWiderPermissions(settings, nextSettings)) {
      // A Worker's permissions are fixed at birth. Hand over to a successor with the wider set:
      // it binds the same address (SO_REUSEPORT) before the old one stops accepting, and the
      // old one lets its in-flight requests finish.
      log.info("reload: new endpoint hosts need a new data plane; handing over without downtime");
      // The same DataPlane keeps counters monotonic and max_concurrent held across the two.
      await dataPlane.handover(nextSettings, next.proxy.shutdown_grace_ms);
      if (pendingSlugs) await dataPlane.setSlugs(pendingSlugs);
      appliedAccepting = null;
      await applyAccepting();
    } else {
      await dataPlane.reconfigure(nextSettings);
    }
    settings = nextSettings;
    config = next;
    log.info("reloaded {path}: {n} endpoint(s)", {
      path: options.configPath,
      n: next.endpoints.length,
    });
  };

  // --- shutdown --------------------------------------------------------------------------------
  const shutdown = async () => {
    if (!stopRequested()) lc.dispatch({ type: "stop", cause: "signal" });
    await reloads.close();
    clearInterval(healthTimer);
    // First, while the data plane still answers: the relay sends its last usage report.
    await relay?.stop().catch(() => {});
    if (dataPlane) {
      log.info("stopping: letting in-flight requests finish (grace {grace} ms)", {
        grace: config.proxy.shutdown_grace_ms,
      });
      await dataPlane.shutdown(config.proxy.shutdown_grace_ms).catch(() => {});
    }
    clearInterval(statusTimer);
    lc.dispatch({ type: "drained" });
    if (session) {
      await session.stop({ finalState: "stopping", deregister: true, timeoutMs: STOP_CONTROL_MS })
        .catch(() => {});
    }
    lc.dispatch({ type: "final_heartbeat" });
    await tunnel?.down().catch((err) =>
      log.warn("Cannot take the tunnel down: {message}", { message: String(err) })
    );
    await (admin as ReturnType<typeof startAdminServer> | null)?.shutdown().catch(() => {});
    lc.dispatch({ type: "down" });
    options.signal?.removeEventListener("abort", onAbort);
    removeSignals();
  };

  // --- start-up --------------------------------------------------------------------------------
  let startFailed = false;
  try {
    // Read (and mode-checked) once: the public half goes to registration, the private half to
    // the interface. Generated on first start, so the node keeps its identity across restarts.
    // Local mode without a control plane has no use for an identity: nothing to read or create.
    const keys = localMode && !config.control_plane ? null : await loadNodeKeys(config);
    startAdmin();
    const registered = Promise.withResolvers<RegisterResponse>();
    if (config.control_plane) {
      const rosenpassPublic = !localMode && config.rosenpass.enabled
        ? await rosenpassPublicKeyB64(config)
        : undefined;
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
            pq: tunnel?.pq() ??
              { state: localMode || !config.rosenpass.enabled ? "disabled" : "waiting" },
            wireguard: wgStatus,
            wireguardBackend: tunnel ? tunnel.backend.kind : "off",
          }),
        onRegistered: (r) => {
          registered.resolve(r);
          registration = r;
          relay?.connect(r, tunnelPeerIps());
          // The control session logs the registration itself (one line per event).
          lc.dispatch({ type: "registered" });
        },
        onRegisterRetry: (err, delayMs) =>
          lc.dispatch({
            type: "registering",
            reason: `${err.message} (next attempt in ${Math.ceil(delayMs / 1000)} s)`,
          }),
        onSlugs: (entries) => {
          pendingSlugs = entries;
          dataPlane?.setSlugs(entries).catch((err) =>
            log.error("Cannot apply the slug table: {message}", { message: String(err) })
          );
        },
        onDesiredState: (state) => lc.dispatch({ type: "desired", state }),
        onStateChange: (state, err) => {
          if (state === "error") {
            lc.dispatch({
              type: "rejected",
              message: err?.message ?? "the control-plane session failed",
            });
          }
        },
        onHeartbeat: (o) => metrics.heartbeat(o.ok),
      });
    }

    if (localMode) {
      log.warn('local mode (wireguard.mode = "off"): no tunnel; the proxy binds loopback only');
      // No control plane is needed to serve: the proxy comes first, registration follows in
      // the background with the capabilities the first discovery pass found.
      await startServing(null);
      session?.start();
    } else {
      let reg: RegisterResponse | null = null;
      if (session) {
        lc.dispatch({
          type: "registering",
          reason: `contacting ${config.control_plane!.base_url}`,
        });
        session.start();
        reg = await Promise.race([
          registered.promise,
          lc.until((s) => s.stopCause !== null || s.phase === "error").then(() => null),
        ]);
      }
      if (!stopRequested() && lc.state.phase !== "error") {
        tunnel = await bringUpTunnel({
          config,
          privateKey: keys!.privateKey!,
          plan: planTunnel(config, reg),
          registry: supervisorMetrics,
        });
        wgStatus = await tunnel.status().catch(() => null);
        lc.dispatch({ type: "tunnel_up" });
        const t = tunnel;
        void t.firstPsk.then(() => {
          log.info("first post-quantum PSK installed on {iface}", { iface: t.iface });
          lc.dispatch({ type: "pq_installed" });
        });
        watchTunnel(t);
        if (!stopRequested()) {
          await startServing(t.address);
          // Registration could not wait for the data plane (the address comes from it): send
          // the discovered capabilities now rather than at the next interval.
          session?.beatNow();
        }
      }
    }
    await lc.until(stopRequested);
  } catch (err) {
    startFailed = !readySent;
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
      `rosenpass.public_key_path: cannot read ${config.rosenpass.public_key_path}: ${
        (err as Error).message
      } — create it with "labman keygen"`,
    );
  }
}

function fmtHost(h: string): string {
  return h.includes(":") ? `[${h}]` : h;
}
