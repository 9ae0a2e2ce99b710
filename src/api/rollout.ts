import Type from 'typebox';
import type { FieldCause, KubeObject, PrinterColumn } from './kind.ts';
import { FreeForm, LabelSelector, Time } from './meta.ts';
import { MAX_SCHEDULE_LENGTH, validateUpdateWindow } from './policy/index.ts';
import { selectorRequirements } from './selectors.ts';

/** A count of devices, or a percentage of the matched devices (rounded up, at least one). */
const BatchLimit = Type.Union([Type.Integer({ minimum: 1 }), Type.String({ pattern: '^[0-9]+%$' })], {
  description: 'Devices in the batch: a count, or a percentage ("25%") of the matched devices.',
});

/** One batch of a rollout: which devices, how many, whether a person must release it. */
export const RolloutBatch = Type.Object({
  selector: Type.Optional({
    ...LabelSelector,
    description: 'Only devices with these labels (not taken by an earlier batch); absent: any device left.',
  }),
  limit: Type.Optional(BatchLimit),
  approval: Type.Optional(
    Type.Enum(['Automatic', 'Manual'], {
      description: 'Manual: the batch starts only after `outpost rollout approve`. @default Automatic',
    }),
  ),
});
export type RolloutBatch = Type.Static<typeof RolloutBatch>;

/**
 * When a device may replace what it runs with a new revision: windows that
 * open on a cron schedule and stay open for a duration, on the device's own
 * clock (see policy/update-window.ts).
 */
export const UPDATE_WINDOW_TEXT =
  'A device applies a new rollout revision only inside its window (a new Workload starts at once; a rollback is applied at once). Waiting for it is no failure.';

export const UpdateWindow = Type.Object(
  {
    schedule: Type.String({
      minLength: 1,
      maxLength: MAX_SCHEDULE_LENGTH,
      description:
        'When each window opens, read by croner: 5 fields (`0 2 * * *`), 6 with seconds first, or `@daily`-style names.',
    }),
    duration: Type.String({
      minLength: 1,
      maxLength: 32,
      description: 'How long each window stays open: `30m`, `2h`, `1h30m`.',
    }),
    timeZone: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 64,
        description: "IANA time zone the schedule is read in (`Europe/Berlin`); default the device's own.",
      }),
    ),
  },
  { description: UPDATE_WINDOW_TEXT },
);
export type UpdateWindow = Type.Static<typeof UpdateWindow>;

/**
 * The Device label naming the update window of `spec.rollout.updateWindows`
 * the device takes (a label, so that a fleet is sorted into windows with
 * `kubectl label`; a label value cannot hold a cron schedule itself).
 */
export const UPDATE_WINDOW_LABEL = 'outpost.dev/update-window';

/** An update window devices choose by name with the {@link UPDATE_WINDOW_LABEL} label. */
export const NamedUpdateWindow = Type.Object(
  {
    name: Type.String({
      minLength: 1,
      maxLength: 63,
      pattern: '^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$',
      description: `The value of the ${UPDATE_WINDOW_LABEL} label that selects this window (a label value).`,
    }),
    ...UpdateWindow.properties,
  },
  { description: `${UPDATE_WINDOW_TEXT} Devices labelled ${UPDATE_WINDOW_LABEL}=NAME take it.` },
);
export type NamedUpdateWindow = Type.Static<typeof NamedUpdateWindow>;

/** A count of devices of a group, or a percentage of the group's devices. */
const GroupCount = (minimum: number, description: string) =>
  Type.Union([Type.Integer({ minimum }), Type.String({ pattern: '^[0-9]+%$' })], { description });

/** How many devices of one label group may be updating at once, across batches. */
export const DisruptionBudget = Type.Object(
  {
    groupBy: Type.Array(Type.String({ minLength: 1 }), {
      description:
        'Label keys: devices with the same values of these labels form a group (a site). Empty: the whole fleet is one group.',
    }),
    maxUnavailable: Type.Optional(
      GroupCount(
        1,
        'At most this many devices of a group (a count, or a percentage of the group rounded up) updating at once.',
      ),
    ),
    minAvailable: Type.Optional(
      GroupCount(
        0,
        'At least this many reachable devices of a group (a count, or a percentage of the group rounded up) not updating.',
      ),
    ),
  },
  {
    description:
      'A device is unavailable from being given the update revision until its agent reports it running and ready. Exactly one of maxUnavailable and minAvailable.',
  },
);
export type DisruptionBudget = Type.Static<typeof DisruptionBudget>;

