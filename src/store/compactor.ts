import type { Store } from './store.ts';

export interface CompactorOptions {
  /**
   * How long history is kept for watches and paginated lists.
   * @default 300_000 (five minutes, as Kubernetes compacts etcd)
   */
  readonly retentionMs?: number;
  /** How often to compact. @default 60_000 */
  readonly intervalMs?: number;
  /** Ends the compactor. */
  readonly signal: AbortSignal;
  /** @default performance.now */
  readonly monotonicNow?: () => number;
}

/**
 * Compacts the store periodically so that history older than the retention
 * window is forgotten: it samples the head revision on every tick and
 * compacts to the newest sample at least `retentionMs` old. Uses a monotonic
 * clock so a wall-clock jump neither drops nor keeps history by mistake.
 */
export function startCompactor(store: Store, options: CompactorOptions): void {
  const retention = options.retentionMs ?? 300_000;
  const interval = options.intervalMs ?? 60_000;
  const now = options.monotonicNow ?? (() => performance.now());
  const samples: Array<{ at: number; revision: number }> = [];
  const tick = async () => {
    // Read the head before the clock: every revision up to it was written no later than `at`.
    const revision = await store.currentRevision();
    samples.push({ at: now(), revision });
    let target: number | undefined;
    while (samples.length > 0 && now() - samples[0]!.at >= retention) target = samples.shift()!.revision;
    if (target !== undefined) await store.compact(target);
  };
  const timer = setInterval(() => {
    tick().catch(() => {
      // A failed compaction is retried on the next tick; history is only kept longer.
    });
  }, interval);
  timer.unref();
  options.signal.addEventListener('abort', () => clearInterval(timer), { once: true });
}
