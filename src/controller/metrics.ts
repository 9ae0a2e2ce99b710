/**
 * A minimal metrics registry: labelled counters, gauges and histograms kept in
 * memory, rendered in the Prometheus text format by {@link MetricsRegistry.render}
 * (the hub appends it to its `/metrics`), readable directly in tests. The
 * runtime keeps its own small registry so that it needs no metrics library.
 */

type Labels = Readonly<Record<string, string>>;

function labelKey(labels: Labels): string {
  return Object.keys(labels)
    .sort()
    .map(
      (name) =>
        `${name}="${String(labels[name]).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`,
    )
    .join(',');
}

/** A monotonically increasing count per label set. */
export class Counter {
  readonly #values = new Map<string, number>();

  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  inc(labels: Labels, by = 1): void {
    const key = labelKey(labels);
    this.#values.set(key, (this.#values.get(key) ?? 0) + by);
  }

  /** The count for exactly these labels (0 when never incremented). */
  get(labels: Labels): number {
    return this.#values.get(labelKey(labels)) ?? 0;
  }

  render(): string {
    let text = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} counter\n`;
    for (const [key, value] of this.#values) text += `${this.name}{${key}} ${value}\n`;
    return text;
  }
}

/**
 * A value per label set that goes up and down; a series may be sampled when
 * rendered (`track`) instead of being set, as a queue's depth is.
 */
export class Gauge {
  readonly #values = new Map<string, number | (() => number)>();

  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  set(labels: Labels, value: number): void {
    this.#values.set(labelKey(labels), value);
  }

  /** Reads the series from `read` at every render until the returned function is called (which drops it). */
  track(labels: Labels, read: () => number): () => void {
    const key = labelKey(labels);
    this.#values.set(key, read);
    return () => {
      if (this.#values.get(key) === read) this.#values.delete(key);
    };
  }

  /** The value for exactly these labels (undefined when there is no such series). */
  get(labels: Labels): number | undefined {
    const value = this.#values.get(labelKey(labels));
    return typeof value === 'function' ? value() : value;
  }

  render(): string {
    let text = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} gauge\n`;
    for (const [key, value] of this.#values)
      text += `${this.name}{${key}} ${typeof value === 'function' ? value() : value}\n`;
    return text;
  }
}

/** Observations per label set, in cumulative buckets (seconds by convention). */
export class Histogram {
  readonly #series = new Map<string, { counts: number[]; sum: number; count: number }>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: readonly number[],
  ) {}

  observe(labels: Labels, value: number): void {
    const key = labelKey(labels);
    let series = this.#series.get(key);
    if (!series) {
      series = { counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.#series.set(key, series);
    }
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]!) series.counts[i]!++;
    series.sum += value;
    series.count++;
  }

  /** How many observations were made with exactly these labels. */
  count(labels: Labels): number {
    return this.#series.get(labelKey(labels))?.count ?? 0;
  }

  render(): string {
    let text = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} histogram\n`;
    for (const [key, series] of this.#series) {
      const sep = key ? ',' : '';
      this.buckets.forEach((bound, i) => {
        text += `${this.name}_bucket{${key}${sep}le="${bound}"} ${series.counts[i]}\n`;
      });
      text += `${this.name}_bucket{${key}${sep}le="+Inf"} ${series.count}\n`;
      text += `${this.name}_sum{${key}} ${series.sum}\n${this.name}_count{${key}} ${series.count}\n`;
    }
    return text;
  }
}

/** Seconds, as controller-runtime's reconcile time buckets. */
export const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** Holds every metric by name; asking for a name twice gives the same metric. */
export class MetricsRegistry {
  readonly #metrics = new Map<string, Counter | Gauge | Histogram>();

  counter(name: string, help: string): Counter {
    const existing = this.#metrics.get(name);
    if (existing instanceof Counter) return existing;
    if (existing) throw new Error(`metric ${name} is not a counter`);
    const counter = new Counter(name, help);
    this.#metrics.set(name, counter);
    return counter;
  }

  gauge(name: string, help: string): Gauge {
    const existing = this.#metrics.get(name);
    if (existing instanceof Gauge) return existing;
    if (existing) throw new Error(`metric ${name} is not a gauge`);
    const gauge = new Gauge(name, help);
    this.#metrics.set(name, gauge);
    return gauge;
  }

  histogram(name: string, help: string, buckets: readonly number[] = DURATION_BUCKETS): Histogram {
    const existing = this.#metrics.get(name);
    if (existing instanceof Histogram) return existing;
    if (existing) throw new Error(`metric ${name} is not a histogram`);
    const histogram = new Histogram(name, help, buckets);
    this.#metrics.set(name, histogram);
    return histogram;
  }

  /** Every metric in the Prometheus text exposition format. */
  render(): string {
    return [...this.#metrics.values()].map((metric) => metric.render()).join('');
  }
}
