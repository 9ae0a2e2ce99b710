import Type from 'typebox';
import type { FieldCause, KubeObject } from './kind.ts';
import { Time } from './meta.ts';
import {
  type CronSpec,
  MAX_SCHEDULE_LENGTH,
  type ProfileRef,
  type ProfileSpec,
  type RetrySpec,
  validateCron,
  validateProfileRefs,
  validateProfiles,
  validateRetry,
} from './policy/index.ts';

/**
 * The schemas of device profiles (issue 15): what a Device declares
 * (`spec.profiles`), what a Workload opts into (`spec.profiles`), what the
 * agent reports (`status.profiles`), with the semantic checks that go with
 * them; and a Workload's retry policy (`spec.retry`). The expressions themselves are `policy/`'s.
 */

const NAME = { minLength: 1, maxLength: 63, pattern: '^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$' };

/** One condition of a profile. */
export const ProfileCondition = Type.Object(
  {
    name: Type.String({ ...NAME, description: 'The condition name Workloads refer to.' }),
    expression: Type.String({
      minLength: 1,
      maxLength: 1024,
      description:
        'Over metric names: numbers (an optional % after one), nil, < <= > >= == !=, && || !, parentheses; e.g. `cpu < 80% || cpu == nil`.',
    }),
    for: Type.Optional(
      Type.String({
        description:
          'How long the expression must hold before the condition does (`30s`, `5m`); it stops holding at once.',
      }),
    ),
    hysteresis: Type.Optional(
      Type.Number({
        minimum: 0,
        description:
          "Dead band around each threshold, in the metric's units: the condition changes only once a metric is this far past a threshold (either way).",
      }),
    ),
  },
  { description: 'A named condition over the device metrics.' },
);

/** A Device's profiles. */
export const DeviceProfiles = Type.Array(
  Type.Object(
    {
      name: Type.String({ ...NAME, description: 'The profile name Workloads refer to.' }),
      conditions: Type.Array(ProfileCondition, { description: 'Its named conditions.' }),
    },
    { description: 'A named set of conditions.' },
  ),
  { description: 'Named sets of conditions over device metrics, evaluated by the agent.' },
);

/** A Workload's opt-in to conditions of profiles. */
export const WorkloadProfiles = Type.Array(
  Type.Object(
    {
      name: Type.String({ ...NAME, description: 'A profile the devices declare.' }),
      conditions: Type.Array(Type.String(NAME), {
        minItems: 1,
        description: 'Conditions of that profile that must all hold for the Workload to run.',
      }),
    },
    { description: 'Conditions of one device profile.' },
  ),
  {
    description:
      'Run only while every condition named holds on the device; stopped (with its grace period) when one stops holding.',
  },
);

/** A Workload's restart policy for its containers. */
export const WorkloadRetry = Type.Object(
  {
    policy: Type.Enum(['constant', 'exponential'], {
      description:
        'constant: every restart after `interval`; exponential: `interval`, doubled per restart up to `maxInterval`.',
    }),
    interval: Type.String({ description: 'The (first) delay before a restart: `20s`, `500ms`, `1m`.' }),
    maxInterval: Type.Optional(Type.String({ description: 'exponential: the longest delay. Default 5m.' })),
    maxRetries: Type.Optional(
      Type.Integer({
        minimum: 0,
        description:
          'Restarts before the Workload is Failed on the device (RetryLimitExceeded); unlimited when absent. A change of the Workload counts again.',
      }),
    ),
  },
  {
    description:
      "Replaces the agent's default restart backoff (1 s doubling to 5 min) for the Workload's containers (process runtime).",
  },
);

const CRON_FIELDS = {
  schedule: Type.String({
    minLength: 1,
    maxLength: MAX_SCHEDULE_LENGTH,
    description:
      'When to run, read by croner: 5 fields (`*/5 * * * *`), 6 with seconds first (`*/10 * * * * *`), or `@yearly` `@monthly` `@weekly` `@daily` `@hourly`.',
  }),
  timeZone: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 64,
      description: "IANA time zone the schedule is read in (`Europe/Berlin`); default the device's own.",
    }),
  ),
  concurrencyPolicy: Type.Optional(
    Type.Enum(['Allow', 'Forbid', 'Replace'], {
      description:
        'When a run is due while another is active. Allow: both run; Forbid: the new one waits (and is skipped once past startingDeadlineSeconds); Replace: the active one is stopped. Default Allow.',
    }),
  ),
  startingDeadlineSeconds: Type.Optional(
    Type.Integer({
      minimum: 0,
      description:
        'A run not started within this many seconds of its scheduled time (device off, clock jumped, Forbid) is skipped. Default none: a missed run starts late, once.',
    }),
  ),
  successfulJobsHistoryLimit: Type.Optional(
    Type.Integer({ minimum: 0, description: 'Finished successful runs kept with their output. Default 3.' }),
  ),
  failedJobsHistoryLimit: Type.Optional(
    Type.Integer({ minimum: 0, description: 'Finished failed runs kept with their output. Default 1.' }),
  ),
  suspend: Type.Optional(Type.Boolean({ description: 'No new runs while true. Default false.' })),
};

/** A Workload's schedule: its Pods run to completion at these times, with Kubernetes CronJob semantics. */
export const WorkloadCron = Type.Object(CRON_FIELDS, {
  description:
    'Run the Pods to completion on a schedule (as a Kubernetes CronJob), evaluated by the agent on the device, offline too.',
});

