import type { KindDefinition, KubeObject, OwnerReferenceShape } from '../../api/index.ts';
import type { Controller, Informer, Manager, ReconcileContext } from '../../controller/index.ts';
import { ApiError, objectKey, parse } from '../kube-api/index.ts';

export interface GarbageCollectorOptions {
  /**
   * Objects processed at once (kube-controller-manager's `--concurrent-gc-syncs`): each
   * reconcile mostly waits on a commit, and concurrent ones share a group commit.
   * @default 20
   */
  readonly workers?: number;
}

const FIELD_MANAGER = 'garbage-collector';
const OWNER_INDEX = 'garbage-collector/owner-uid';
const ORPHAN = 'orphan';
const FOREGROUND = 'foregroundDeletion';

/** An object as the collector addresses it: its kind and its place. */
interface Ref {
  readonly def: KindDefinition;
  readonly namespace: string | undefined;
  readonly name: string;
}

/**
 * Adds the garbage collector to a manager: ownerReferences honoured as
 * Kubernetes documents them, across every kind the hub serves.
 *
 * - Background: a dependent whose owners (matched by uid; an owner re-created
 *   under the same name is a different owner) are all gone is deleted.
 * - Foreground: an owner with a deletionTimestamp and the `foregroundDeletion`
 *   finalizer has its dependents deleted; the finalizer is removed (and so the
 *   owner goes) once no dependent with `blockOwnerDeletion` remains.
 * - Orphan: an owner with the `orphan` finalizer has its ownerReference removed
 *   from every dependent, then the finalizer.
 * - A dependent that still has a live owner keeps living; only its references
 *   to owners that are gone or being deleted in the foreground are removed.
 *
 * Queue keys are store keys (`objectKey(def, namespace, name)`), so one queue
 * spans every kind. Decisions that delete or rewrite read the objects live
 * from the store first: the per-kind caches may lag behind each other (a
 * dependent seen before its brand-new owner must not be collected).
 */
