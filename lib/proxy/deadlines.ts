/**
 * {@linkcode DeadlineQueue}: many deadlines behind one timer. Per-request deadlines that nearly
 * never fire (a request body that came with its head is read long before `body_timeout_ms`) cost
 * a `setTimeout`/`clearTimeout` pair, or a chain of promises racing a timer, on every request;
 * here adding and cancelling one is a small object and a counter, and the single timer is armed
 * only while a deadline is live (docs/performance.md §3).
 *
 * Deadlines of one duration expire in the order they were added, so each duration keeps a FIFO
 * and only its head is ever compared with the clock. A deadline fires at most `resolutionMs`
 * late.
 *
 * @module
 */

/** A pending deadline; {@linkcode Deadline.cancel} is idempotent. */
export interface Deadline {
  /** Returns true if this call cancelled it (it had neither fired nor been cancelled). */
  cancel(): boolean;
}

class Entry implements Deadline {
  done = false;
  constructor(
    readonly queue: DeadlineQueue,
    readonly at: number,
    readonly fire: () => void,
  ) {}
  cancel(): boolean {
    if (this.done) return false;
    this.done = true;
    this.queue.settled();
    return true;
  }
}

/** One FIFO per duration, checked by one timer that runs only while a deadline is live. */
export class DeadlineQueue {
  readonly #fifos = new Map<number, Entry[]>();
  /** Read index per FIFO: the array is compacted only once its consumed head grows large. */
  readonly #heads = new Map<number, number>();
  #live = 0;
  #timer: ReturnType<typeof setTimeout> | undefined = undefined;
  readonly #resolutionMs: number;
  readonly #now: () => number;

  constructor(options: { resolutionMs?: number; now?: () => number } = {}) {
    this.#resolutionMs = options.resolutionMs ?? 25;
    this.#now = options.now ?? (() => performance.now());
  }

  /** Deadlines added and neither fired nor cancelled. */
  get live(): number {
    return this.#live;
  }

  /** Calls `fire` once `ms` have passed, unless the returned deadline is cancelled first. */
  add(ms: number, fire: () => void): Deadline {
    const entry = new Entry(this, this.#now() + ms, fire);
    let fifo = this.#fifos.get(ms);
    if (fifo === undefined) {
      this.#fifos.set(ms, fifo = []);
      this.#heads.set(ms, 0);
    }
    fifo.push(entry);
    this.#live++;
    if (this.#timer === undefined) this.#arm(Math.min(ms, this.#resolutionMs));
    return entry;
  }

  /** An entry fired or was cancelled. */
  settled(): void {
    this.#live--;
    if (this.#live > 0) return;
    // Nothing live: drop the cancelled entries and the timer, so an idle proxy holds none.
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#fifos.clear();
    this.#heads.clear();
  }

  #arm(ms: number): void {
    this.#timer = setTimeout(this.#tick, Math.max(1, ms));
  }

  readonly #tick = (): void => {
    this.#timer = undefined;
    const now = this.#now();
    let next = Infinity;
    for (const [ms, fifo] of this.#fifos) {
      let head = this.#heads.get(ms)!;
      while (head < fifo.length) {
        const entry = fifo[head];
        if (entry.done) {
          head++;
          continue;
        }
        if (entry.at > now) {
          next = Math.min(next, entry.at - now);
          break;
        }
        head++;
        entry.done = true;
        this.#live--;
        try {
          entry.fire();
        } catch {
          // a deadline's handler must not stop the others from firing
        }
      }
      if (head === fifo.length) {
        this.#fifos.delete(ms);
        this.#heads.delete(ms);
      } else if (head > 1024 && head * 2 > fifo.length) {
        fifo.splice(0, head);
        this.#heads.set(ms, 0);
      } else {
        this.#heads.set(ms, head);
      }
    }
    if (this.#live === 0) {
      this.#fifos.clear();
      this.#heads.clear();
      return;
    }
    if (this.#timer === undefined && next !== Infinity) {
      this.#arm(Math.min(next, this.#resolutionMs));
    }
  };
}
