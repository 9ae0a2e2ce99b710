import { monotonicMs } from '../../util/index.ts';

/**
 * The device's metrics by name: those the agent measures itself (replaced at
 * each sample) and those local programs POST (each kept until `ttlMs` after
 * its last POST). A posted value wins over a measured one of the same name
 * while it lasts; a name with neither is nil.
 */
export class MetricTable {
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #posted = new Map<string, { value: number; expiresAt: number }>();
  #measured = new Map<string, number>();

  constructor(options: { ttlMs: number; now?: () => number }) {
    this.#ttlMs = options.ttlMs;
    this.#now = options.now ?? monotonicMs;
  }

  /** A value a program posted; it expires `ttlMs` from now unless posted again. */
  post(name: string, value: number): void {
    this.#posted.set(name, { value, expiresAt: this.#now() + this.#ttlMs });
  }

  /** The agent's own measurements, replacing the previous ones. */
  measure(values: ReadonlyMap<string, number>): void {
    this.#measured = new Map(values);
  }

  /** The current value of `name`, undefined for nil. */
  get(name: string): number | undefined {
    const posted = this.#posted.get(name);
    if (posted && posted.expiresAt > this.#now()) return posted.value;
    return this.#measured.get(name);
  }

  /** The posted value of `name` while it lasts (never a measured one). */
  posted(name: string): number | undefined {
    const posted = this.#posted.get(name);
    return posted && posted.expiresAt > this.#now() ? posted.value : undefined;
  }

  /** Drops the posted values that expired; returns their names. */
  sweep(): string[] {
    const now = this.#now();
    const expired: string[] = [];
    for (const [name, entry] of this.#posted)
      if (entry.expiresAt <= now) {
        this.#posted.delete(name);
        expired.push(name);
      }
    return expired;
  }

  /** Every metric with a value now, and where it comes from. */
  snapshot(): Record<string, { value: number; source: 'posted' | 'measured'; expiresInSeconds?: number }> {
    const now = this.#now();
    const out: Record<string, { value: number; source: 'posted' | 'measured'; expiresInSeconds?: number }> =
      {};
    for (const [name, value] of this.#measured) out[name] = { value, source: 'measured' };
    for (const [name, entry] of this.#posted)
      if (entry.expiresAt > now)
        out[name] = {
          value: entry.value,
          source: 'posted',
          expiresInSeconds: Math.ceil((entry.expiresAt - now) / 1000),
        };
    return out;
  }
}
