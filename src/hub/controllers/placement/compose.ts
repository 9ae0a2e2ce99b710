import type {
  ExcludedObject,
  Mailbox,
  MailboxObject,
  MailboxSource,
  UpdateWindow,
} from '../../../api/index.ts';
import { isRunnable, previousResults, type WorkloadRenderer } from './render.ts';
import type { DeviceParameters } from './template.ts';

/** One Workload placed on a device, by the Placement that placed it there. */
export interface PlacedWorkload {
  readonly source: MailboxSource;
  /**
   * Precedence when two Workloads place an object of the same kind, namespace
   * and name: the smaller key wins (creationTimestamp, then namespace/name —
   * see {@link precedenceKey}).
   */
  readonly precedence: string;
  readonly renderer: WorkloadRenderer;
  /** The rollout revision the objects are of, when the Placement rolls out by revisions. */
  readonly revision?: number;
  /** The device's update window for this revision (see rollout-plan.ts `updateWindowOf`). */
  readonly updateWindow?: UpdateWindow;
}

/** What the hub writes into a device's Mailbox spec. */
export interface MailboxSpec {
  objects: MailboxObject[];
  excluded?: ExcludedObject[];
  /** The Device's `spec.profiles`, for its agent to evaluate. */
  profiles?: NonNullable<Mailbox['spec']>['profiles'];
}

/** The precedence key of a Workload: older first, then by namespace and name. */
export function precedenceKey(workload: {
  metadata?: { creationTimestamp?: string; namespace?: string; name?: string };
}): string {
  const meta = workload.metadata ?? {};
  return `${meta.creationTimestamp ?? ''}\u0000${meta.namespace ?? ''}\u0000${meta.name ?? ''}`;
}

/** Kind, namespace and name: two objects with the same identity would overwrite each other on the device. */
export function identityOf(ref: { kind: string; namespace?: string; name: string }): string {
  return `${ref.kind}/${ref.namespace ?? ''}/${ref.name}`;
}

/**
 * Composes a device's Mailbox spec from the Workloads placed on it:
 * every object customised, each with its source and content hash, in a
 * deterministic order (source namespace, workload, position in the Workload),
 * so that the same inputs always give the same spec and an unchanged Mailbox
 * is never rewritten. Objects that cannot be rendered for this device, or
 * that collide with an object of a Workload of higher precedence, are listed
 * in `excluded` with the reason. `since` is kept from `previous` while an
 * object's hash is unchanged, else set to `now`.
 */
export function composeMailbox(
  device: DeviceParameters,
  placed: readonly PlacedWorkload[],
  previous: Mailbox['spec'] | undefined,
  now: string,
): MailboxSpec {
  const before = new Map<string, { hash: string; since?: string }>();
  for (const entry of previous?.objects ?? []) {
    before.set(sourceKey(entry.source) + identityOf(refFields(entry.object)), entry);
  }
  // Objects whose inputs did not change are taken from the previous spec as they are.
  const earlier = previousResults(previous?.objects ?? []);
  const byPrecedence = [...placed].sort((a, b) => compare(a.precedence, b.precedence));
  const taken = new Map<string, MailboxSource>();
  const objects: Array<{ order: string; entry: MailboxObject }> = [];
  const excluded: Array<{ order: string; entry: ExcludedObject }> = [];
  for (const { source, renderer, revision, updateWindow } of byPrecedence) {
    renderer.objects.forEach((_, index) => {
      const order = `${source.namespace}\u0000${source.workload}\u0000${String(index).padStart(6, '0')}`;
      const result = renderer.render(index, device, earlier);
      if (!result.ok) {
        excluded.push({
          order,
          entry: { source, ref: renderer.refs[index]!, reason: result.reason, message: result.message },
        });
        return;
      }
      const ref = refFields(result.object);
      const identity = identityOf(ref);
      const winner = taken.get(identity);
      if (winner) {
        const same = winner.namespace === source.namespace && winner.workload === source.workload;
        excluded.push({
          order,
          entry: {
            source,
            ref: { apiVersion: result.object.apiVersion, ...ref },
            reason: 'Conflict',
            message: `${ref.kind} ${ref.namespace ?? ''}/${ref.name} is already placed on this device by ${
              same ? 'another object of this Workload' : `Workload ${winner.namespace}/${winner.workload}`
            }`,
          },
        });
        return;
      }
      taken.set(identity, source);
      const kept = before.get(sourceKey(source) + identity);
      const since = kept && kept.hash === result.hash && kept.since ? kept.since : now;
      // Fields assigned one by one, in the order the Mailbox has always written them: no
      // temporary object per optional field (this runs for every object of every device).
      const entry = { source, hash: result.hash } as MailboxObject;
      if (revision !== undefined) entry.revision = revision;
      entry.since = since;
      const runnable = isRunnable(result.object.kind);
      if (result.rootless) entry.rootless = true;
      if (renderer.profiles && runnable) entry.profiles = renderer.profiles;
      if (result.retry) entry.retry = result.retry;
      if (result.cron) entry.cron = result.cron;
      if (result.uploads) entry.uploads = [...result.uploads];
      if (updateWindow && runnable) entry.updateWindow = updateWindow;
      entry.object = result.object as MailboxObject['object'];
      objects.push({ order, entry });
    });
  }
  const spec: MailboxSpec = {
    objects: objects.sort((a, b) => compare(a.order, b.order)).map((o) => o.entry),
  };
  if (excluded.length > 0)
    spec.excluded = excluded.sort((a, b) => compare(a.order, b.order)).map((o) => o.entry);
  return spec;
}

function refFields(object: { kind: string; metadata: { namespace?: string; name?: string } }): {
  kind: string;
  namespace?: string;
  name: string;
} {
  const ref: { kind: string; namespace?: string; name: string } = {
    kind: object.kind,
    name: object.metadata.name ?? '',
  };
  if (object.metadata.namespace) ref.namespace = object.metadata.namespace;
  return ref;
}

function sourceKey(source: MailboxSource): string {
  return `${source.namespace}\u0000${source.workload}\u0000`;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
