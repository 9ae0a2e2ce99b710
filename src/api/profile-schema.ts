import Type from 'typebox';
import type { FieldCause, KubeObject } from './kind.ts';
import { Time } from './meta.ts';
import { type ProfileRef, type ProfileSpec, validateProfileRefs, validateProfiles } from './policy/index.ts';

/**
 * The schemas of device profiles (issue 15): what a Device declares
 * (`spec.profiles`), what a Workload opts into (`spec.profiles`), what the
 * agent reports (`status.profiles`), with the semantic checks that go with
 * them. The expressions themselves are `policy/`'s.
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

/** The Workload's own checks of its references (whether Devices declare them is admission's). */
export function validateWorkloadProfiles(object: KubeObject): FieldCause[] {
  const refs = (object.spec as { profiles?: ProfileRef[] } | undefined)?.profiles;
  return refs ? validateProfileRefs(refs, 'spec.profiles') : [];
}
