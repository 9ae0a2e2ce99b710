/**
 * Device policies as the hub and the agent both read them: profile
 * condition expressions (parsed by jsep into our own tree and evaluated by
 * our own small evaluator over a metric table, `expression.ts`), durations
 * (`duration.ts`), and the checks that make a bad profile, expression or
 * reference a 422 when a Device or Workload is written (`profiles.ts`), and
 * retry policies (`retry.ts`: their checks and the delays they mean).
 * Its own door so that the agent loads it (and jsep) only when a profile
 * is placed on it.
 */

export {
  type CronConcurrencyPolicy,
  type CronPolicy,
  CronSchedule,
  type CronSpec,
  cronPolicy,
  type DueSchedule,
  dueSchedule,
  MAX_MISSED_SCHEDULES,
  MAX_SCHEDULE_LENGTH,
  validateCron,
} from './cron.ts';
export { parseDuration } from './duration.ts';
export {
  type BoolNode,
  type CompareOp,
  type Expression,
  ExpressionError,
  evaluate,
  type Lean,
  MAX_EXPRESSION_LENGTH,
  METRIC_NAME,
  type MetricLookup,
  parseExpression,
  type ValueNode,
} from './expression.ts';
export {
  MAX_FOR_MS,
  type ProfileConditionSpec,
  type ProfileRef,
  type ProfileSpec,
  unknownProfileRefs,
  validateProfileRefs,
  validateProfiles,
} from './profiles.ts';
export {
  MAX_RETRY_INTERVAL_MS,
  type RetrySpec,
  type RetryTiming,
  retryTiming,
  validateRetry,
} from './retry.ts';
export {
  type UpdateWindowSpec,
  updateWindowState,
  validateUpdateWindow,
  type WindowState,
} from './update-window.ts';
