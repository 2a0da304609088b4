/**
 * Supervisor side of the data plane: starts the Worker with permissions narrowed from the
 * config, talks to it by message, and keeps the data plane up whatever happens to one Worker:
 *
 * - a Worker that crashes (any reason: out of memory, an uncaught error, a fatal report) is
 *   restarted with the same bind and settings, its slug table and drain state replayed, with
 *   backoff; logged and counted in `labman_dataplane_restarts_total`. The daemon and its admin
 *   listener never go down with it.
 * - a reload that needs wider permissions hands over to a successor Worker
 *   ({@linkcode DataPlane.handover}) without refusing a connection, while `max_concurrent`
 *   holds across both: slots are owned by exactly one Worker at a time (the successor starts
 *   with every limited slot reserved, learns what the predecessor holds, and gets each slot the
 *   predecessor frees).
 * - counters and histograms stay monotonic across both: what a replaced Worker counted is kept
 *   and added to the live Workers' values in every scrape and heartbeat.
 *
 * @module
 */
import type { SlugEntry } from "../control/mod.ts";
import { getLogger } from "../telemetry/mod.ts";
import type { DataPlaneSettings, DataPlaneStatus, FromWorker, ToWorker } from "./messages.ts";
import { dataPlanePermissions } from "./permissions.ts";
import {
  addSnapshot,
  isCumulative,
  mergeSnapshots,
  type MetricSnapshot,
  requestTotals,
} from "./_snapshots.ts";
import type { UsageRow } from "../proxy/mod.ts";

const log = getLogger("dataplane");
/** How long a stopping Worker may take to hand over its final metrics. */
const FINAL_SNAPSHOT_MS = 2_000;

/** Time after the shutdown grace for aborted requests to unwind before the Worker is ended. */
export const SHUTDOWN_MARGIN_MS = 2_000;

/** Distributes `Omit` over a union so each message variant keeps its own fields. */
type WithoutId<T> = T extends unknown ? Omit<T, "id"> : never;

export interface StartDataPlaneOptions {
  /** Module the Worker runs. @default worker_main.ts beside this file */
  workerUrl?: URL;
  /** How long the Worker may take to bind its listener. @default 15000 */
  readyTimeoutMs?: number;
  /**
   * Called once if the data plane is gone for good: only when `restart` is false (a crashed
   * Worker is otherwise restarted).
   */
  onFatal?: (message: string) => void;
  /** Restart a Worker that crashed. @default true */
  restart?: boolean;
  /** First restart delay; doubles per consecutive failure up to `restartMaxMs`. @default 100 */
  restartMinMs?: number;
  /** @default 30000 */
  restartMaxMs?: number;
  /** Called after each successful restart. */
  onRestart?: (info: { reason: string; restarts: number }) => void;
}

export interface DataPlane {
  readonly addr: { hostname: string; port: number };
  reconfigure(settings: DataPlaneSettings): Promise<void>;
  setSlugs(entries: SlugEntry[]): Promise<void>;
  setAccepting(accepting: boolean, reason?: string): Promise<void>;
  /** prom-client JSON snapshot of the data plane (all Workers, past ones' counters included). */
  metrics(): Promise<unknown[]>;
  status(): Promise<DataPlaneStatus>;
  /** Token usage since the last call (the relay's `usage_report`); empty unless `usage`. */
  takeUsage(): Promise<UsageRow[]>;
  /**
   * Replaces the Worker by a successor started with `settings` (a Worker's permissions are
   * fixed at birth): the successor binds the same address (SO_REUSEPORT) first, then the
   * predecessor stops accepting and finishes its requests within `graceMs`.
   */
  handover(settings: DataPlaneSettings, graceMs: number): Promise<void>;
  /** Workers restarted after a crash so far. */
  restarts(): number;
  /**
   * Stops accepting, lets in-flight requests finish within `graceMs`, aborts the rest, then ends
   * the Worker. Bounded: if the Worker has not finished `SHUTDOWN_MARGIN_MS` after the grace,
   * it is terminated, which closes every socket it holds (upstream ones included).
   */
  shutdown(graceMs: number): Promise<void>;
}

/** One Worker and the message plumbing to it. */
interface WorkerHandle {
  readonly addr: { hostname: string; port: number };
  request<T>(msg: WithoutId<ToWorker>): Promise<T>;
  /**
   * Asks the Worker to stop (graceful, bounded), then terminates it; with `keepCounts` its final
   * metrics are read first (hand-over), into `lastSnapshot`.
   */
  stop(graceMs: number, keepCounts?: boolean): Promise<void>;
  terminate(): void;
  readonly exited: boolean;
  /** The last metrics snapshot read from it (what has been exposed so far). */
  lastSnapshot: MetricSnapshot[];
}

