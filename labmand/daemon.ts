/**
 * labmand's composition root: the one place every subsystem is wired together (style habit 15).
 * The supervisor holds config, secrets, the WireGuard backend and the control-plane client;
 * the data plane runs in a permission-narrowed Worker.
 *
 * @module
 */
import { startAdminServer } from "../lib/admin/mod.ts";
import { type LabmanConfig, loadConfig } from "../lib/config/mod.ts";
import { formatIssue } from "../lib/config/mod.ts";
import {
  type DataPlane,
  dataPlanePermissions,
  type DataPlaneSettings,
  startDataPlane,
} from "../lib/dataplane/mod.ts";
import { getLogger, mergeExposition, Registry, setupLogging } from "../lib/telemetry/mod.ts";

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
  const have = new Set(
    dataPlanePermissions(current.bind, current.endpoints.map((e) => e.base_url)).net as string[],
  );
  const want = dataPlanePermissions(next.bind, next.endpoints.map((e) => e.base_url))
    .net as string[];
  return want.some((entry) => !have.has(entry));
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
    localMode: config.wireguard.mode === "off",
  };
}

/** Runs labmand until it is stopped; resolves to the process exit code. */
export async function runDaemon(options: DaemonOptions): Promise<number> {
  let config = options.config;
  setupLogging({ level: config.logging.level, format: config.logging.format });
  const supervisorMetrics = new Registry();

  if (config.wireguard.mode !== "off") {
    log.error(
      'wireguard.mode = {mode} is not available in this build yet; set wireguard.mode = "off" for local mode',
      { mode: config.wireguard.mode },
    );
    return EXIT.startFailed;
  }
  log.warn('local mode (wireguard.mode = "off"): no tunnel; the proxy binds loopback only');

  let fatal: string | null = null;
  const stop = Promise.withResolvers<"signal" | "fatal">();
  let dataPlane: DataPlane;
  let settings = await dataPlaneSettings(config, null);
  // Only the current Worker may take the daemon down; one being replaced may end as it likes.
  const launch = (s: DataPlaneSettings) => {
    const dp: Promise<DataPlane> = startDataPlane(s, {
      async onFatal(message) {
        if ((await dp) !== dataPlane) return;
        fatal = message;
        log.fatal("data plane failed: {message}", { message });
        stop.resolve("fatal");
      },
    });
    return dp;
  };
  try {
    dataPlane = await launch(settings);
  } catch (err) {
    log.fatal("cannot start the proxy: {message}", { message: (err as Error).message });
    return EXIT.startFailed;
  }
  const proxyUrl = `http://${fmtHost(dataPlane.addr.hostname)}:${dataPlane.addr.port}/v1`;

  let admin: ReturnType<typeof startAdminServer> | null = null;
  if (config.admin.enabled) {
    try {
      admin = startAdminServer({
        hostname: config.admin.listen_addr,
        port: config.admin.listen_port,
        metrics: async () =>
          await mergeExposition([
            await supervisorMetrics.getMetricsAsJSON(),
            // deno-lint-ignore no-explicit-any -- prom-client JSON snapshot crosses the Worker boundary
            (await dataPlane.metrics()) as any,
          ]),
        readiness: async () => {
          const status = await dataPlane.status();
          const healthy = status.endpoints.filter((e) => e.healthy).length;
          return {
            ready: fatal === null,
            checks: {
              proxy: `listening on ${proxyUrl}`,
              endpoints: `${healthy}/${status.endpoints.length} healthy`,
            },
          };
        },
      });
    } catch (err) {
      log.fatal("cannot start the admin listener on {addr}: {message}", {
        addr: `${config.admin.listen_addr}:${config.admin.listen_port}`,
        message: (err as Error).message,
      });
      await dataPlane.shutdown(0);
      return EXIT.startFailed;
    }
  }
  const adminUrl = admin ? `http://${fmtHost(admin.addr.hostname)}:${admin.addr.port}` : null;
  log.info("labmand ready: proxy {proxyUrl}, admin {adminUrl}", { proxyUrl, adminUrl });
  options.onReady?.({ proxyUrl, adminUrl });

  // Signals. A second SIGTERM/SIGINT forces exit.
  let stopping = false;
  const onStop = () => {
    if (stopping) {
      log.warn("second stop signal: exiting now");
      Deno.exit(EXIT.forced);
    }
    stopping = true;
    stop.resolve("signal");
  };
  const onHup = () => {
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
    if (
      next.proxy.listen_port !== config.proxy.listen_port ||
      next.wireguard.mode !== config.wireguard.mode
    ) {
      log.warn(
        "reload: proxy.listen_port and wireguard.mode changes need a restart; kept the old values",
      );
      next.proxy.listen_port = config.proxy.listen_port;
      next.wireguard.mode = config.wireguard.mode;
    }
    setupLogging({ level: next.logging.level, format: next.logging.format });
    const nextSettings = await dataPlaneSettings(next, null);
    if (needsWiderPermissions(settings, nextSettings)) {
      // A Worker's permissions are fixed at birth. Hand over to a successor with the wider set:
      // it binds the same address (SO_REUSEPORT) before the old one stops accepting, and the old
      // one lets its in-flight requests finish.
      log.info("reload: new endpoint hosts need a new data plane; handing over without downtime");
      const previous = dataPlane;
      dataPlane = await launch(nextSettings);
      previous.shutdown(next.proxy.shutdown_grace_ms).catch((err) =>
        log.warn("previous data plane did not stop cleanly: {message}", { message: String(err) })
      );
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
  const handleSignals = options.handleSignals ?? true;
  if (handleSignals) {
    Deno.addSignalListener("SIGTERM", onStop);
    Deno.addSignalListener("SIGINT", onStop);
    Deno.addSignalListener("SIGHUP", onHup);
  }
  const onAbort = () => stop.resolve("signal");
  options.signal?.addEventListener("abort", onAbort, { once: true });
  if (options.signal?.aborted) onAbort();

  const why = await stop.promise;
  options.signal?.removeEventListener("abort", onAbort);
  log.info("stopping: letting in-flight requests finish (grace {grace} ms)", {
    grace: config.proxy.shutdown_grace_ms,
  });
  await dataPlane.shutdown(config.proxy.shutdown_grace_ms).catch(() => {});
  await admin?.shutdown();
  if (handleSignals) {
    Deno.removeSignalListener("SIGTERM", onStop);
    Deno.removeSignalListener("SIGINT", onStop);
    Deno.removeSignalListener("SIGHUP", onHup);
  }
  log.info("stopped");
  return why === "fatal" ? EXIT.fatal : EXIT.ok;
}

function fmtHost(h: string): string {
  return h.includes(":") ? `[${h}]` : h;
}
