/**
 * Many short-lived deadlines on one timer. A request body read arms a deadline that almost
 * never fires; giving each its own setTimeout/clearTimeout pair cost about 4% of the proxy's CPU
 * at 50 connections (bench/README.md). Here adding and cancelling are Set operations; the single
 * timer is only moved when a new deadline is earlier than the one it waits for, which with one
 * configured timeout is never: deadlines arrive in order. The timer is cleared when the last
 * deadline is cancelled, so with one request at a time this costs what a timer per read did.
 *
 * @module
 */

/** A pending deadline; `cancel()` it once the guarded work is done. */
export interface Deadline {
  cancel(): void;
}

interface Entry extends Deadline {
  at: number;
  fire: () => void;
}

export class Deadlines {
  readonly #entries = new Set<Entry>();
  readonly #now: () => number;
  #timer: ReturnType<typeof setTimeout> | undefined = undefined;
  #timerAt = Infinity;

  constructor(now: () => number = () => performance.now()) {
    this.#now = now;
  }

  /** Calls `fire` once `ms` have passed, unless cancelled first. */
  after(ms: number, fire: () => void): Deadline {
    const entry: Entry = {
      at: this.#now() + ms,
      fire,
      cancel: () => {
        // With nothing left to guard, no timer may outlive the work (nor hold a process open).
        if (this.#entries.delete(entry) && this.#entries.size === 0) this.#disarm();
      },
    };
    const entries = this.#entries;
    entries.add(entry);
    if (entry.at < this.#timerAt) this.#arm(entry.at);
    return entry;
  }

  /** Deadlines not yet fired or cancelled. */
  get size(): number {
    return this.#entries.size;
  }

  #disarm(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Infinity;
  }

  #arm(at: number): void {
    clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(this.#onTimer, Math.max(0, at - this.#now()));
  }

  readonly #onTimer = (): void => {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    const now = this.#now();
    let next = Infinity;
    const due: Entry[] = [];
    for (const e of this.#entries) {
      if (e.at <= now) due.push(e);
      else if (e.at < next) next = e.at;
    }
    for (const e of due) this.#entries.delete(e);
    if (next < Infinity) this.#arm(next);
    for (const e of due) e.fire();
  };
}