/** `Placement.spec.rollout`: how a new revision of the placed Workloads reaches the devices. */
export const RolloutSpec = Type.Object(
  {
    strategy: Type.Optional(
      Type.Enum(['AllAtOnce', 'Batches'], {
        description:
          'AllAtOnce: one batch of every device; Batches: spec.rollout.batches in order. @default AllAtOnce',
      }),
    ),
    batches: Type.Optional(
      Type.Array(RolloutBatch, {
        description:
          'Batches in order; devices no batch takes form an implicit last batch. Devices are taken in name order.',
      }),
    ),
    successThreshold: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 100,
        description:
          "Percent of a batch's reachable devices that must run the new revision, ready, before the next batch starts. @default 100",
      }),
    ),
    errorThreshold: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 100,
        description:
          'Percent of the reachable devices given the new revision that, failing, stop the rollout and roll it back. @default 20',
      }),
    ),
    progressDeadlineSeconds: Type.Optional(
      Type.Integer({
        minimum: 1,
        description:
          'How long a device of a batch may take to run the new revision before it counts as failed. @default 600',
      }),
    ),
    paused: Type.Optional(Type.Boolean({ description: 'No further batch starts while true.' })),
    disruptionBudget: Type.Optional(DisruptionBudget),
    updateWindow: Type.Optional({
      ...UpdateWindow,
      description: `${UPDATE_WINDOW_TEXT} A Device's spec.updateWindow takes its place on that device.`,
    }),
    updateWindows: Type.Optional(
      Type.Array(NamedUpdateWindow, {
        maxItems: 32,
        description: `Update windows by name: a device labelled ${UPDATE_WINDOW_LABEL}=NAME takes the window NAME in place of spec.rollout.updateWindow (its own spec.updateWindow still wins). A device naming no window listed here keeps spec.rollout.updateWindow, and status.rollout.unknownUpdateWindows says so.`,
      }),
    ),
    revisionHistoryLimit: Type.Optional(
      Type.Integer({ minimum: 2, maximum: 50, description: 'Revisions kept in status. @default 10' }),
    ),
  },
  {
    description:
      'How a change of the placed Workloads (a new revision) reaches the devices: in batches, stopped and rolled back at the error threshold.',
  },
);
export type RolloutSpec = Type.Static<typeof RolloutSpec>;

/** One revision: the placed Workloads' specs as they were. */
export const PlacementRevision = Type.Object({
  revision: Type.Integer({ minimum: 1 }),
  hash: Type.String({ description: 'Content hash of the Workloads below.' }),
  created: Time,
  workloads: Type.Array(
    Type.Object({
      name: Type.String(),
      uid: Type.Optional(Type.String()),
      generation: Type.Optional(Type.Integer()),
      creationTimestamp: Type.Optional(Type.String()),
      labels: Type.Optional(Type.Record(Type.String(), Type.String())),
      spec: FreeForm(Type.Object({})),
    }),
  ),
});
export type PlacementRevision = Type.Static<typeof PlacementRevision>;

const BatchStatus = Type.Object({
  devices: Type.Integer({ minimum: 0 }),
  updated: Type.Integer({ minimum: 0, description: 'Running the update revision, ready.' }),
  failed: Type.Integer({ minimum: 0 }),
  unreachable: Type.Integer({ minimum: 0 }),
  waiting: Type.Optional(
    Type.Integer({
      minimum: 0,
      description: 'Released, not yet given the update revision: the disruption budget.',
    }),
  ),
});

/** `Placement.status.rollout`, written by the rollout controller. */
export const RolloutStatus = Type.Object(
  {
    observedGeneration: Type.Optional(Type.Integer()),
    phase: Type.Enum(['Complete', 'Progressing', 'Paused', 'WaitingForApproval', 'RolledBack'], {
      description:
        'Complete: every batch runs currentRevision. RolledBack: updateRevision failed and every device was given currentRevision back.',
    }),
    currentRevision: Type.Integer({
      minimum: 1,
      description: 'The revision devices outside released batches hold.',
    }),
    updateRevision: Type.Integer({ minimum: 1, description: 'The revision being rolled out.' }),
    releasedBatches: Type.Integer({
      minimum: 0,
      description: 'Batches [0, releasedBatches) hold updateRevision; the others hold currentRevision.',
    }),
    batchStartTime: Type.Optional(Time),
    admitted: Type.Optional(
      Type.Record(Type.String(), Type.Integer({ minimum: 0 }), {
        description:
          'With a disruption budget: per group (`key=value,...`), how many of its devices of the released batches, in batch then name order, were given updateRevision.',
      }),
    ),
    batches: Type.Optional(Type.Array(BatchStatus)),
    failure: Type.Optional(
      Type.Object({
        revision: Type.Integer(),
        time: Time,
        devices: Type.Array(Type.String(), { maxItems: 20 }),
        reasons: Type.Array(Type.Object({ reason: Type.String(), count: Type.Integer({ minimum: 1 }) })),
        message: Type.String(),
      }),
    ),
    unknownUpdateWindows: Type.Optional(
      Type.Array(
        Type.Object({
          name: Type.String(),
          devices: Type.Integer({ minimum: 1 }),
          examples: Type.Array(Type.String(), { maxItems: 5 }),
        }),
        {
          maxItems: 10,
          description: `Values of the ${UPDATE_WINDOW_LABEL} label on matched devices that name no window of spec.rollout.updateWindows: those devices keep spec.rollout.updateWindow (or none). How many devices, and the first few by name.`,
        },
      ),
    ),
    revisions: Type.Array(PlacementRevision, { description: 'Bounded history, oldest first.' }),
  },
  { description: 'Where the rollout of the placed Workloads stands, and their revisions.' },
);
export type RolloutStatus = Type.Static<typeof RolloutStatus>;

