/**
 * Percentile summaries shared by the load generator and the report.
 *
 * @module
 */

/** Summary of a sample, in the sample's unit (the bench uses milliseconds). */
export interface Summary {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

/** An empty summary: every figure NaN, so the report prints "n/a" rather than a fake 0. */
export const EMPTY_SUMMARY: Summary = Object.freeze({
  n: 0,
  p50: NaN,
  p90: NaN,
  p99: NaN,
  p999: NaN,
  max: NaN,
  mean: NaN,
});

/** Nearest-rank percentile of an ascending-sorted array; NaN when empty. */
export function percentileSorted(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

/** Summarises `values` (not modified). */
export function summarize(values: ArrayLike<number>): Summary {
  if (values.length === 0) return { ...EMPTY_SUMMARY };
  const sorted = Float64Array.from(values).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    n: sorted.length,
    p50: percentileSorted(sorted, 50),
    p90: percentileSorted(sorted, 90),
    p99: percentileSorted(sorted, 99),
    p999: percentileSorted(sorted, 99.9),
    max: sorted[sorted.length - 1],
    mean: sum / sorted.length,
  };
}

/** Median of a small list; NaN when empty. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** A growable Float64 sample buffer with a hard cap, so a long run cannot eat memory. */
export class Samples {
  #data: Float64Array;
  length = 0;
  dropped = 0;
  constructor(readonly cap: number) {
    this.#data = new Float64Array(Math.min(cap, 4096));
  }
  push(v: number): void {
    if (this.length >= this.cap) {
      this.dropped++;
      return;
    }
    if (this.length === this.#data.length) {
      const next = new Float64Array(Math.min(this.cap, this.#data.length * 2));
      next.set(this.#data);
      this.#data = next;
    }
    this.#data[this.length++] = v;
  }
  values(): Float64Array {
    return this.#data.subarray(0, this.length);
  }
}
