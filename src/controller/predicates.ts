import { isDeepStrictEqual } from 'node:util';
import type { KubeObject } from '../api/index.ts';

/**
 * Decides which of an informer's events enqueue keys, as controller-runtime's
 * predicates do: given to {@link Controller.watch}, an event whose predicate
 * answers false enqueues nothing. A missing method passes every event of its
 * type, so `{ delete: () => false }` drops deletions only.
 *
 * Predicates see what the event says and nothing else; they decide whether a
 * reconcile could have anything to do, never what it does (the reconciler
 * still reads the cache). They run inside the informer's event dispatch and
 * must be quick.
 */
export interface Predicate {
  add?(object: KubeObject): boolean;
  /**
   * `old === object` on a periodic resync ({@link isResync}): the built-in
   * predicates pass it, a custom one decides for itself.
   */
  update?(old: KubeObject, object: KubeObject): boolean;
  /** `object` is the last state the informer knew. */
  delete?(object: KubeObject): boolean;
}

/** Whether an update is a periodic resync (the informer passes the same object as old and new). */
export function isResync(old: KubeObject, object: KubeObject): boolean {
  return old === object;
}

/**
 * Passes an update when `changed(old, object)` says so, or when it is a
 * resync; passes adds and deletes. What the built-in predicates are made of.
 */
export function updateWhen(changed: (old: KubeObject, object: KubeObject) => boolean): Predicate {
  return { update: (old, object) => old === object || changed(old, object) };
}

/**
 * Updates that changed `metadata.generation` (the spec, or the start of a
 * deletion), as controller-runtime's `GenerationChangedPredicate`:
 * status-only writes pass no further.
 */
export const generationChanged: Predicate = updateWhen(
  (old, object) => old.metadata.generation !== object.metadata.generation,
);

/** Updates that changed `metadata.labels` (compared by value). */
export const labelsChanged: Predicate = updateWhen(
  (old, object) => !isDeepStrictEqual(old.metadata.labels, object.metadata.labels),
);

/** Updates that changed `metadata.annotations` (compared by value). */
export const annotationsChanged: Predicate = updateWhen(
  (old, object) => !isDeepStrictEqual(old.metadata.annotations, object.metadata.annotations),
);

/**
 * Updates that changed the object's lifecycle: its `uid` (deleted and
 * created again between two lists of the informer) or its
 * `deletionTimestamp` (a deletion began).
 */
export const lifecycleChanged: Predicate = updateWhen(
  (old, object) =>
    old.metadata.uid !== object.metadata.uid ||
    old.metadata.deletionTimestamp !== object.metadata.deletionTimestamp,
);

/** Passes an event when any of `predicates` passes it (none: nothing passes). */
export function anyOf(...predicates: readonly Predicate[]): Required<Predicate> {
  return {
    add: (object) => predicates.some((p) => p.add?.(object) ?? true),
    update: (old, object) => predicates.some((p) => p.update?.(old, object) ?? true),
    delete: (object) => predicates.some((p) => p.delete?.(object) ?? true),
  };
}

/** Passes an event when every one of `predicates` passes it (none: everything passes). */
export function allOf(...predicates: readonly Predicate[]): Required<Predicate> {
  return {
    add: (object) => predicates.every((p) => p.add?.(object) ?? true),
    update: (old, object) => predicates.every((p) => p.update?.(old, object) ?? true),
    delete: (object) => predicates.every((p) => p.delete?.(object) ?? true),
  };
}

/** Passes exactly the events `predicate` drops (a missing method passed everything, so it now passes nothing). */
export function not(predicate: Predicate): Required<Predicate> {
  return {
    add: (object) => !(predicate.add?.(object) ?? true),
    update: (old, object) => !(predicate.update?.(old, object) ?? true),
    delete: (object) => !(predicate.delete?.(object) ?? true),
  };
}
