import type {
  Device,
  KindDefinition,
  KubeObject,
  Mailbox,
  OwnerReferenceShape,
  Placement,
  PlacementRevision,
  RolloutSpec,
} from '../../../api/index.ts';
import type { Client, Counter, Informer, Reconciler } from '../../../controller/index.ts';
import { ApiError } from '../../kube-api/index.ts';
import { kindOf, timestamp } from '../support.ts';
import { DeviceBounds } from './boundaries.ts';
import { composeMailbox, type MailboxSpec, type PlacedWorkload, precedenceKey } from './compose.ts';
import {
  type BatchDevice,
  type BatchPlan,
  planBatches,
  revisionOfDevice,
  rolloutSpecOf,
  rolloutStatusOf,
  updateWindowOf,
  workloadAt,
} from './rollout-plan.ts';
import { selects, selectsWorkload } from './selection.ts';
import { type PlacementCaches, parametersSignature, type RenderStamps, specVersion } from './state.ts';

/** The caches the placement reconcilers read. */
export interface PlacementInformers {
  readonly devices: Informer;
  readonly workloads: Informer;
  readonly placements: Informer;
  readonly mailboxes: Informer;
  /** DeviceBoundaries, indexed by the namespaces they bound (`BOUNDED_NAMESPACE_INDEX`). */
  readonly boundaries: Informer;
}

/** The informer index of Workloads and Placements by namespace. */
export const NAMESPACE_INDEX = 'placement:namespace';

export interface MailboxReconcilerOptions {
  readonly service: Client;
  readonly informers: PlacementInformers;
  readonly caches: PlacementCaches;
  /** Wall-clock time for `since` stamps. */
  readonly now: () => Date;
  /** Called after a device's Mailbox is known to be up to date (written or unchanged). */
  readonly onRendered?: (device: string, stamps: RenderStamps, previous: RenderStamps | undefined) => void;
  /** Counts writes by `operation` (create, update, delete). */
  readonly writes?: Counter;
  /** Which devices each namespace may place on. @default the DeviceBoundaries, none required */
  readonly bounds?: DeviceBounds;
}

/** The field manager of every write the placement controllers make. */
export const FIELD_MANAGER = 'outpost-placement';

/**
 * The Mailbox reconciler, keyed by device name: makes the device's Mailbox
 * (cluster-scoped, same name, owned by the Device) hold exactly the
 * customised objects of every Workload placed on the device, and nothing
 * else. Every matched device gets a Mailbox, empty when nothing is placed on
 * it, so that its agent always has something to watch. A Device that is gone
 * or being deleted loses its Mailbox (deleted here; the garbage collector
 * would do the same through the ownerReference).
 *
 * Reads only caches; writes only when the composed spec differs from the
 * cached Mailbox, as an update carrying the cached resourceVersion (a 409
 * throws and the key is retried with backoff).
 */