/** The annotation `outpost rollout approve` writes: `REVISION/BATCH`, releasing that batch and those before. */
export const APPROVE_ANNOTATION = 'outpost.dev/rollout-approved';

/** Semantic checks of `spec.rollout`: overlapping batch selectors, a Batches strategy without batches. */
export function validateRollout(rollout: RolloutSpec | undefined, field = 'spec.rollout'): FieldCause[] {
  if (!rollout) return [];
  const causes: FieldCause[] = [];
  const batches = rollout.batches ?? [];
  if (rollout.strategy === 'AllAtOnce' && batches.length > 0) {
    causes.push({
      reason: 'FieldValueForbidden',
      field: `${field}.batches`,
      message: 'Forbidden: batches apply to the Batches strategy only',
    });
  }
  const budget = rollout.disruptionBudget;
  if (budget && budget.maxUnavailable !== undefined && budget.minAvailable !== undefined) {
    causes.push({
      reason: 'FieldValueForbidden',
      field: `${field}.disruptionBudget.minAvailable`,
      message: 'Forbidden: maxUnavailable and minAvailable are mutually exclusive',
    });
  } else if (budget && budget.maxUnavailable === undefined && budget.minAvailable === undefined) {
    causes.push({
      reason: 'FieldValueRequired',
      field: `${field}.disruptionBudget.maxUnavailable`,
      message: 'Required value: one of maxUnavailable and minAvailable',
    });
  }
  if (rollout.updateWindow)
    causes.push(...validateUpdateWindow(rollout.updateWindow, `${field}.updateWindow`));
  const named = new Map<string, number>();
  (rollout.updateWindows ?? []).forEach((window, index) => {
    const path = `${field}.updateWindows[${index}]`;
    causes.push(...validateUpdateWindow(window, path));
    const earlier = named.get(window.name);
    if (earlier !== undefined)
      causes.push({
        reason: 'FieldValueDuplicate',
        field: `${path}.name`,
        message: `Duplicate value: ${JSON.stringify(window.name)}: also the name of updateWindows[${earlier}]`,
      });
    else named.set(window.name, index);
  });
  const percent = budget?.maxUnavailable;
  if (typeof percent === 'string' && Number(percent.slice(0, -1)) === 0) {
    causes.push({
      reason: 'FieldValueInvalid',
      field: `${field}.disruptionBudget.maxUnavailable`,
      message: 'Invalid value: "0%": no device could ever update',
    });
  }
  batches.forEach((batch, index) => {
    if (!batch.selector) return;
    for (let earlier = 0; earlier < index; earlier++) {
      const other = batches[earlier]!.selector;
      if (other && mayOverlap(other, batch.selector)) {
        causes.push({
          reason: 'FieldValueInvalid',
          field: `${field}.batches[${index}].selector`,
          message: `Invalid value: overlaps the selector of batches[${earlier}] (a device could match both)`,
        });
        break;
      }
    }
  });
  return causes;
}

type Selector = Parameters<typeof selectorRequirements>[0];

/**
 * Whether two label selectors may select one device. They cannot when some
 * key is required with disjoint value sets, or required by one and forbidden
 * (DoesNotExist, or NotIn every value the other allows) by the other.
 */
function mayOverlap(a: Selector, b: Selector): boolean {
  const ra = selectorRequirements(a);
  const rb = selectorRequirements(b);
  for (const x of ra) {
    for (const y of rb) {
      if (x.key !== y.key) continue;
      if (disjoint(x, y) || disjoint(y, x)) return false;
    }
  }
  return true;
}

function disjoint(
  x: { operator: string; values: readonly string[] },
  y: { operator: string; values: readonly string[] },
): boolean {
  const requires = x.operator === 'In' || x.operator === 'Exists';
  if (requires && y.operator === 'DoesNotExist') return true;
  if (x.operator === 'In' && y.operator === 'In') return !x.values.some((v) => y.values.includes(v));
  if (x.operator === 'In' && y.operator === 'NotIn') return x.values.every((v) => y.values.includes(v));
  return false;
}

function rolloutOf(object: KubeObject): RolloutStatus | undefined {
  return (object.status as { rollout?: RolloutStatus } | undefined)?.rollout;
}

/** `kubectl get placements` columns of the rollout: revision, batches released, phase. */
export const rolloutColumns: PrinterColumn[] = [
  {
    name: 'Revision',
    type: 'integer',
    description: 'The revision being rolled out.',
    cell: (o) => rolloutOf(o)?.updateRevision,
  },
  {
    name: 'Batch',
    type: 'string',
    description: 'Batches released of all.',
    cell: (o) => {
      const r = rolloutOf(o);
      return r?.batches ? `${Math.min(r.releasedBatches, r.batches.length)}/${r.batches.length}` : undefined;
    },
  },
  {
    name: 'Rollout',
    type: 'string',
    description: 'Rollout phase.',
    cell: (o) => rolloutOf(o)?.phase,
  },
];
