/**
 * labmand's composition root: the one place every subsystem is wired together (style habit 15).
 * The supervisor holds config, secrets, the WireGuard backend, the Rosenpass child and the
 * control-plane session; the data plane runs in a permission-narrowed Worker.
 *
 * Start-up order (roadmap §7.1): logging → config → keys → registration → labman0 →
 * Rosenpass → data plane bound to the WireGuard address → heartbeats → READY=1.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { startAdminServer } from "../lib/admin/mod.ts";
import { formatIssue, type LabmanConfig, loadConfig } from "../lib/config/mod.ts";
import {
  ControlPlaneClient,
  type ControlPlaneError,
  ControlSession,
  type DesiredState,
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
import { sdNotify } from "../lib/systemd/mod.ts";
import { getLogger, mergeExposition, Registry, setupLogging } from "../lib/telemetry/mod.ts";
import {
  encodeKey,
  generateKeyPair,
  type InterfaceStatus,
  publicKeyFromPrivate,
  readPrivateKey,
} from "../lib/wireguard/mod.ts";
import { buildNodeStatus, type NodeRunState } from "./node_status.ts";
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

/** Exit codes: 0 clean stop, 1 failed to start, 2 stopped after a fatal runtime error, 3 forced. */
export const EXIT = { ok: 0, startFailed: 1, fatal: 2, forced: 3 } as const;

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

const notify = (fields: Record<string, string>) => sdNotify(fields);