export function createMailboxReconciler(options: MailboxReconcilerOptions): Reconciler {
  const { service, informers, caches } = options;
  const bounds = options.bounds ?? new DeviceBounds(informers.boundaries);
  const mailboxKind = kindOf(service, 'Mailbox');
  return {
    name: 'mailbox',
    async reconcile(name, context) {
      const device = informers.devices.get(undefined, name);
      const existing = informers.mailboxes.get(undefined, name);
      if (!device || device.metadata.deletionTimestamp) {
        caches.forgetStamps(name);
        if (existing && !existing.metadata.deletionTimestamp) {
          await deleteMailbox(service, mailboxKind, existing);
          options.writes?.inc({ operation: 'delete' });
          context.logger.debug('mailbox of a removed device deleted');
        }
        return;
      }
      // Being deleted (finalizers): its deletion event brings the key back.
      if (existing?.metadata.deletionTimestamp) return;
      const owner: OwnerReferenceShape = {
        apiVersion: device.apiVersion,
        kind: 'Device',
        name,
        uid: device.metadata.uid ?? '',
        controller: true,
        blockOwnerDeletion: true,
      };
      if (existing && ownedByAnotherDevice(existing, owner.uid)) {
        // Left by an earlier Device of the same name: its status is about another machine.
        await deleteMailbox(service, mailboxKind, existing);
        options.writes?.inc({ operation: 'delete' });
        return;
      }
      const { placed, stamps } = placedOn(device, informers, caches, bounds);
      const owners = [owner];
      const previous = caches.stampsOf(name);
      // Rendered from exactly these inputs into exactly this Mailbox before: nothing to compose.
      if (
        existing &&
        previous !== undefined &&
        previous.mailbox === existing.metadata.resourceVersion &&
        sameInputs(previous, stamps) &&
        sameOwners(existing, owners)
      ) {
        return;
      }
      const spec = composeMailbox(
        { name, labels: device.metadata.labels, annotations: device.metadata.annotations },
        placed,
        (existing?.spec as Mailbox['spec']) ?? undefined,
        timestamp(options.now()),
      );
      const profiles = (device.spec as Device['spec'])?.profiles;
      if (profiles?.length) spec.profiles = profiles;
      if (existing && sameSpec(existing.spec as Mailbox['spec'], spec) && sameOwners(existing, owners)) {
        const rendered = { ...stamps, mailbox: existing.metadata.resourceVersion ?? '0' };
        caches.setStamps(name, rendered);
        options.onRendered?.(name, rendered, previous);
        return;
      }
      let revision: number;
      if (existing) {
        const body: KubeObject = {
          ...existing,
          metadata: { ...existing.metadata, ownerReferences: owners },
          spec,
        };
        // Borrowed: the body holds frozen cache entries and shared renders, which the service only
        // reads; the cached Mailbox spares it parsing the stored one again. Echoed: the informer
        // caches the object written rather than parsing its watch event (nothing here changes it).
        const written = await service.update(mailboxKind, undefined, name, body, {
          fieldManager: FIELD_MANAGER,
          borrowBody: true,
          echo: true,
          stored: existing,
        });
        revision = written.revision;
        options.writes?.inc({ operation: 'update' });
      } else {
        const body: KubeObject = {
          apiVersion: 'outpost.dev/v1alpha1',
          kind: 'Mailbox',
          metadata: { name, ownerReferences: owners },
          spec,
        };
        const written = await service.create(mailboxKind, undefined, body, {
          fieldManager: FIELD_MANAGER,
          borrowBody: true,
          echo: true,
        });
        revision = written.revision;
        options.writes?.inc({ operation: 'create' });
      }
      const rendered = { ...stamps, mailbox: String(revision) };
      caches.setStamps(name, rendered);
      options.onRendered?.(name, rendered, previous);
    },
  };
}

/**
 * The Workloads placed on a device: every Placement whose deviceSelector
 * matches it and whose namespace's bounds allow it (oldest first), every
 * Workload of its namespace it selects; a
 * Workload selected by several such Placements is placed once, by the oldest
 * (its customisation applies). Also the inputs this depends on.
 */
