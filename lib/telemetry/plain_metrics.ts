/**
 * Counters, gauges and histograms as plain numbers, for the data-plane Worker: the same calls
 * and the same JSON snapshot (`getMetricsAsJSON()`) as prom-client's, without loading
 * prom-client (and the Node compatibility layer it pulls) into the Worker's isolate. The
 * supervisor turns the snapshots into the exposition text with prom-client at scrape time
 * ({@linkcode ./exposition.ts}); `metrics_test.ts` pins that the text is byte-for-byte what
 * prom-client itself renders for the same operations. Pure.
 *
 * @module
 */

/** Label values as prom-client takes them. */
export type LabelValues<T extends string> = Partial<Record<T, string | number>>;

/** One sample of a snapshot, as prom-client's `get()` returns it. */
export interface SampleJSON {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
}

/** One metric of a snapshot, as prom-client's `get()` returns it. */
export interface MetricJSON {
  help: string;
  name: string;
  type: "counter" | "gauge" | "histogram";
  values: SampleJSON[];
  aggregator: "sum";
}

export interface MetricConfig<T extends string> {
  name: string;
  help: string;
  labelNames?: readonly T[];
  registers?: PlainRegistry[];
}

interface Metric {
  readonly name: string;
  get(): Promise<MetricJSON>;
  reset(): void;
}

/** The Worker's registry: snapshots its metrics in registration order. */
export class PlainRegistry {
  #metrics = new Map<string, Metric>();

  registerMetric(metric: Metric): void {
    if (this.#metrics.has(metric.name)) {
      throw new Error(
        `Cannot register metric ${metric.name}: this registry already has one by that name — ` +
          `give each metric its own registry or name`,
      );
    }
    this.#metrics.set(metric.name, metric);
  }

