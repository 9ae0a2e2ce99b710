import Type from 'typebox';
import type { PrinterColumn } from './kind.ts';
import { Conditions, conditionStatus, Time } from './meta.ts';

/** How many devices are in each state, for a Workload or a Placement. */
export const DeviceCounts = Type.Object({
  matched: Type.Integer({ minimum: 0 }),
  applied: Type.Integer({ minimum: 0 }),
  running: Type.Integer({ minimum: 0 }),
  failed: Type.Integer({ minimum: 0 }),
  unreachable: Type.Integer({ minimum: 0 }),
});

/** The status Workloads and Placements share: counts, grouped reasons, a bounded list of broken devices. */
export const RolloutSummary = Type.Object(
  {
    observedGeneration: Type.Optional(Type.Integer()),
    devices: Type.Optional(DeviceCounts),
    failureReasons: Type.Optional(
      Type.Array(Type.Object({ reason: Type.String(), count: Type.Integer({ minimum: 1 }) }), {
        description: 'The most common failure reasons and how many devices share each.',
      }),
    ),
    broken: Type.Optional(
      Type.Array(
        Type.Object({ device: Type.String(), reason: Type.String(), message: Type.Optional(Type.String()) }),
        { maxItems: 20, description: 'At most 20 broken devices with their reasons.' },
      ),
    ),
    cron: Type.Optional(
      Type.Object(
        {
          devices: Type.Integer({ minimum: 0, description: 'Devices reporting the schedule.' }),
          active: Type.Integer({ minimum: 0, description: 'Runs active, summed over the devices.' }),
          lastScheduleTime: Type.Optional({
            ...Time,
            description: 'The latest scheduled time a device started.',
          }),
          lastSuccessfulTime: Type.Optional({
            ...Time,
            description: 'The latest successful finish on a device.',
          }),
          nextScheduleTime: Type.Optional({
            ...Time,
            description: 'The earliest next scheduled time of a device.',
          }),
        },
        { description: "A cron Workload's schedule across its devices (by the devices' clocks)." },
      ),
    ),
    conditions: Type.Optional({
      ...Conditions,
      description:
        'Ready: every matched device runs the current content (reasons AllRunning, NoDevices, Failed, Unreachable, Progressing). ' +
        'Customized: False when objects were left out of devices for a missing parameter (MissingParameter) or an override that cannot apply (PatchFailed). ' +
        'Conflicted: True when objects were left out because another Workload placed one of the same kind, namespace and name first (ObjectCollision).',
    }),
  },
  { description: 'How the rollout stands across the matched devices.' },
);
export type RolloutSummary = Type.Static<typeof RolloutSummary>;

/** Reads a count from a summarised status for printer columns. */
export function countOf(status: unknown, field: keyof Type.Static<typeof DeviceCounts>): number | undefined {
  return (status as RolloutSummary | undefined)?.devices?.[field];
}

const COUNT_COLUMNS: Record<keyof Type.Static<typeof DeviceCounts>, { name: string; description: string }> = {
  matched: { name: 'Matched', description: 'Devices matched.' },
  applied: { name: 'Applied', description: 'Devices that applied it.' },
  running: { name: 'Running', description: 'Devices running it.' },
  failed: { name: 'Failed', description: 'Devices failing.' },
  unreachable: { name: 'Unreachable', description: 'Devices not heard from.' },
};

/** Printer columns of the given device counts, then the Ready condition. */
export function summaryColumns(
  counts: ReadonlyArray<keyof Type.Static<typeof DeviceCounts>>,
): PrinterColumn[] {
  return [
    ...counts.map(
      (field): PrinterColumn => ({
        ...COUNT_COLUMNS[field],
        type: 'integer',
        cell: (o) => countOf(o.status, field),
      }),
    ),
    {
      name: 'Ready',
      type: 'string',
      description: 'Ready condition.',
      cell: (o) => conditionStatus(o, 'Ready'),
    },
  ];
}
