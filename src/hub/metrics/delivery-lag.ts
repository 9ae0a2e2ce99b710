/**
 * Mailbox delivery lag in seconds: from a Mailbox generation being written
 * (seen by the leader's Mailbox informer) to its agent acknowledging it
 * (`status.observedGeneration` reaching it). The generations count alone
 * (fleet-metrics.ts) says how far behind a device is, not for how long;
 * an operator alerts on time.
 *
 * What a new leader finds already unacknowledged counts from when it first
 * saw it: the time it was written before is not recorded anywhere.
 */
import { Gauge, Histogram, type Registry } from 'prom-client';
import type { KubeObject } from '../../api/index.ts';
import type { EventHandler } from '../../controller/index.ts';

/** Seconds: an online agent acknowledges within a watch event and a report; offline ones, hours later. */
const LAG_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400, 86400];
/** Generations remembered per Mailbox while unacknowledged: the oldest and the newest matter most. */
const PENDING_PER_MAILBOX = 16;

interface Written {
  readonly generation: number;
  readonly at: number;
}

/** Follows Mailbox informers and measures the time to acknowledgement. */
export class DeliveryLag {
  readonly #pending = new Map<string, Written[]>();
  readonly #lag: Histogram;
  readonly #now: () => number;

  constructor(registry: Registry, now: () => number = Date.now) {
    this.#now = now;
    this.#lag = new Histogram({
      name: 'outpost_mailbox_delivery_lag_seconds',
      help: 'Time from a Mailbox generation being written to its agent acknowledging it (leader only).',
      buckets: LAG_BUCKETS,
      registers: [registry],
    });
    const tracker = this;
    new Gauge({
      name: 'outpost_mailbox_oldest_unacknowledged_seconds',
      help: 'How long the oldest unacknowledged Mailbox generation has waited for its agent (0 when none; leader only).',
      registers: [registry],
      collect() {
        this.set(tracker.oldestUnacknowledgedSeconds());
      },
    });
  }

  /** Seconds the oldest unacknowledged generation has waited; 0 when every one is acknowledged. */
  oldestUnacknowledgedSeconds(): number {
    let oldest = Number.POSITIVE_INFINITY;
    for (const written of this.#pending.values()) oldest = Math.min(oldest, written[0]!.at);
    return Number.isFinite(oldest) ? Math.max(0, (this.#now() - oldest) / 1000) : 0;
  }

  /** A handler for a (new leadership term's) Mailbox informer; what an earlier term followed is forgotten. */
  handler(): EventHandler {
    this.#pending.clear();
    return {
      onAdd: (mailbox) => this.#seen(mailbox),
      onUpdate: (old, mailbox) => {
        if (old !== mailbox) this.#seen(mailbox);
      },
      onDelete: (mailbox) => this.#pending.delete(mailbox.metadata.name ?? ''),
    };
  }

  #seen(mailbox: KubeObject): void {
    const name = mailbox.metadata.name ?? '';
    const generation = mailbox.metadata.generation ?? 0;
    const observed = (mailbox.status as { observedGeneration?: number } | undefined)?.observedGeneration ?? 0;
    const now = this.#now();
    let written = this.#pending.get(name) ?? [];
    const acknowledged = written.filter((entry) => entry.generation <= observed);
    for (const entry of acknowledged) this.#lag.observe(Math.max(0, (now - entry.at) / 1000));
    written = written.filter((entry) => entry.generation > observed);
    if (generation > observed && written.at(-1)?.generation !== generation) {
      written.push({ generation, at: now });
      // Keep the oldest (it sets the gauge) and the newest.
      if (written.length > PENDING_PER_MAILBOX) written.splice(1, 1);
    }
    if (written.length > 0) this.#pending.set(name, written);
    else this.#pending.delete(name);
  }
}
