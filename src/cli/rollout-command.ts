/**
 * `outpost rollout status|history|pause|resume|approve|undo PLACEMENT`
 * (defined in commands.ts), in the manner of `kubectl rollout`: reads and
 * steers a Placement's rollout through the hub's API.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { APPROVE_ANNOTATION, type Placement, type RolloutStatus } from '../api/index.ts';
import { CliError } from './errors.ts';
import { type ConnectionFlags, connectToHub, type HubConnection } from './hub-connection.ts';
import { table } from './token-command.ts';

export interface RolloutFlags extends ConnectionFlags {
  readonly namespace: string;
  /** status: wait until the rollout is complete or rolled back. */
  readonly watch?: boolean;
  /** undo: the revision whose Workloads come back (default: the one before the newest that differs). */
  readonly toRevision?: string;
}

interface PlacementObject {
  metadata: { name: string; namespace: string; annotations?: Record<string, string> };
  spec: Placement['spec'];
  status?: { rollout?: RolloutStatus };
}

const NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

function pathOf(flags: RolloutFlags, name: string): string {
  if (!NAME.test(name)) throw new CliError(`${JSON.stringify(name)} is not a Placement name`);
  if (!NAME.test(flags.namespace))
    throw new CliError(`${JSON.stringify(flags.namespace)} is not a namespace`);
  return `/apis/outpost.dev/v1alpha1/namespaces/${flags.namespace}/placements/${name}`;
}

async function withHub<T>(flags: RolloutFlags, fn: (hub: HubConnection) => Promise<T>): Promise<T> {
  const hub = await connectToHub(flags);
  try {
    return await fn(hub);
  } finally {
    await hub.close();
  }
}

async function rolloutOf(
  hub: HubConnection,
  path: string,
  name: string,
): Promise<[PlacementObject, RolloutStatus]> {
  const placement = await hub.call<PlacementObject>('GET', path);
  if (!placement.spec.rollout)
    throw new CliError(`placement ${name} has no spec.rollout: it does not roll out by revisions`);
  const rollout = placement.status?.rollout;
  if (!rollout)
    throw new CliError(`placement ${name} has no revision yet (is the hub's rollout controller running?)`);
  return [placement, rollout];
}

/** The lines of `rollout status`. */
export function describeRollout(name: string, rollout: RolloutStatus): string {
  const batches = rollout.batches ?? [];
  const lines: string[] = [];
  if (rollout.phase === 'Complete') {
    lines.push(
      `placement ${name}: revision ${rollout.currentRevision} rolled out (${batches.length || 1} batches)`,
    );
  } else if (rollout.phase === 'RolledBack') {
    lines.push(
      `placement ${name}: ${rollout.failure?.message ?? `rolled back to revision ${rollout.currentRevision}`}`,
    );
    if (rollout.failure?.devices.length)
      lines.push(`  failed devices: ${rollout.failure.devices.join(', ')}`);
  } else {
    const batch = Math.max(1, rollout.releasedBatches);
    lines.push(
      `placement ${name}: revision ${rollout.updateRevision} replacing ${rollout.currentRevision}, batch ${batch} of ${batches.length}: ${rollout.phase}`,
    );
  }
  batches.forEach((b, index) => {
    const held = index < rollout.releasedBatches ? rollout.updateRevision : rollout.currentRevision;
    lines.push(
      `  batch ${index + 1}: revision ${held}, ${b.devices} devices, ${b.updated} updated, ${b.failed} failed, ${b.unreachable} unreachable${b.waiting ? `, ${b.waiting} waiting for the disruption budget` : ''}`,
    );
  });
  return `${lines.join('\n')}\n`;
}

/** `outpost rollout status PLACEMENT [-w]`: exit code 1 when the rollout was rolled back. */
export async function runRolloutStatus(name: string, flags: RolloutFlags): Promise<void> {
  const path = pathOf(flags, name);
  await withHub(flags, async (hub) => {
    let last = '';
    for (;;) {
      const [, rollout] = await rolloutOf(hub, path, name);
      const text = describeRollout(name, rollout);
      if (text !== last) process.stdout.write(text);
      last = text;
      if (rollout.phase === 'RolledBack') throw new CliError(`rollout of placement ${name} failed`, 1);
      if (!flags.watch || rollout.phase === 'Complete') return;
      await sleep(1000);
    }
  });
}

