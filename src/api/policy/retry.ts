import type { FieldCause } from '../kind.ts';
import { parseDuration } from './duration.ts';

/** A Workload's `spec.retry`: how its containers are restarted after they exit. */
export interface RetrySpec {
  readonly policy: 'constant' | 'exponential';
  /** The (first) delay before a restart, e.g. `20s`. */
  readonly interval: string;
  /** Exponential only: the longest delay. @default 5m */
  readonly maxInterval?: string;
  /** Restarts before the workload is Failed; unlimited when absent. */
  readonly maxRetries?: number;
}

/** The delays of a retry policy in milliseconds: the first, the factor per retry, the longest. */
export interface RetryTiming {
  readonly initialMs: number;
  readonly factor: number;
  readonly maxMs: number;
  readonly maxRetries?: number;
}

/** The longest interval: a day. */
export const MAX_RETRY_INTERVAL_MS = 86_400_000;
const DEFAULT_MAX_INTERVAL_MS = 300_000;

/** Checks `spec.retry` beyond its schema: durations, and maxInterval not below interval. */
export function validateRetry(retry: RetrySpec, path: string): FieldCause[] {
  const causes: FieldCause[] = [];
  const interval = checkDuration(retry.interval, `${path}.interval`, causes);
  if (interval === 0)
    causes.push({
      reason: 'FieldValueInvalid',
      field: `${path}.interval`,
      message: 'Invalid value: "0": must be at least 10ms',
    });
  if (retry.maxInterval !== undefined) {
    if (retry.policy !== 'exponential')
      causes.push({
        reason: 'FieldValueForbidden',
        field: `${path}.maxInterval`,
        message: 'Forbidden: only for policy exponential',
      });
    const max = checkDuration(retry.maxInterval, `${path}.maxInterval`, causes);
    if (max !== undefined && interval !== undefined && max < interval)
      causes.push({
        reason: 'FieldValueInvalid',
        field: `${path}.maxInterval`,
        message: `Invalid value: ${JSON.stringify(retry.maxInterval)}: must not be shorter than interval ${retry.interval}`,
      });
  }
  return causes;
}

/** The timing of a valid policy. */
export function retryTiming(retry: RetrySpec): RetryTiming {
  const initialMs = Math.max(10, parseDuration(retry.interval) ?? 20_000);
  const exponential = retry.policy === 'exponential';
  const maxMs = exponential
    ? Math.max(initialMs, parseDuration(retry.maxInterval ?? '') ?? DEFAULT_MAX_INTERVAL_MS)
    : initialMs;
  return {
    initialMs,
    factor: exponential ? 2 : 1,
    maxMs,
    ...(retry.maxRetries !== undefined ? { maxRetries: retry.maxRetries } : {}),
  };
}

function checkDuration(text: string, field: string, causes: FieldCause[]): number | undefined {
  const ms = parseDuration(text);
  if (ms === undefined || ms > MAX_RETRY_INTERVAL_MS) {
    causes.push({
      reason: 'FieldValueInvalid',
      field,
      message: `Invalid value: ${JSON.stringify(text)}: ${ms === undefined ? 'a duration such as 500ms, 20s or 5m' : 'at most 24h'}`,
    });
    return undefined;
  }
  return ms;
}
