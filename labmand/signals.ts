/**
 * Stop and reload signals. A stop signal starts the drain; a second one cuts it short (exit 3).
 * Ctrl-C in a terminal reaches every process of the foreground group, and `deno task` forwards
 * it to its child as well, so one keypress can arrive twice within microseconds: a second
 * SIGINT within `dedupeMs` of the first is the same request, not a second one.
 *
 * @module
 */
import { isOperating, type Lifecycle } from "../lib/lifecycle/mod.ts";

export type StopSignal = "SIGTERM" | "SIGINT";

export interface StopSignalOptions {
  onStop: (signal: StopSignal) => void;
  onForce: (signal: StopSignal) => void;
  /** @default 1000 */
  dedupeMs?: number;
  /** Monotonic milliseconds. @default performance.now */
  now?: () => number;
}

/** Pure decision logic (no Deno APIs): returns the function to call per received signal. */
export function stopSignalHandler(o: StopSignalOptions): (signal: StopSignal) => void {
  const now = o.now ?? (() => performance.now());
  const dedupeMs = o.dedupeMs ?? 1000;
  let first: { signal: StopSignal; at: number } | null = null;
  return (signal) => {
    const t = now();
    if (first === null) {
      first = { signal, at: t };
      o.onStop(signal);
      return;
    }
    // Only SIGINT comes twice from one keypress; a repeated SIGTERM is a deliberate second ask.
    if (signal === "SIGINT" && first.signal === "SIGINT" && t - first.at < dedupeMs) return;
    o.onForce(signal);
  };
}

export interface SignalHandlers {
  onStop: (signal: StopSignal) => void;
  onForce: (signal: StopSignal) => void;
  onReload: () => void;
}

/** Installs SIGTERM/SIGINT/SIGHUP listeners; returns their remover. */
export function installSignals(h: SignalHandlers): () => void {
  const stop = stopSignalHandler({ onStop: h.onStop, onForce: h.onForce });
  const term = () => stop("SIGTERM");
  const int = () => stop("SIGINT");
  const hup = () => h.onReload();
  Deno.addSignalListener("SIGTERM", term);
  Deno.addSignalListener("SIGINT", int);
  Deno.addSignalListener("SIGHUP", hup);
  return () => {
    Deno.removeSignalListener("SIGTERM", term);
    Deno.removeSignalListener("SIGINT", int);
    Deno.removeSignalListener("SIGHUP", hup);
  };
}

/**
 * Serialized, coalescing reloads that wait for start-up: a request before `open()` is kept and
 * run once open; requests while one runs collapse into one more run afterwards, so two SIGHUPs
 * can never interleave (and never leave a replaced data plane running).
 */
export class ReloadQueue {
  readonly #run: () => Promise<void>;
  #open = false;
  #pending = false;
  #running: Promise<void> | null = null;

  constructor(run: () => Promise<void>) {
    this.#run = run;
  }

  request(): void {
    this.#pending = true;
    this.#kick();
  }

  /** Start-up is done: run anything requested meanwhile. */
  open(): void {
    this.#open = true;
    this.#kick();
  }

  /** No more reloads (shutdown); resolves when the one running, if any, ends. */
  async close(): Promise<void> {
    this.#open = false;
    this.#pending = false;
    await this.#running;
  }

  /** Resolves when nothing runs or waits (tests). */
  async idle(): Promise<void> {
    while (this.#running) await this.#running;
  }

  #kick(): void {
    if (!this.#open || this.#running || !this.#pending) return;
    this.#pending = false;
    this.#running = this.#run().finally(() => {
      this.#running = null;
      this.#kick();
    });
  }
}

/** Opens `queue` once the lifecycle first serves: a SIGHUP during start-up is applied after it. */
export function openReloadsWhenOperating(lc: Lifecycle, queue: ReloadQueue): void {
  void lc.until((s) => isOperating(s) || s.stopCause !== null).then((s) => {
    if (s.stopCause === null) queue.open();
  });
}