/** `outpost rollout history PLACEMENT`: the revisions kept, newest last. */
export async function runRolloutHistory(name: string, flags: RolloutFlags): Promise<void> {
  const path = pathOf(flags, name);
  await withHub(flags, async (hub) => {
    const [, rollout] = await rolloutOf(hub, path, name);
    const rows = [['REVISION', 'CREATED', 'WORKLOADS', 'STATUS']];
    for (const r of rollout.revisions) {
      const state =
        r.revision === rollout.failure?.revision
          ? 'failed, rolled back'
          : r.revision === rollout.currentRevision
            ? 'current'
            : r.revision === rollout.updateRevision
              ? 'rolling out'
              : '';
      rows.push([String(r.revision), r.created, r.workloads.map((w) => w.name).join(',') || '<none>', state]);
    }
    process.stdout.write(table(rows));
  });
}

/** `outpost rollout pause|resume PLACEMENT`: sets `spec.rollout.paused`. */
export async function runRolloutPause(name: string, paused: boolean, flags: RolloutFlags): Promise<void> {
  const path = pathOf(flags, name);
  await withHub(flags, async (hub) => {
    const placement = await hub.call<PlacementObject>('GET', path);
    if (!placement.spec.rollout) throw new CliError(`placement ${name} has no spec.rollout`);
    await hub.call(
      'PATCH',
      `${path}?fieldManager=outpost-cli`,
      { spec: { rollout: { paused } } },
      'application/merge-patch+json',
    );
  });
  process.stdout.write(`placement ${name} ${paused ? 'paused' : 'resumed'}\n`);
}

/** `outpost rollout approve PLACEMENT`: releases the batch waiting for approval. */
export async function runRolloutApprove(name: string, flags: RolloutFlags): Promise<void> {
  const path = pathOf(flags, name);
  const batch = await withHub(flags, async (hub) => {
    const [, rollout] = await rolloutOf(hub, path, name);
    if (rollout.phase !== 'WaitingForApproval')
      throw new CliError(`placement ${name}: no batch waits for approval (phase ${rollout.phase})`);
    await hub.call(
      'PATCH',
      `${path}?fieldManager=outpost-cli`,
      {
        metadata: {
          annotations: { [APPROVE_ANNOTATION]: `${rollout.updateRevision}/${rollout.releasedBatches}` },
        },
      },
      'application/merge-patch+json',
    );
    return rollout.releasedBatches + 1;
  });
  process.stdout.write(`placement ${name}: batch ${batch} approved\n`);
}

/**
 * `outpost rollout undo PLACEMENT [--to-revision N]`: writes the Workloads
 * of an earlier revision back (each Workload's spec as that revision
 * recorded it), which the rollout controller records as a new revision and
 * rolls out, as `kubectl rollout undo` does.
 */
export async function runRolloutUndo(name: string, flags: RolloutFlags): Promise<void> {
  const path = pathOf(flags, name);
  const target = await withHub(flags, async (hub) => {
    const [placement, rollout] = await rolloutOf(hub, path, name);
    const revisions = rollout.revisions;
    const latest = revisions[revisions.length - 1]!;
    let target = flags.toRevision
      ? revisions.find((r) => String(r.revision) === flags.toRevision)
      : [...revisions].reverse().find((r) => r.hash !== latest.hash);
    if (!target) {
      throw new CliError(
        flags.toRevision
          ? `placement ${name} has no revision ${flags.toRevision} (kept: ${revisions.map((r) => r.revision).join(', ')})`
          : `placement ${name} has no earlier revision to go back to`,
      );
    }
    target = structuredClone(target);
    for (const workload of target.workloads) {
      await hub.call(
        'PATCH',
        `/apis/outpost.dev/v1alpha1/namespaces/${placement.metadata.namespace}/workloads/${workload.name}?fieldManager=outpost-cli`,
        [{ op: 'replace', path: '/spec', value: workload.spec }],
        'application/json-patch+json',
      );
    }
    return target.revision;
  });
  process.stdout.write(`placement ${name}: workloads of revision ${target} written back\n`);
}
