/**
 * Deletion's semantics: preconditions, finalizers that hold an object with a
 * `deletionTimestamp` (the garbage collector's `orphan` and
 * `foregroundDeletion` for those propagation policies, and a Namespace's
 * content finalizer), the one write a delete makes, and deleting a collection.
 */
import type { KindDefinition, KindRegistry, KubeObject } from '../../../api/index.ts';
import type { DeleteOptions } from '../../../controller/index.ts';
import type { Store, StoredObject } from '../../../store/index.ts';
import { ApiError, errors } from '../errors.ts';
import type { ListQuery } from './list-filter.ts';
import { collectionPrefix, objectKey, parse, renderObject, sameContent, timestamp } from './object-meta.ts';

/**
 * The finalizer that holds a deleted Namespace, Terminating, while it has content: the
 * namespace controller deletes the content, then removes it (and so the Namespace goes).
 */
export const NAMESPACE_CONTENT_FINALIZER = 'outpost.dev/namespace-content';

export interface DeletionOptions {
  readonly store: Store;
  readonly registry: KindRegistry;
  readonly now: () => Date;
  /** Foreground and Orphan deletes add their finalizers (a garbage collector removes them). */
  readonly garbageCollector: boolean;
  readonly namespaceKind: KindDefinition;
}

/** One delete's write, given the object as read. */
export class Deletion {
  readonly #store: Store;
  readonly #registry: KindRegistry;
  readonly #now: () => Date;
  readonly #garbageCollector: boolean;
  readonly #namespaceKind: KindDefinition;

  constructor(options: DeletionOptions) {
    this.#store = options.store;
    this.#registry = options.registry;
    this.#now = options.now;
    this.#garbageCollector = options.garbageCollector;
    this.#namespaceKind = options.namespaceKind;
  }

  /**
   * Deletes `live` (read at `current`), or marks it with a deletionTimestamp while finalizers
   * hold it (writing nothing when it is marked already).
   * @throws ApiError 409 when a precondition fails; the store's ConflictError or NotFoundError
   * when another write came first
   */
  async deleteOnce(
    def: KindDefinition,
    current: StoredObject,
    live: KubeObject,
    options: DeleteOptions,
  ): Promise<StoredObject> {
    const name = live.metadata.name!;
    checkPreconditions(def, name, current, live, options);
    const key = objectKey(def, live.metadata.namespace, name);
    const finalizers = [...(live.metadata.finalizers ?? [])];
    if (this.#garbageCollector) {
      if (options.propagationPolicy === 'Orphan' && !finalizers.includes('orphan')) finalizers.push('orphan');
      if (options.propagationPolicy === 'Foreground' && !finalizers.includes('foregroundDeletion')) {
        finalizers.push('foregroundDeletion');
      }
    }
    // A namespace with content is held, Terminating, by a finalizer of its own until the
    // namespace controller (on the leader) has deleted what it holds.
    const namespace = def === this.#namespaceKind;
    if (namespace && !finalizers.includes(NAMESPACE_CONTENT_FINALIZER) && (await this.#hasContent(name))) {
      finalizers.push(NAMESPACE_CONTENT_FINALIZER);
    }
    if (finalizers.length > 0) {
      const next = structuredClone(live);
      next.metadata.deletionTimestamp ??= timestamp(this.#now());
      next.metadata.deletionGracePeriodSeconds ??= 0;
      next.metadata.finalizers = finalizers;
      if (namespace) next.status = { ...(next.status as object), phase: 'Terminating' };
      if (sameContent(live, next)) return current;
      if (options.dryRun) return { key, revision: current.revision, value: JSON.stringify(next) };
      return this.#store.update(key, current.revision, (revision) => renderObject(next, revision));
    }
    if (options.dryRun) return current;
    return this.#store.delete(key, current.revision, (revision) => renderObject(live, revision));
  }

  async #hasContent(namespace: string): Promise<boolean> {
    for (const def of this.#registry.kinds) {
      if (def.namespaced && (await this.#store.count(collectionPrefix(def, namespace))) > 0) return true;
    }
    return false;
  }
}

/** Refuses a delete whose uid or resourceVersion precondition the object does not meet. @throws ApiError 409 */
function checkPreconditions(
  def: KindDefinition,
  name: string,
  current: StoredObject,
  live: KubeObject,
  options: DeleteOptions,
): void {
  const preconditions = options.preconditions;
  if (preconditions?.uid && preconditions.uid !== live.metadata.uid) {
    throw errors.conflict(
      def,
      name,
      `Precondition failed: UID in precondition: ${preconditions.uid}, UID in object meta: ${live.metadata.uid}`,
    );
  }
  if (preconditions?.resourceVersion && preconditions.resourceVersion !== String(current.revision)) {
    throw errors.conflict(
      def,
      name,
      `Precondition failed: ResourceVersion in precondition: ${preconditions.resourceVersion}, ResourceVersion in object meta: ${current.revision}`,
    );
  }
}

/** The verbs `deleteCollection` is made of. */
export interface CollectionVerbs {
  list(
    def: KindDefinition,
    namespace: string | undefined,
    query: ListQuery,
  ): Promise<{ readonly items: readonly StoredObject[] }>;
  delete(
    def: KindDefinition,
    namespace: string | undefined,
    name: string,
    options: DeleteOptions,
  ): Promise<StoredObject>;
}

/**
 * Deletes every object of a collection that the query selects, one delete each (so each gets its
 * finalizers and preconditions), skipping those gone meanwhile; returns the objects as deleted.
 */
export async function deleteCollection(
  verbs: CollectionVerbs,
  def: KindDefinition,
  namespace: string | undefined,
  query: ListQuery,
  options: DeleteOptions,
): Promise<StoredObject[]> {
  const { items } = await verbs.list(def, namespace, { ...query, limit: 0, continue: undefined });
  const deleted: StoredObject[] = [];
  for (const item of items) {
    const object = parse(item);
    try {
      deleted.push(await verbs.delete(def, object.metadata.namespace, object.metadata.name!, options));
    } catch (error) {
      if (!(error instanceof ApiError && error.code === 404)) throw error;
    }
  }
  return deleted;
}