/** `spec.cron` as the Mailbox carries it: defaults applied. */
export const CronPolicySchema = Type.Object(
  {
    ...CRON_FIELDS,
    concurrencyPolicy: Type.Enum(['Allow', 'Forbid', 'Replace']),
    successfulJobsHistoryLimit: Type.Integer({ minimum: 0 }),
    failedJobsHistoryLimit: Type.Integer({ minimum: 0 }),
    suspend: Type.Boolean(),
  },
  { description: "The Workload's spec.cron with its defaults, on its Pods." },
);

/** One run of a cron object, as the agent reports it. */
export const CronRunStatus = Type.Object(
  {
    run: Type.Integer({ minimum: 1, description: 'The run index on this device (`outpost logs --run N`).' }),
    scheduledTime: Time,
    startTime: Type.Optional(Time),
    completionTime: Type.Optional(Time),
    phase: Type.Enum(['Pending', 'Running', 'Succeeded', 'Failed']),
    exitCode: Type.Optional(Type.Integer()),
    reason: Type.Optional(Type.String()),
    message: Type.Optional(
      Type.String({ description: 'Why the run ended so, when the agent ended it (refused, evicted).' }),
    ),
  },
  { description: 'A run: active, or finished and kept by the history limits.' },
);
export type CronRunStatus = Type.Static<typeof CronRunStatus>;

/**
 * A scheduled time not run as scheduled, as Kubernetes' CronJob controller
 * tells it: `MissSchedule` (past startingDeadlineSeconds), `TooManyMissedTimes`
 * (more than 100 missed), `JobAlreadyActive` (Forbid with a run active).
 */
export const CronWarning = Type.Object(
  {
    reason: Type.Enum(['MissSchedule', 'TooManyMissedTimes', 'JobAlreadyActive']),
    message: Type.String(),
    time: { ...Time, description: 'When the agent saw it (device clock).' },
  },
  { description: 'A scheduled time not run as scheduled.' },
);
export type CronWarning = Type.Static<typeof CronWarning>;

/** A cron object's schedule state on one device. */
export const CronStatus = Type.Object(
  {
    lastScheduleTime: Type.Optional({ ...Time, description: 'The scheduled time of the last run started.' }),
    lastSuccessfulTime: Type.Optional({ ...Time, description: 'When the last successful run finished.' }),
    nextScheduleTime: Type.Optional({ ...Time, description: 'The next scheduled time (device clock).' }),
    active: Type.Integer({ minimum: 0, description: 'Runs active now.' }),
    runs: Type.Array(CronRunStatus, { description: 'Active runs and the finished ones kept, oldest first.' }),
    warnings: Type.Optional(
      Type.Array(CronWarning, {
        maxItems: 5,
        description:
          'The latest scheduled times not run as scheduled, oldest first (each an Event on the Workload).',
      }),
    ),
  },
  { description: 'The schedule on this device.' },
);

/** A retry policy as the Mailbox carries it to the agent: read by the hub, in milliseconds. */
export const RetryTimingSchema = Type.Object(
  {
    initialMs: Type.Integer({ minimum: 1, description: 'The first delay.' }),
    factor: Type.Number({ minimum: 1, description: '1 for constant, 2 for exponential.' }),
    maxMs: Type.Integer({ minimum: 1, description: 'The longest delay.' }),
    maxRetries: Type.Optional(Type.Integer({ minimum: 0, description: 'Restarts before Failed.' })),
  },
  {
    description:
      "The Workload's spec.retry on its runnable objects, in milliseconds (part of the hash: a change restarts the count).",
  },
);

/** One condition as the agent reports it. */
export const ConditionReport = Type.Object(
  {
    name: Type.String(),
    state: Type.Enum(['True', 'False'], { description: 'Whether the condition holds now.' }),
    value: Type.Optional(
      Type.Boolean({ description: 'What the expression gives now (before `for` and hysteresis).' }),
    ),
    metrics: Type.Optional(
      Type.Record(Type.String(), Type.Union([Type.Number(), Type.Null()]), {
        description: 'The metrics it reads, by name (null: nil).',
      }),
    ),
    pendingSince: Type.Optional({
      ...Time,
      description: 'Since when the expression holds while `for` has not elapsed.',
    }),
    lastTransitionTime: Type.Optional(Time),
  },
  { description: 'A condition on the device.' },
);

/** What the agent reports of each profile. */
export const ProfileStatuses = Type.Array(
  Type.Object({ name: Type.String(), conditions: Type.Array(ConditionReport) }),
  { description: "Each profile's conditions as evaluated on the device." },
);

/** The Device's own checks: its profiles parse. */
export function validateDeviceProfiles(object: KubeObject): FieldCause[] {
  const profiles = (object.spec as { profiles?: ProfileSpec[] } | undefined)?.profiles;
  return profiles ? validateProfiles(profiles, 'spec.profiles') : [];
}

/** The Workload's own checks of its references (whether Devices declare them is admission's) and retry policy. */
export function validateWorkloadPolicies(object: KubeObject): FieldCause[] {
  const spec = object.spec as { profiles?: ProfileRef[]; retry?: RetrySpec; cron?: CronSpec } | undefined;
  return [
    ...(spec?.cron ? validateCron(spec.cron, 'spec.cron') : []),
    ...(spec?.profiles ? validateProfileRefs(spec.profiles, 'spec.profiles') : []),
    ...(spec?.retry ? validateRetry(spec.retry, 'spec.retry') : []),
  ];
}