export function placedOn(
  device: KubeObject,
  informers: PlacementInformers,
  caches: PlacementCaches,
  bounds: DeviceBounds,
): { placed: PlacedWorkload[]; stamps: RenderStamps } {
  const labels = device.metadata.labels;
  const placementVersions = new Map<string, string>();
  const workloadVersions = new Map<string, string>();
  const placements = informers.placements
    .list()
    .filter(
      (p) =>
        !p.metadata.deletionTimestamp &&
        selects(specOf(p).deviceSelector, labels) &&
        bounds.allows(p.metadata.namespace!, labels),
    )
    .sort(byAge);
  const placed: PlacedWorkload[] = [];
  const seen = new Set<string>();
  const revisions = new Map<string, number>();
  for (const placement of placements) {
    const namespace = placement.metadata.namespace!;
    placementVersions.set(`${namespace}/${placement.metadata.name}`, specVersion(placement)!);
    const workloads = informers.workloads.byIndex(NAMESPACE_INDEX, namespace).sort(byName);
    const held = heldRevision(placement, device, caches, bounds);
    if (held) {
      // Rolled out by revisions: the objects of the revision the device's batch holds, whatever the
      // Workloads say now. The live ones it selects are inputs all the same (a new revision follows).
      const updateWindow = updateWindowOf(placement, device);
      // The window is an input as well (the rollout's phase decides it): part of the stamp's key.
      revisions.set(`${namespace}/${placement.metadata.name}${updateWindow ? '|window' : ''}`, held.revision);
      for (const workload of workloads) {
        if (workload.metadata.deletionTimestamp) continue;
        const shape = { name: workload.metadata.name!, labels: workload.metadata.labels };
        if (!selectsWorkload(specOf(placement).workloadSelector, shape)) continue;
        workloadVersions.set(`${namespace}/${shape.name}`, specVersion(workload)!);
      }
      for (const entry of held.workloads) {
        const key = `${namespace}/${entry.name}`;
        if (seen.has(key)) continue;
        seen.add(key);
        const workload = workloadAt(placement, entry);
        placed.push({
          source: { namespace, workload: entry.name, placement: placement.metadata.name! },
          precedence: precedenceKey(workload),
          renderer: caches.revisionRenderer(placement, held.revision, workload),
          revision: held.revision,
          ...(updateWindow ? { updateWindow } : {}),
        });
      }
      continue;
    }
    for (const workload of workloads) {
      const workloadName = workload.metadata.name!;
      if (workload.metadata.deletionTimestamp) continue;
      if (
        !selectsWorkload(specOf(placement).workloadSelector, {
          name: workloadName,
          labels: workload.metadata.labels,
        })
      )
        continue;
      const key = `${namespace}/${workloadName}`;
      if (seen.has(key)) continue;
      seen.add(key);
      workloadVersions.set(key, specVersion(workload)!);
      placed.push({
        source: { namespace, workload: workloadName, placement: placement.metadata.name! },
        precedence: precedenceKey(workload),
        renderer: caches.renderer(placement, workload),
      });
    }
  }
  return {
    placed,
    stamps: {
      device: parametersSignature(device),
      placements: placementVersions,
      workloads: workloadVersions,
      ...(revisions.size > 0 ? { revisions } : {}),
    },
  };
}

/**
 * The revision a device's batch holds for a Placement that rolls out by
 * revisions (it has `spec.rollout` and its rollout controller recorded a
 * revision); undefined for the others, whose devices get the Workloads as
 * they are.
 */
function heldRevision(
  placement: KubeObject,
  device: KubeObject,
  caches: PlacementCaches,
  bounds: DeviceBounds,
): PlacementRevision | undefined {
  const rollout = rolloutSpecOf(placement);
  const status = rolloutStatusOf(placement);
  if (!rollout || !status) return undefined;
  const plan = batchPlanOf(placement, rollout, caches, bounds);
  const number = revisionOfDevice(status, plan, device.metadata.name!);
  return status.revisions.find((r) => r.revision === number);
}

/** A Placement's batch plan over the devices it matches now (memoised, see `PlacementCaches.batchPlan`). */
export function batchPlanOf(
  placement: KubeObject,
  rollout: RolloutSpec,
  caches: PlacementCaches,
  bounds: DeviceBounds,
): BatchPlan {
  return caches.batchPlan(placement, bounds.version(placement.metadata.namespace!), () =>
    planBatches(rollout, matchedDevices(placement, caches, bounds)),
  );
}

/** The devices a Placement places on, with their labels, from the device label index. */
export function matchedDevices(
  placement: KubeObject,
  caches: PlacementCaches,
  bounds: DeviceBounds,
): BatchDevice[] {
  const namespace = placement.metadata.namespace!;
  const devices: BatchDevice[] = [];
  for (const name of caches.devices.selectCached(specOf(placement).deviceSelector)) {
    const labels = caches.devices.labelsOf(name);
    if (bounds.allows(namespace, labels)) devices.push({ name, labels });
  }
  return devices;
}