export function addGarbageCollector(manager: Manager, options: GarbageCollectorOptions = {}): Controller {
  const service = manager.client;
  const registry = service.registry;
  const informers = new Map<KindDefinition, Informer>();
  const kindsByPrefix = new Map<string, KindDefinition>();
  for (const def of registry.kinds) {
    // A kind stored as another (events.k8s.io Events) has no objects of its own: its storage kind is collected.
    if (def.storedAs) continue;
    const informer = manager.informer(def);
    informer.addIndex(OWNER_INDEX, (object) => (object.metadata.ownerReferences ?? []).map((ref) => ref.uid));
    informers.set(def, informer);
    kindsByPrefix.set(objectKey(def, undefined, ''), def);
  }

  const refOf = (key: string): Ref | undefined => {
    // `/GROUP/PLURAL/[NAMESPACE/]NAME`
    const parts = key.split('/');
    const def = kindsByPrefix.get(`/${parts[1]}/${parts[2]}/`);
    if (!def) return undefined;
    return def.namespaced
      ? { def, namespace: parts[3], name: parts[4] ?? '' }
      : { def, namespace: undefined, name: parts[3] ?? '' };
  };
  const keyOfObject = (def: KindDefinition, object: KubeObject) =>
    objectKey(def, object.metadata.namespace, object.metadata.name ?? '');

  /** Where an owner reference of `dependent` points: undefined when it cannot be resolved. */
  const ownerRefOf = (dependent: Ref, ref: OwnerReferenceShape): Ref | undefined => {
    const def = registry.byKind(ref.apiVersion, ref.kind);
    if (!def) return undefined;
    // A cluster-scoped object cannot be owned by a namespaced one (Kubernetes: unresolvable).
    if (def.namespaced && !dependent.def.namespaced) return undefined;
    return { def, namespace: def.namespaced ? dependent.namespace : undefined, name: ref.name };
  };

  const dependentsOf = (owner: KubeObject): Array<{ def: KindDefinition; object: KubeObject }> => {
    const uid = owner.metadata.uid;
    if (!uid) return [];
    const found: Array<{ def: KindDefinition; object: KubeObject }> = [];
    for (const [def, informer] of informers) {
      for (const object of informer.byIndex(OWNER_INDEX, uid)) found.push({ def, object });
    }
    return found;
  };

  const controller = manager.controller({
    workers: options.workers ?? 20,
    reconciler: { name: 'garbage-collector', reconcile: (key, context) => reconcile(key, context) },
  });

  // What to look at when something changes. Objects with neither owners nor a deletion pending
  // are of no interest, which keeps the queue quiet under the hub's ordinary writes.
  const enqueueIfRelevant = (def: KindDefinition, object: KubeObject) => {
    if (object.metadata.deletionTimestamp || (object.metadata.ownerReferences?.length ?? 0) > 0) {
      controller.enqueue(keyOfObject(def, object));
    }
  };
  /** Owners being deleted wait for this dependent: look at them again. */
  const enqueueDeletingOwners = (def: KindDefinition, object: KubeObject) => {
    const dependent: Ref = { def, namespace: object.metadata.namespace, name: object.metadata.name ?? '' };
    for (const ref of object.metadata.ownerReferences ?? []) {
      const owner = ownerRefOf(dependent, ref);
      if (!owner) continue;
      const cached = informers.get(owner.def)?.get(owner.namespace, owner.name);
      if (cached?.metadata.uid === ref.uid && cached.metadata.deletionTimestamp) {
        controller.enqueue(objectKey(owner.def, owner.namespace, owner.name));
      }
    }
  };
  for (const [def, informer] of informers) {
    controller.reads(informer);
    informer.addEventHandler({
      onAdd: (object) => enqueueIfRelevant(def, object),
      onUpdate: (old, object) => {
        enqueueIfRelevant(def, object);
        if (old !== object) enqueueDeletingOwners(def, old);
      },
      onDelete: (object) => {
        for (const dependent of dependentsOf(object)) {
          controller.enqueue(keyOfObject(dependent.def, dependent.object));
        }
        enqueueDeletingOwners(def, object);
      },
    });
  }

  /** The object as stored now, or undefined. */
  const readLive = async (ref: Ref): Promise<KubeObject | undefined> => {
    const stored = await service.find(ref.def, ref.namespace, ref.name);
    return stored ? parse(stored) : undefined;
  };

  /** Merge-patches metadata, pinned to the revision read so that a concurrent change is a 409 (retried). */
  const patchMetadata = async (ref: Ref, live: KubeObject, metadata: Record<string, unknown>) => {
    await service.patch(
      ref.def,
      ref.namespace,
      ref.name,
      'merge',
      { metadata: { ...metadata, resourceVersion: live.metadata.resourceVersion } },
      { fieldManager: FIELD_MANAGER },
    );
  };

  /** Removes `finalizer` from the object (which may then be deleted); writes nothing when it is gone already. */
  const removeFinalizer = async (
    ref: Ref,
    uid: string | undefined,
    finalizer: string,
    context: ReconcileContext,
  ) => {
    const live = await readLive(ref);
    if (!live || live.metadata.uid !== uid || !live.metadata.finalizers?.includes(finalizer)) return;
    const rest = live.metadata.finalizers.filter((name) => name !== finalizer);
    await patchMetadata(ref, live, { finalizers: rest.length > 0 ? rest : null });
    context.logger.debug({ finalizer }, 'removed finalizer');
  };

  /** Removes the owner references with these uids from a dependent (read live). */
  const removeOwnerReferences = async (ref: Ref, uid: string | undefined, owners: ReadonlySet<string>) => {
    const live = await readLive(ref);
    if (!live || live.metadata.uid !== uid) return;
    const refs = live.metadata.ownerReferences ?? [];
    const kept = refs.filter((owner) => !owners.has(owner.uid));
    if (kept.length === refs.length) return;
    await patchMetadata(ref, live, { ownerReferences: kept.length > 0 ? kept : null });
  };

  const deleteObject = async (
    ref: Ref,
    uid: string | undefined,
    propagationPolicy: 'Background' | 'Foreground' | 'Orphan',
    context: ReconcileContext,
  ) => {
    try {
      await service.delete(ref.def, ref.namespace, ref.name, {
        propagationPolicy,
        ...(uid ? { preconditions: { uid } } : {}),
      });
      context.logger.info({ propagationPolicy }, 'deleted dependent whose owners are gone');
    } catch (error) {
      // Gone already, or re-created under the same name (another object, which its own event brings here).
      if (error instanceof ApiError && (error.code === 404 || error.code === 409)) return;
      throw error;
    }
  };

  /** An owner going with `orphan`: its dependents lose their reference to it, then it goes. */
  const orphanDependents = async (ref: Ref, owner: KubeObject, context: ReconcileContext) => {
    const uid = owner.metadata.uid!;
    for (const dependent of dependentsOf(owner)) {
      await removeOwnerReferences(
        {
          def: dependent.def,
          namespace: dependent.object.metadata.namespace,
          name: dependent.object.metadata.name ?? '',
        },
        dependent.object.metadata.uid,
        new Set([uid]),
      );
    }
    await removeFinalizer(ref, uid, ORPHAN, context);
  };

  /** An owner going in the foreground: dependents go first; it goes once none blocks it. */
  const deleteDependentsFirst = async (ref: Ref, owner: KubeObject, context: ReconcileContext) => {
    const uid = owner.metadata.uid!;
    let blocking = 0;
    for (const dependent of dependentsOf(owner)) {
      // Each dependent sees this owner waiting and is deleted (or loses the reference) in its own reconcile.
      controller.enqueue(keyOfObject(dependent.def, dependent.object));
      const reference = dependent.object.metadata.ownerReferences?.find((candidate) => candidate.uid === uid);
      if (reference?.blockOwnerDeletion) blocking++;
    }
    if (blocking > 0) {
      context.logger.debug({ blocking }, 'waiting for blocking dependents');
      return;
    }
    await removeFinalizer(ref, uid, FOREGROUND, context);
  };

  type OwnerState = 'solid' | 'dangling' | 'waiting';

  /** Whether an owner reference points to a live owner, one that is gone, or one deleting its dependents first. */
  const ownerState = async (
    dependent: Ref,
    reference: OwnerReferenceShape,
    live: boolean,
  ): Promise<OwnerState> => {
    const owner = ownerRefOf(dependent, reference);
    // An owner of a kind not served here cannot be checked: never collect because of it.
    if (!owner) return 'solid';
    let object = informers.get(owner.def)?.get(owner.namespace, owner.name);
    if ((!object || object.metadata.uid !== reference.uid) && live) object = await readLive(owner);
    if (!object || object.metadata.uid !== reference.uid) return 'dangling';
    if (object.metadata.deletionTimestamp && object.metadata.finalizers?.includes(FOREGROUND))
      return 'waiting';
    return 'solid';
  };

  const classify = async (ref: Ref, object: KubeObject, live: boolean) => {
    const states = new Map<string, OwnerState>();
    for (const reference of object.metadata.ownerReferences ?? []) {
      states.set(reference.uid, await ownerState(ref, reference, live));
    }
    return states;
  };

  /** A dependent: collected when no owner is left, loses references to gone owners when one is. */
  const collectIfOrphaned = async (ref: Ref, cached: KubeObject, context: ReconcileContext) => {
    // The usual case, from the caches alone: every owner is there.
    const quick = await classify(ref, cached, false);
    if ([...quick.values()].every((state) => state === 'solid')) return;
    // About to act: decide on the dependent and its owners as stored now.
    const object = await readLive(ref);
    if (!object || object.metadata.uid !== cached.metadata.uid || object.metadata.deletionTimestamp) return;
    const states = await classify(ref, object, true);
    const values = [...states.values()];
    if (values.length === 0) return;
    const uid = object.metadata.uid;
    if (values.includes('solid')) {
      const gone = new Set([...states].filter(([, state]) => state !== 'solid').map(([owner]) => owner));
      if (gone.size > 0) await removeOwnerReferences(ref, uid, gone);
      return;
    }
    if (values.includes('waiting') && dependentsOf(object).length > 0) {
      // Its own dependents must go before it, as its owner waits for it.
      await deleteObject(ref, uid, 'Foreground', context);
      return;
    }
    const finalizers = object.metadata.finalizers ?? [];
    const policy = finalizers.includes(ORPHAN)
      ? 'Orphan'
      : finalizers.includes(FOREGROUND)
        ? 'Foreground'
        : 'Background';
    await deleteObject(ref, uid, policy, context);
  };

  async function reconcile(key: string, context: ReconcileContext): Promise<void> {
    const ref = refOf(key);
    if (!ref) return;
    const object = informers.get(ref.def)?.get(ref.namespace, ref.name);
    // Gone: its dependents were enqueued by its delete event.
    if (!object) return;
    if (object.metadata.deletionTimestamp) {
      const finalizers = object.metadata.finalizers ?? [];
      if (finalizers.includes(ORPHAN)) await orphanDependents(ref, object, context);
      else if (finalizers.includes(FOREGROUND)) await deleteDependentsFirst(ref, object, context);
      // Otherwise it is on its way out; its owners no longer matter.
      return;
    }
    if ((object.metadata.ownerReferences?.length ?? 0) > 0) await collectIfOrphaned(ref, object, context);
  }

  return controller;
}
