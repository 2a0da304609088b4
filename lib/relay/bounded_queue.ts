/**
 * A FIFO bounded by item count and total bytes. When full, the policy decides: `drop_oldest`
 * evicts from the head (fresh telemetry beats stale), `reject` refuses the new item (callers
 * answer it with `QUEUE_FULL`). Either way memory stays within the configured bound
 * (invariant 9).
 *
 * @module
 */

export type OverflowPolicy = "drop_oldest" | "reject";

export interface BoundedQueueOptions {
  maxItems: number;
  maxBytes: number;
  /** @default "drop_oldest" */
  policy?: OverflowPolicy;
}

export interface Sized {
  /** Size charged against `maxBytes`. */
  readonly bytes: number;
}

export class BoundedQueue<T extends Sized> {
  #items: T[] = [];
  #head = 0;
  #bytes = 0;
  readonly #o: Required<BoundedQueueOptions>;
  /** Items evicted or refused since creation. */
  dropped = 0;

  constructor(options: BoundedQueueOptions) {
    if (!(options.maxItems >= 1) || !(options.maxBytes >= 1)) {
      throw new RangeError(
        `Cannot create queue: maxItems and maxBytes must be >= 1, got ${options.maxItems} and ${options.maxBytes}`,
      );
    }
    this.#o = { policy: "drop_oldest", ...options };
  }

  get length(): number {
    return this.#items.length - this.#head;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Adds `item`; returns the items that left the queue to make room (`drop_oldest`), or
   * `[item]` itself when it was refused (`reject`, or a single item larger than `maxBytes`).
   */
  push(item: T): T[] {
    if (item.bytes > this.#o.maxBytes) {
      this.dropped++;
      return [item];
    }
    const out: T[] = [];
    while (this.length >= this.#o.maxItems || this.#bytes + item.bytes > this.#o.maxBytes) {
      if (this.#o.policy === "reject") {
        this.dropped++;
        return [item];
      }
      out.push(this.shift()!);
      this.dropped++;
    }
    this.#items.push(item);
    this.#bytes += item.bytes;
    return out;
  }

  peek(): T | undefined {
    return this.#items[this.#head];
  }

  shift(): T | undefined {
    if (this.length === 0) return undefined;
    const item = this.#items[this.#head]!;
    this.#items[this.#head] = undefined as unknown as T;
    this.#head++;
    this.#bytes -= item.bytes;
    // Compact now and then so the backing array does not grow without bound.
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }

  /** Removes and returns every item matching `pred`, keeping order of the rest. */
  removeWhere(pred: (item: T) => boolean): T[] {
    const kept: T[] = [];
    const removed: T[] = [];
    for (let i = this.#head; i < this.#items.length; i++) {
      const it = this.#items[i]!;
      (pred(it) ? removed : kept).push(it);
    }
    this.#items = kept;
    this.#head = 0;
    this.#bytes = kept.reduce((n, it) => n + it.bytes, 0);
    return removed;
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = this.#head; i < this.#items.length; i++) yield this.#items[i]!;
  }
}