async function deleteMailbox(service: Client, kind: KindDefinition, mailbox: KubeObject): Promise<void> {
  try {
    await service.delete(kind, undefined, mailbox.metadata.name!, {
      preconditions: { uid: mailbox.metadata.uid },
      propagationPolicy: 'Background',
    });
  } catch (error) {
    // Already gone is done; a uid mismatch (409) throws: the cache is behind, retry on a fresh read.
    if (!(error instanceof ApiError && error.code === 404)) throw error;
  }
}

/**
 * Whether the stored spec is the desired one. Entries are compared by
 * source, hash and since first (a change of content changes a hash, so a
 * fan-out usually answers here); only when they all agree is the JSON text
 * compared, for exactness. The stored spec is what this reconciler wrote, in
 * the same key order (were it ever different, the update that follows would
 * find the content unchanged and write nothing).
 */
function sameSpec(stored: Mailbox['spec'] | undefined, desired: MailboxSpec): boolean {
  const before = stored?.objects ?? [];
  if (before.length !== desired.objects.length) return false;
  for (let i = 0; i < before.length; i++) {
    const a = before[i]!;
    const b = desired.objects[i]!;
    if (a.hash !== b.hash || a.since !== b.since || a.source.workload !== b.source.workload) return false;
    if (a.source.namespace !== b.source.namespace || a.source.placement !== b.source.placement) return false;
  }
  return JSON.stringify(stored) === JSON.stringify(desired);
}

/** Whether two sets of render inputs are the same (the Mailbox revision aside). */
function sameInputs(a: RenderStamps, b: RenderStamps): boolean {
  return (
    a.device === b.device &&
    sameVersions(a.placements, b.placements) &&
    sameVersions(a.workloads, b.workloads) &&
    sameVersions(a.revisions ?? NONE, b.revisions ?? NONE)
  );
}

const NONE: ReadonlyMap<string, number> = new Map();

function sameVersions<T>(a: ReadonlyMap<string, T>, b: ReadonlyMap<string, T>): boolean {
  if (a.size !== b.size) return false;
  for (const [key, value] of b) if (a.get(key) !== value) return false;
  return true;
}

function ownedByAnotherDevice(mailbox: KubeObject, uid: string): boolean {
  const owners = (mailbox.metadata.ownerReferences ?? []).filter((ref) => ref.kind === 'Device');
  return owners.length > 0 && !owners.some((ref) => ref.uid === uid);
}

/** Whether the Mailbox has exactly these owner references (flat records of strings and booleans). */
function sameOwners(mailbox: KubeObject, owners: OwnerReferenceShape[]): boolean {
  const current: readonly object[] = mailbox.metadata.ownerReferences ?? [];
  return current.length === owners.length && owners.every((owner, i) => sameRecord(current[i]!, owner));
}

function sameRecord(a: object, b: object): boolean {
  const keys = Object.keys(b);
  if (Object.keys(a).length !== keys.length) return false;
  const left = a as Record<string, unknown>;
  const right = b as Record<string, unknown>;
  for (const key of keys) if (!Object.hasOwn(left, key) || left[key] !== right[key]) return false;
  return true;
}

function specOf(object: KubeObject): Partial<Placement['spec']> {
  return (object.spec ?? {}) as Partial<Placement['spec']>;
}

function byAge(a: KubeObject, b: KubeObject): number {
  const ka = precedenceKey(a);
  const kb = precedenceKey(b);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

function byName(a: KubeObject, b: KubeObject): number {
  const na = a.metadata.name ?? '';
  const nb = b.metadata.name ?? '';
  return na < nb ? -1 : na > nb ? 1 : 0;
}
