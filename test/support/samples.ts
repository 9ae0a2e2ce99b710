/** Figures over measured samples, for tests that report latencies. */

/** The nearest-rank `p`th percentile of `samples` (p in 0-100). */
export function percentile(samples: readonly number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