/** Runs labmand until it is stopped; resolves to the process exit code. */
export async function runDaemon(options: DaemonOptions): Promise<number> {
  let config = options.config;
  setupLogging({ level: config.logging.level, format: config.logging.format });
  const started = performance.now();
  const supervisorMetrics = new Registry();
  const localMode = config.wireguard.mode === "off";
  const stop = Promise.withResolvers<"signal" | "fatal">();
  let fatal: string | null = null;
  let stopping = false;
  let runState: NodeRunState = "starting";

  // Signals first, so a stop during a long start-up (registration retries) is honoured.
  const onStop = () => {
    if (stopping) {
      log.warn("second stop signal: exiting now");
      Deno.exit(EXIT.forced);
    }
    stopping = true;
    stop.resolve("signal");
  };
  const handleSignals = options.handleSignals ?? true;
  let onHup = () => {};
  const hup = () => onHup();
  if (handleSignals) {
    Deno.addSignalListener("SIGTERM", onStop);
    Deno.addSignalListener("SIGINT", onStop);
    Deno.addSignalListener("SIGHUP", hup);
  }
  const onAbort = () => onStop();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  const cleanupSignals = () => {
    options.signal?.removeEventListener("abort", onAbort);
    if (!handleSignals) return;
    Deno.removeSignalListener("SIGTERM", onStop);
    Deno.removeSignalListener("SIGINT", onStop);
    Deno.removeSignalListener("SIGHUP", hup);
  };

  let session: ControlSession | null = null;
  let tunnel: Tunnel | null = null;
  let dataPlane: DataPlane | null = null;
  let admin: ReturnType<typeof startAdminServer> | null = null;
  let statusTimer: ReturnType<typeof setInterval> | undefined;
  // Latest data-plane and tunnel snapshots: heartbeats read these synchronously.
  let dpStatus: DataPlaneStatus | null = null;
  let wgStatus: InterfaceStatus | null = null;
  let pendingSlugs: SlugEntry[] | null = null;
  let desired: DesiredState = "active";

  const applyDesired = async () => {
    if (!dataPlane) return;
    const accepting = desired === "active";
    await dataPlane.setAccepting(
      accepting,
      accepting ? undefined : `node is in ${desired} (requested by the control plane)`,
    );
  };

  const teardown = async () => {
    clearInterval(statusTimer);
    if (dataPlane) {
      log.info("stopping: letting in-flight requests finish (grace {grace} ms)", {
        grace: config.proxy.shutdown_grace_ms,
      });
      await dataPlane.shutdown(config.proxy.shutdown_grace_ms).catch(() => {});
    }
    if (session) {
      runState = "stopping";
      await session.stop({ finalState: "stopping", deregister: true }).catch(() => {});
    }
    await tunnel?.down().catch(() => {});
    await admin?.shutdown();
    cleanupSignals();
  };

  try {
    // --- keys and registration -----------------------------------------------------------
    // Read (and mode-checked) once: the public half goes to registration, the private half to
    // the interface.
    const wgKeys = await wireguardKeys(config);
    let reg: RegisterResponse | null = null;
    if (config.control_plane) {
      const rosenpassPublic = !localMode && config.rosenpass.enabled
        ? await rosenpassPublicKeyB64(config)
        : undefined;
      const registered = Promise.withResolvers<RegisterResponse>();
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
        wireguardPublicKey: wgKeys.publicKey,
        ...(rosenpassPublic ? { rosenpassPublicKey: rosenpassPublic } : {}),
        heartbeatIntervalS: config.control_plane.heartbeat_interval_s,
        retryInitialMs: config.control_plane.retry_initial_ms,
        retryMaxMs: config.control_plane.retry_max_ms,
        statusProvider: () =>
          buildNodeStatus({
            state: runState,
            uptimeS: (performance.now() - started) / 1000,
            dataPlane: dpStatus,
            pq: tunnel?.pq() ??
              { state: localMode || !config.rosenpass.enabled ? "disabled" : "waiting" },
            wireguard: wgStatus,
            wireguardBackend: tunnel ? tunnel.backend.kind : "off",
          }),
        onRegistered: (r) => registered.resolve(r),
        onSlugs: (entries) => {
          pendingSlugs = entries;
          dataPlane?.setSlugs(entries).catch((err) =>
            log.error("Cannot apply the slug table: {message}", { message: String(err) })
          );
        },
        onDesiredState: (state) => {
          desired = state;
          if (runState !== "starting" && runState !== "stopping") runState = state;
          log.info("control plane asks for state {state}", { state });
          applyDesired().catch(() => {});
        },
        onStateChange: (state, err?: ControlPlaneError) => {
          if (state === "error") {
            registered.reject(err ?? new Error("control plane session failed"));
          }
        },
      });
      notify({ STATUS: `registering with ${config.control_plane.base_url}` });
      session.start();
      const outcome = await Promise.race([
        registered.promise.then((r) => ({ reg: r }), (err) => ({ err: err as Error })),
        stop.promise.then(() => null),
      ]);
      if (outcome === null) {
        await teardown();
        return EXIT.ok;
      }
      if ("err" in outcome) {
        log.fatal("cannot register with the control plane: {message}", {
          message: outcome.err.message,
        });
        await teardown();
        return EXIT.startFailed;
      }
      reg = outcome.reg; // the control session logs the registration (one line per event)
    }

    // --- tunnel --------------------------------------------------------------------------
    if (localMode) {
      log.warn('local mode (wireguard.mode = "off"): no tunnel; the proxy binds loopback only');
    } else {
      notify({ STATUS: `bringing up ${config.wireguard.interface_name}` });
      tunnel = await bringUpTunnel({
        config,
        privateKey: wgKeys.privateKey!,
        plan: planTunnel(config, reg),
        registry: supervisorMetrics,
      });
      wgStatus = await tunnel.status().catch(() => null);
    }

    // --- data plane ----------------------------------------------------------------------
    let settings = await dataPlaneSettings(config, tunnel?.address ?? null);
    const launch = (s: DataPlaneSettings) => {
      const dp: Promise<DataPlane> = startDataPlane(s, {
        // Only the current Worker may take the daemon down; one being replaced may end as it likes.
        async onFatal(message) {
          if ((await dp) !== dataPlane) return;
          fatal = message;
          log.fatal("data plane failed: {message}", { message });
          stop.resolve("fatal");
        },
      });
      return dp;
    };
    dataPlane = await launch(settings);
    if (pendingSlugs) await dataPlane.setSlugs(pendingSlugs);
    else if (reg?.slugs) await dataPlane.setSlugs(reg.slugs);
    await applyDesired();
    const proxyUrl = `http://${fmtHost(dataPlane.addr.hostname)}:${dataPlane.addr.port}/v1`;

    const refresh = async () => {
      if (!dataPlane) return;
      dpStatus = await dataPlane.status().catch(() => dpStatus);
      if (tunnel) wgStatus = await tunnel.status().catch(() => wgStatus);
    };
    await refresh();
    statusTimer = setInterval(() => void refresh(), 1000);

    // --- admin listener ------------------------------------------------------------------
    if (config.admin.enabled) {
      admin = startAdminServer({
        hostname: config.admin.listen_addr,
        port: config.admin.listen_port,
        metrics: async () => {
          if (tunnel) await tunnel.status().catch(() => {});
          return await mergeExposition([
            await supervisorMetrics.getMetricsAsJSON(),
            // deno-lint-ignore no-explicit-any -- prom-client JSON snapshot crosses the Worker boundary
            (await dataPlane!.metrics()) as any,
          ]);
        },
        readiness: async () => {
          const status = await dataPlane!.status();
          const healthy = status.endpoints.filter((e) => e.healthy).length;
          const pq = tunnel?.pq();
          return {
            ready: fatal === null && runState !== "starting" && runState !== "stopping",
            checks: {
              state: runState,
              proxy: `listening on ${proxyUrl}`,
              endpoints: `${healthy}/${status.endpoints.length} healthy`,
              ...(tunnel
                ? { wireguard: `${tunnel.iface} ${tunnel.address} (${tunnel.backend.kind})` }
                : {}),
              ...(pq ? { pq: pq.state } : {}),
            },
          };
        },
      });
    }
    const adminUrl = admin ? `http://${fmtHost(admin.addr.hostname)}:${admin.addr.port}` : null;

    // --- readiness -----------------------------------------------------------------------
    if (tunnel) {
      notify({ STATUS: "waiting for the first post-quantum key exchange" });
      const first = await Promise.race([
        tunnel.firstPsk.then(() => true),
        stop.promise.then(() => false),
      ]);
      if (!first) {
        await teardown();
        return fatal ? EXIT.fatal : EXIT.ok;
      }
    }
    runState = desired;
    notify({ READY: "1", STATUS: `serving on ${proxyUrl}` });
    log.info("labmand ready: proxy {proxyUrl}, admin {adminUrl}", { proxyUrl, adminUrl });
    options.onReady?.({ proxyUrl, adminUrl });

    // --- reload --------------------------------------------------------------------------
    onHup = () => {
      reload().catch((err) => log.error("reload failed: {message}", { message: String(err) }));
    };
    const reload = async () => {
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
      if (needsWiderPermissions(settings, nextSettings)) {
        // A Worker's permissions are fixed at birth. Hand over to a successor with the wider set:
        // it binds the same address (SO_REUSEPORT) before the old one stops accepting, and the
        // old one lets its in-flight requests finish.
        log.info("reload: new endpoint hosts need a new data plane; handing over without downtime");
        const previous = dataPlane!;
        dataPlane = await launch(nextSettings);
        if (pendingSlugs) await dataPlane.setSlugs(pendingSlugs);
        await applyDesired();
        previous.shutdown(next.proxy.shutdown_grace_ms).catch((err) =>
          log.warn("previous data plane did not stop cleanly: {message}", { message: String(err) })
        );
      } else {
        await dataPlane!.reconfigure(nextSettings);
      }
      settings = nextSettings;
      config = next;
      log.info("reloaded {path}: {n} endpoint(s)", {
        path: options.configPath,
        n: next.endpoints.length,
      });
    };

    const why = await stop.promise;
    notify({ STOPPING: "1", STATUS: "stopping" });
    await teardown();
    log.info("stopped");
    return why === "fatal" ? EXIT.fatal : EXIT.ok;
  } catch (err) {
    log.fatal("cannot start: {message}", { message: (err as Error).message });
    await teardown();
    return EXIT.startFailed;
  }
}

/**
 * The node's WireGuard key pair from `wireguard.private_key_path`. In local mode the key is only
 * an identity for registration, so a missing file yields an ephemeral public key (no private).
 */
async function wireguardKeys(
  config: LabmanConfig,
): Promise<{ privateKey: string | null; publicKey: string }> {
  try {
    const privateKey = await readPrivateKey(config.wireguard.private_key_path);
    return { privateKey, publicKey: encodeKey(await publicKeyFromPrivate(privateKey)) };
  } catch (err) {
    if (config.wireguard.mode !== "off") {
      throw new Error(
        `wireguard.private_key_path: ${(err as Error).message} — create it with "labman keygen"`,
      );
    }
    return { privateKey: null, publicKey: encodeKey((await generateKeyPair()).publicKey) };
  }
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
