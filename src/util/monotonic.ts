/**
 * Milliseconds on a monotonic clock (`performance.now()`: only differences
 * mean anything, it is not related to the epoch). Periods, timeouts and
 * delays are measured on it, so that a wall clock jumping a day forward or
 * back changes no rhythm; wall time is only for timestamps people read.
 */
export function monotonicMs(): number {
  return performance.now();
}
