/**
 * Supervisor side of the data plane: starts the Worker with permissions narrowed from the
 * config and talks to it by message.
 *
 * @module
 */
import { getLogger } from "../telemetry/mod.ts";
import type {
  DataPlaneSettings,
  DataPlaneStatus,
  FromWorker,
  SlugEntryMessage,
  ToWorker,
} from "./messages.ts";
import { dataPlanePermissions } from "./permissions.ts";
import type { UsageRow } from "../proxy/usage.ts";

const log = getLogger("dataplane");

/** Time after the shutdown grace for aborted requests to unwind before the Worker is ended. */
export const SHUTDOWN_MARGIN_MS = 2_000;

/** Distributes `Omit` over a union so each message variant keeps its own fields. */
type WithoutId<T> = T extends unknown ? Omit<T, "id"> : never;

export interface StartDataPlaneOptions {
  /** Module the Worker runs. @default worker_main.ts beside this file */
  workerUrl?: URL;
  /** How long the Worker may take to bind its listener. @default 15000 */
  readyTimeoutMs?: number;
  /** Called once if the Worker dies or reports a fatal error after start. */
  onFatal?: (message: string) => void;
}

export interface DataPlane {
  readonly addr: { hostname: string; port: number };
  reconfigure(settings: DataPlaneSettings): Promise<void>;
  setSlugs(entries: SlugEntryMessage[]): Promise<void>;
  setAccepting(accepting: boolean, reason?: string): Promise<void>;
  /** prom-client JSON snapshot of the Worker's registry. */
  metrics(): Promise<unknown[]>;
  status(): Promise<DataPlaneStatus>;
  /** Token usage since the last call (the relay's `usage_report`); empty unless `usage`. */
  takeUsage(): Promise<UsageRow[]>;
  /**
   * Stops accepting, lets in-flight requests finish within `graceMs`, aborts the rest, then ends
   * the Worker. Bounded: if the Worker has not finished `SHUTDOWN_MARGIN_MS` after the grace,
   * it is terminated, which closes every socket it holds (upstream ones included).
   */
  shutdown(graceMs: number): Promise<void>;
}

/** Starts the data-plane Worker and resolves once its proxy listener is bound. */
export async function startDataPlane(
  settings: DataPlaneSettings,
  options: StartDataPlaneOptions = {},
): Promise<DataPlane> {
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
  let readyResolve: (addr: { hostname: string; port: number }) => void;
  let readyReject: (e: Error) => void;
  const ready = new Promise<{ hostname: string; port: number }>((res, rej) => {
    readyResolve = res;
    readyReject = rej;
  });
  let started = false;

  const fail = (message: string) => {
    for (const p of pending.values()) p.reject(new Error(message));
    pending.clear();
    if (!started) readyReject(new Error(message));
    else if (!terminated) options.onFatal?.(message);
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
        readyResolve(msg.addr);
        break;
      case "fatal":
        fail(msg.message);
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

  const request = <T>(msg: WithoutId<ToWorker>): Promise<T> => {
    if (terminated) return Promise.reject(new Error("data plane is not running"));
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
      ready,
      new Promise<never>((_, rej) => {
        timer = setTimeout(
          () => rej(new Error(`data plane did not start within ${timeoutMs} ms`)),
          timeoutMs,
        );
      }),
    ]);
    return {
      addr,
      reconfigure: (s) => request({ type: "reconfigure", settings: s }),
      setSlugs: (entries) => request({ type: "slugs", entries }),
      setAccepting: (accepting, reason) => request({ type: "accepting", accepting, reason }),
      metrics: () => request({ type: "metrics" }),
      status: () => request({ type: "status" }),
      takeUsage: () => request({ type: "usage" }),
      async shutdown(graceMs: number) {
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
          }
        } finally {
          clearTimeout(timer);
          terminated = true;
          for (const p of pending.values()) p.reject(new Error("data plane terminated"));
          pending.clear();
          worker.terminate();
        }
      },
    };
  } catch (err) {
    fail(err instanceof Error ? err.message : String(err));
    throw err;
  } finally {
    clearTimeout(timer);
  }
}