interface SpawnHooks {
  /** The Worker died or reported a fatal error after it was ready. */
  onExit(message: string): void;
  onSlotsReturned(endpoint: string, slots: number): void;
}

async function spawn(
  settings: DataPlaneSettings,
  options: StartDataPlaneOptions,
  hooks: SpawnHooks,
): Promise<WorkerHandle> {
  const permissions = dataPlanePermissions(
    settings.bind,
    settings.endpoints.map((e) => e.base_url),
  );
  log.debug("starting data plane with net={net}", { net: permissions.net });
  const worker = new Worker(options.workerUrl ?? new URL("./worker_main.ts", import.meta.url), {
    type: "module",
    name: "labman-data-plane",
    deno: { permissions },
  });

  let nextId = 1;
  let terminated = false;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  const ready = Promise.withResolvers<{ hostname: string; port: number }>();
  let started = false;

  const fail = (message: string) => {
    for (const p of pending.values()) p.reject(new Error(message));
    pending.clear();
    if (!started) ready.reject(new Error(message));
    else if (!terminated) hooks.onExit(message);
    if (!terminated) {
      terminated = true;
      worker.terminate();
    }
  };

  worker.onmessage = (ev: MessageEvent<FromWorker>) => {
    const msg = ev.data;
    switch (msg.type) {
      case "ready":
        started = true;
        ready.resolve(msg.addr);
        break;
      case "fatal":
        fail(msg.message);
        break;
      case "slots_returned":
        hooks.onSlotsReturned(msg.endpoint, msg.slots);
        break;
      case "reply": {
        const p = pending.get(msg.id);
        if (!p) return;
        pending.delete(msg.id);
        if (msg.ok) p.resolve(msg.value);
        else p.reject(new Error(msg.error));
        break;
      }
    }
  };
  worker.onerror = (ev: ErrorEvent) => {
    ev.preventDefault();
    fail(`data plane crashed: ${ev.message}`);
  };
  // A message that cannot be deserialised means the Worker is in a state we cannot trust.
  worker.onmessageerror = () => fail("data plane sent an unreadable message");

  const request = <T>(msg: WithoutId<ToWorker>): Promise<T> => {
    if (terminated) {
      return Promise.reject(new Error("Cannot reach the data plane: it is not running"));
    }
    const id = nextId++;
    return new Promise<T>((resolve, reject) => {
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      worker.postMessage({ ...msg, id } as ToWorker);
    });
  };

  worker.postMessage({ type: "init", settings } satisfies ToWorker);
  const timeoutMs = options.readyTimeoutMs ?? 15_000;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const addr = await Promise.race([
      ready.promise,
      new Promise<never>((_, rej) => {
        timer = setTimeout(
          () =>
            rej(new Error(`Cannot start the data plane: it was not ready within ${timeoutMs} ms`)),
          timeoutMs,
        );
      }),
    ]);
    const handle: WorkerHandle = {
      addr,
      request,
      lastSnapshot: [],
      get exited() {
        return terminated;
      },
      async stop(graceMs: number, keepCounts = false) {
        if (terminated) return;
        let timer: ReturnType<typeof setTimeout> | undefined;
        try {
          const bound = new Promise<"late">((resolve) => {
            timer = setTimeout(() => resolve("late"), Math.max(0, graceMs) + SHUTDOWN_MARGIN_MS);
          });
          const asked = request({ type: "shutdown", graceMs });
          asked.catch(() => {}); // settles after the race when the bound wins
          const outcome = await Promise.race([asked, bound]);
          if (outcome === "late") {
            log.warn(
              "data plane did not stop within {grace_ms} ms + {margin_ms} ms: terminating it",
              {
                grace_ms: graceMs,
                margin_ms: SHUTDOWN_MARGIN_MS,
              },
            );
          } else if (keepCounts) {
            // A retired Worker's final counts, so nothing it counted is lost once it is gone
            // (bounded: one that does not answer keeps the last snapshot read from it).
            let snapTimer: ReturnType<typeof setTimeout> | undefined;
            const final = await Promise.race([
              request<MetricSnapshot[]>({ type: "metrics" }).catch(() => null),
              new Promise<null>((r) => snapTimer = setTimeout(() => r(null), FINAL_SNAPSHOT_MS)),
            ]);
            clearTimeout(snapTimer);
            if (Array.isArray(final)) handle.lastSnapshot = final;
          }
        } finally {
          clearTimeout(timer);
          terminated = true;
          for (const p of pending.values()) {
            p.reject(new Error("Cannot finish the request: the data plane was terminated"));
          }
          pending.clear();
          worker.terminate();
        }
      },
      terminate() {
        if (terminated) return;
        terminated = true;
        for (const p of pending.values()) {
          p.reject(new Error("Cannot finish the request: the data plane was stopped"));
        }
        pending.clear();
        worker.terminate();
      },
    };
    return handle;
  } catch (err) {
    fail(err instanceof Error ? err.message : String(err));
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** Starts the data-plane Worker and resolves once its proxy listener is bound. */
/**
 * The usage rows of every running Worker's ledger, one row per key. One ledger's rows are already
 * one per key; only a hand-over has two to sum, and only then does the supervisor load the proxy
 * module for the merge (a static import kept ~1 MB of proxy code resident in the supervisor).
 */
export async function mergeLedgers(ledgers: readonly UsageRow[][]): Promise<UsageRow[]> {
  const nonEmpty = ledgers.filter((rows) => rows.length > 0);
  if (nonEmpty.length <= 1) return nonEmpty[0] ?? [];
  const { mergeUsageRows } = await import("../proxy/mod.ts");
  return mergeUsageRows(nonEmpty.flat());
}

export async function startDataPlane(
  settings: DataPlaneSettings,
  options: StartDataPlaneOptions = {},
): Promise<DataPlane> {
  const restartEnabled = options.restart ?? true;
  const minMs = options.restartMinMs ?? 100;
  const maxMs = options.restartMaxMs ?? 30_000;

  let current!: WorkerHandle;
  let currentSettings = settings;
  /** Predecessors still finishing their requests after a hand-over. */
  const retiring = new Set<WorkerHandle>();
  /** Counters and histograms of Workers that are gone. */
  const carried = new Map<string, MetricSnapshot>();
  let restarts = 0;
  let stopping = false;
  let restarting: Promise<void> | null = null;
  let lastSlugs: SlugEntry[] | null = null;
  let lastAccepting: { accepting: boolean; reason?: string } | null = null;

  const carry = (snapshot: MetricSnapshot[]) => {
    addSnapshot(carried, snapshot, (m) => isCumulative(m.type));
  };

  const hooksFor = (get: () => WorkerHandle | undefined): SpawnHooks => ({
    onExit(message) {
      const handle = get();
      if (handle === undefined) return;
      carry(handle.lastSnapshot);
      handle.lastSnapshot = [];
      if (retiring.delete(handle)) {
        log.warn("retiring data plane ended early: {message}", { message });
        if (retiring.size === 0) clearReservations();
        return;
      }
      if (handle !== current || stopping) return;
      if (!restartEnabled) {
        options.onFatal?.(message);
        return;
      }
      log.error("data plane crashed: {message}; restarting it", { message });
      restarting ??= restartLoop(message).finally(() => {
        restarting = null;
        if (current.exited) return;
        options.onRestart?.({ reason: message, restarts });
        // Changes recorded while the replay was under way.
        if (lastSlugs !== replayed.slugs && lastSlugs !== null) {
          current.request({ type: "slugs", entries: lastSlugs }).catch(() => {});
        }
        if (lastAccepting !== replayed.accepting && lastAccepting !== null) {
          current.request({ type: "accepting", ...lastAccepting }).catch(() => {});
        }
      });
    },
    onSlotsReturned(endpoint, slots) {
      // A predecessor freed slots it cannot use: they belong to the current Worker now.
      if (current.exited) return;
      current.request({ type: "return", endpoint, slots }).catch(() => {});
    },
  });

  const clearReservations = () => {
    if (!current.exited) current.request({ type: "reserve", held: {} }).catch(() => {});
  };

  const launch = async (s: DataPlaneSettings): Promise<WorkerHandle> => {
    const box: { handle?: WorkerHandle } = {};
    const handle = await spawn(s, options, hooksFor(() => box.handle));
    box.handle = handle;
    // Died between "ready" and here: its exit had no handle to act on, so fail the launch.
    if (handle.exited) {
      throw new Error("Cannot start the data plane: it exited right after it started");
    }
    return handle;
  };

  /** What the last replay sent, to catch changes made while it ran. */
  const replayed: {
    slugs: SlugEntry[] | null;
    accepting: { accepting: boolean; reason?: string } | null;
  } = { slugs: null, accepting: null };

  /**
   * What the supervisor told the previous Worker, for a successor's settings: it applies them
   * before it binds, so no connection reaches it without them.
   */
  const replay = (): NonNullable<DataPlaneSettings["replay"]> => {
    replayed.slugs = lastSlugs;
    replayed.accepting = lastAccepting;
    return { slugs: lastSlugs, accepting: lastAccepting };
  };

  const restartLoop = async (reason: string) => {
    let delay = minMs;
    for (let attempt = 1; !stopping; attempt++) {
      await new Promise((r) => setTimeout(r, delay));
      if (stopping) return;
      try {
        // No successor flag: the crashed Worker's requests died with it, so do its slots.
        const { successor: _, ...fresh } = currentSettings;
        const handle = await launch({ ...fresh, replay: replay() });
        current = handle;
        restarts++;
        log.warn("data plane restarted on {hostname}:{port} (restart {n}) after: {reason}", {
          hostname: handle.addr.hostname,
          port: handle.addr.port,
          n: restarts,
          reason,
        });
        return;
      } catch (err) {
        log.error("cannot restart the data plane (attempt {attempt}): {message}", {
          attempt,
          message: err instanceof Error ? err.message : String(err),
        });
        delay = Math.min(maxMs, delay * 2);
      }
    }
  };

  current = await launch(settings);

  /**
   * Sends to the current Worker. While a restart is under way there is none: queries fail at
   * once (readiness reports not ready instead of hanging), state changes are only recorded and
   * the restart replays them.
   */
  const toCurrent = async <T>(msg: WithoutId<ToWorker>, replayed = false): Promise<T> => {
    if (restarting !== null) {
      if (replayed) return undefined as T;
      throw new Error(
        "Cannot reach the data plane: it is restarting after a crash — retry in a moment",
      );
    }
    return await current.request<T>(msg);
  };

  const liveSnapshots = async (): Promise<MetricSnapshot[][]> => {
    const handles = [current, ...retiring];
    return await Promise.all(handles.map(async (h) => {
      try {
        h.lastSnapshot = await h.request<MetricSnapshot[]>({ type: "metrics" });
      } catch {
        // gone meanwhile: its last snapshot was carried (or is about to be)
        return h === current ? h.lastSnapshot : [];
      }
      return h.lastSnapshot;
    }));
  };

  const restartsMetric = (): MetricSnapshot => ({
    name: "labman_dataplane_restarts_total",
    help: "Data-plane Workers restarted by the supervisor after a crash.",
    type: "counter",
    aggregator: "sum",
    values: [{ value: restarts, labels: {} }],
  });

  return {
    get addr() {
      return current.addr;
    },
    async reconfigure(s) {
      currentSettings = { ...s, bind: currentSettings.bind };
      await toCurrent({ type: "reconfigure", settings: s }, true);
    },
    async setSlugs(entries) {
      lastSlugs = entries;
      await toCurrent({ type: "slugs", entries }, true);
    },
    async setAccepting(accepting, reason) {
      lastAccepting = reason === undefined ? { accepting } : { accepting, reason };
      await toCurrent({ type: "accepting", accepting, ...(reason ? { reason } : {}) }, true);
    },
    async metrics() {
      // Mid-restart there is no live Worker: what the dead one counted is still exposed.
      if (restarting !== null) return [...mergeSnapshots(carried, [], []), restartsMetric()];
      const [live, ...others] = await liveSnapshots();
      return [...mergeSnapshots(carried, live, others), restartsMetric()];
    },
    async status() {
      const status = await toCurrent<DataPlaneStatus>({ type: "status" });
      if (status?.requests === undefined) return status;
      // Heartbeat totals count what every Worker of this daemon served, not just this one.
      const past = requestTotals(carried.values());
      let others = { total: 0, errors: 0 };
      for (const h of retiring) {
        const t = requestTotals(h.lastSnapshot);
        others = { total: others.total + t.total, errors: others.errors + t.errors };
      }
      status.requests.total += past.total + others.total;
      status.requests.errors += past.errors + others.errors;
      return status;
    },
    async handover(next, graceMs) {
      if (restarting !== null) await restarting;
      const previous = current;
      const successor = await launch({ ...next, successor: true, replay: replay() });
      currentSettings = next;
      current = successor;
      retiring.add(previous);
      let held: Record<string, number> = {};
      try {
        held = await previous.request<Record<string, number>>({ type: "retire" });
      } catch {
        // The predecessor is gone: its requests (and slots) went with it.
      }
      await successor.request({ type: "reserve", held }).catch(() => {});
      previous.stop(graceMs, true).catch((err) =>
        log.warn("previous data plane did not stop cleanly: {message}", { message: String(err) })
      ).finally(() => {
        carry(previous.lastSnapshot);
        previous.lastSnapshot = [];
        if (retiring.delete(previous) && retiring.size === 0) clearReservations();
      });
    },
    async takeUsage() {
      // A predecessor still finishing after a hand-over keeps counting until it ends.
      const parts = await Promise.all(
        [current, ...retiring].filter((h) => !h.exited).map((h) =>
          h.request<UsageRow[]>({ type: "usage" }).catch(() => [])
        ),
      );
      return await mergeLedgers(parts);
    },
    restarts: () => restarts,
    async shutdown(graceMs: number) {
      stopping = true;
      if (restarting !== null) await restarting;
      await Promise.all([current, ...retiring].map((h) => h.stop(graceMs).catch(() => {})));
    },
  };
}