  getMetricsAsJSON(): Promise<MetricJSON[]> {
    return Promise.all([...this.#metrics.values()].map((m) => m.get()));
  }

  resetMetrics(): void {
    for (const m of this.#metrics.values()) m.reset();
  }
}

/** A series: its labels as given and its state. */
export interface Series<S> {
  labels: Record<string, string | number>;
  state: S;
  /** The metric's generation when resolved: reset() and remove() start a new one. */
  gen: number;
}

abstract class LabelledMetric<T extends string, S> implements Metric {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly T[];
  readonly #known: Set<string>;
  readonly #fresh: () => S;
  protected series = new Map<string, Series<S>>();
  #gen = 0;

  constructor(config: MetricConfig<T>, fresh: () => S) {
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(config.name)) {
      throw new Error(
        `Cannot create metric "${config.name}": not a Prometheus metric name — ` +
          `use letters, digits, "_" and ":", not starting with a digit`,
      );
    }
    this.name = config.name;
    this.help = config.help;
    this.labelNames = config.labelNames ?? [];
    this.#known = new Set(this.labelNames);
    this.#fresh = fresh;
    this.reset();
    for (const r of config.registers ?? []) r.registerMetric(this);
  }

  abstract get(): Promise<MetricJSON>;

  /** prom-client starts an unlabelled metric with its one series at zero. */
  reset(): void {
    this.series = new Map();
    this.#gen++;
    if (this.labelNames.length === 0) {
      this.series.set("", { labels: {}, state: this.#fresh(), gen: this.#gen });
    }
  }

  /** False once `series` may have been dropped (reset or remove): resolve it again. */
  holds(series: Series<S>): boolean {
    return series.gen === this.#gen;
  }

  /** The series of `labels`, created on first use; unknown label names throw, as in prom-client. */
  protected resolve(labels: LabelValues<T> = {}): Series<S> {
    const names = Object.keys(labels);
    for (const n of names) {
      if (!this.#known.has(n)) {
        throw new Error(
          `Cannot update metric ${this.name}: label "${n}" is not one of its labels ` +
            `${JSON.stringify(this.labelNames)} — use only the labels it was created with`,
        );
      }
    }
    const key = keyOf(labels as Record<string, string | number>, names);
    let s = this.series.get(key);
    if (s !== undefined && s.gen !== this.#gen) s.gen = this.#gen;
    if (s === undefined) {
      s = {
        labels: { ...labels } as Record<string, string | number>,
        state: this.#fresh(),
        gen: this.#gen,
      };
      this.series.set(key, s);
    }
    return s;
  }

  remove(labels: LabelValues<T>): void {
    const l = labels as Record<string, string | number>;
    this.series.delete(keyOf(l, Object.keys(l)));
    this.#gen++;
  }
}

function keyOf(labels: Record<string, string | number>, names: string[]): string {
  if (names.length === 0) return "";
  let key = "";
  for (const n of names.sort()) key += `${n}:${labels[n]},`;
  return key;
}

function split<T extends string>(
  a: LabelValues<T> | number | undefined,
  b: number | undefined,
  dflt: number | undefined,
): [LabelValues<T> | undefined, number | undefined] {
  if (typeof a === "number") return [undefined, a];
  if (a === undefined && b === undefined) return [undefined, dflt];
  return [a, b ?? dflt];
}

/** A metric whose series each hold one number (a counter or a gauge). */
abstract class ValueMetric<T extends string> extends LabelledMetric<T, { value: number }> {
  constructor(config: MetricConfig<T>, private readonly kind: "counter" | "gauge") {
    super(config, () => ({ value: 0 }));
  }

  /** The series' state, resolved once; a hot path adds to `value` (see `counterSeries`). */
  seriesOf(labels?: LabelValues<T>): Series<{ value: number }> {
    return this.resolve(labels);
  }

  get(): Promise<MetricJSON> {
    return Promise.resolve({
      help: this.help,
      name: this.name,
      type: this.kind,
      values: [...this.series.values()].map((s) => ({ value: s.state.value, labels: s.labels })),
      aggregator: "sum",
    });
  }
}

/** A monotonic counter. */
export class PlainCounter<T extends string = string> extends ValueMetric<T> {
  constructor(config: MetricConfig<T>) {
    super(config, "counter");
  }

  inc(labels?: LabelValues<T> | number, value?: number): void {
    const [l, v] = split(labels, value, 1);
    this.seriesOf(l).state.value += checkIncrement(v);
  }
}

/** prom-client's checks for a counter increment (the messages follow this project's form). */
export function checkIncrement(value: number | undefined): number {
  if (value === undefined || value === null) return 1;
  if (value < 0) {
    throw new Error(`Cannot decrease a counter (by ${value}): counters only go up — use a gauge`);
  }
  if (typeof value !== "number" || !Number.isFinite(value)) throw notANumber(value);
  return value;
}

function notANumber(value: unknown): TypeError {
  return new TypeError(
    `Cannot record ${String(value)}: not a finite number — pass the measured value as a number`,
  );
}

/** A gauge. */
export class PlainGauge<T extends string = string> extends ValueMetric<T> {
  constructor(config: MetricConfig<T>) {
    super(config, "gauge");
  }

  set(labels: LabelValues<T> | number, value?: number): void {
    const [l, v] = split(labels, value, undefined);
    if (typeof v !== "number") throw notANumber(v);
    this.seriesOf(l).state.value = v;
  }
}

interface HistogramState {
  /** Per bucket (not cumulative), same order as the bounds. */
  counts: number[];
  sum: number;
  count: number;
}

/** A histogram with fixed upper bounds (`+Inf` implied). */
export class PlainHistogram<T extends string = string> extends LabelledMetric<T, HistogramState> {
  readonly #bounds: readonly number[];

  constructor(config: MetricConfig<T> & { buckets: readonly number[] }) {
    const bounds = [...config.buckets].sort((x, y) => x - y);
    super(config, () => ({ counts: new Array(bounds.length).fill(0), sum: 0, count: 0 }));
    this.#bounds = bounds;
  }

  /** Upper bounds, ascending, without `+Inf`. */
  get buckets(): readonly number[] {
    return this.#bounds;
  }

  observe(labels: LabelValues<T> | number, value?: number): void {
    const [l, v] = split(labels, value, undefined);
    this.#observe(this.resolve(l).state, v);
  }

  /** The labelled child, resolved once, like prom-client's `labels()`. */
  labels(labels: LabelValues<T>): { observe(value: number): void } {
    let series = this.resolve(labels);
    return {
      observe: (value) => {
        if (!this.holds(series)) series = this.resolve(labels);
        this.#observe(series.state, value);
      },
    };
  }

  #observe(state: HistogramState, value: number | undefined): void {
    if (typeof value !== "number" || !Number.isFinite(value)) {
      throw notANumber(value);
    }
    const b = this.#bounds;
    for (let i = 0; i < b.length; i++) {
      if (value <= b[i]) {
        state.counts[i]++;
        break;
      }
    }
    state.sum += value;
    state.count++;
  }

  get(): Promise<MetricJSON> {
    const values: SampleJSON[] = [];
    for (const s of this.series.values()) {
      let acc = 0;
      this.#bounds.forEach((le, i) => {
        acc += s.state.counts[i];
        values.push({ value: acc, labels: { le, ...s.labels }, metricName: `${this.name}_bucket` });
      });
      values.push(
        {
          value: s.state.count,
          labels: { le: "+Inf", ...s.labels },
          metricName: `${this.name}_bucket`,
        },
        { value: s.state.sum, labels: { ...s.labels }, metricName: `${this.name}_sum` },
        { value: s.state.count, labels: { ...s.labels }, metricName: `${this.name}_count` },
      );
    }
    return Promise.resolve({
      help: this.help,
      name: this.name,
      type: "histogram",
      values,
      aggregator: "sum",
    });
  }
}
