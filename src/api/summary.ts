import Type from 'typebox';
import { Conditions } from './meta.ts';

/** How many devices are in each state, for a Workload or a Placement. */
export const DeviceCounts = Type.Object({
  matched: Type.Integer({ minimum: 0 }),
  applied: Type.Integer({ minimum: 0 }),
  running: Type.Integer({ minimum: 0 }),
  failed: Type.Integer({ minimum: 0 }),
  unreachable: Type.Integer({ minimum: 0 }),
});

/** The status Workloads and Placements share: counts, grouped reasons, a bounded list of broken devices. */
export const RolloutSummary = Type.Object({
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
  conditions: Type.Optional(Conditions),
});
export type RolloutSummary = Type.Static<typeof RolloutSummary>;

/** Reads a count from a summarised status for printer columns. */
export function countOf(status: unknown, field: keyof Type.Static<typeof DeviceCounts>): number | undefined {
  return (status as RolloutSummary | undefined)?.devices?.[field];
}
