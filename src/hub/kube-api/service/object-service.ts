/**
 * ObjectService: the Kubernetes API's verbs on top of the Store, and their
 * retry loops. The steps of a write are in `write-pipeline.ts` (prepare,
 * prune, validate, admit, insert, replace), `write-merge.ts` (merge, patch,
 * apply, field ownership) and `write-prune.ts`; deletion's in `deletion.ts`;
 * request checks in `request-checks.ts`; store errors become API errors in
 * `store-errors.ts`.
 */
import type { KindDefinition, KindRegistry, KubeObject } from '../../../api/index.ts';
import type {
  Client,
  ClientWatchOptions,
  ClientWriteOptions,
  DeleteOptions,
  ObjectWatch,
  PatchOptions,
  UpdateOptions,
} from '../../../controller/index.ts';
import {
  ConflictError,
  type Store,
  type StoredObject,
  StoreError,
  type WatchEvent,
} from '../../../store/index.ts';
import type { AdmissionCheck } from '../../admission/index.ts';
import { ApiError, errors } from '../errors.ts';
import { decodeContinue, encodeContinue } from './continue-token.ts';
import { Deletion, deleteCollection } from './deletion.ts';
import { KeyedQueue } from './keyed-queue.ts';
import { type ListQuery, objectFilter } from './list-filter.ts';
import { objectKey, parse, selectedPrefix } from './object-meta.ts';
import type { PatchType } from './patching.ts';
import { checkIdentity, pinsRevision } from './request-checks.ts';
import { apiErrorOf, isRace } from './store-errors.ts';
import { applyTo, mergeOwned, patchTo } from './write-merge.ts';
import { WritePipeline } from './write-pipeline.ts';
import { borrowOrCopy } from './write-prune.ts';

/**
 * How the caller wants a write done (query parameters of the request), as a
 * {@link Client} asks (`fieldValidation` on the wire is the client's choice;
 * 'Warn' here by default; `requester` is the authenticated client the write is
 * made for, whom RBAC's escalation check weighs). With `borrowBody`, what the
 * service has to change in a borrowed body (its top level and metadata,
 * unknown fields or nulls to drop, a kind's `normalize`) it copies.
 */
export type WriteOptions = ClientWriteOptions;

export type { DeleteOptions };

/** What a watch follows: a collection, or the one object a `metadata.name=X` field selector names. */
export interface ObjectWatchOptions extends ClientWatchOptions {
  readonly fieldSelector?: string;
}

export interface ListResult {
  readonly items: StoredObject[];
  readonly revision: number;
  readonly continue?: string;
}

export interface ObjectServiceOptions {
  readonly store: Store;
  readonly registry: KindRegistry;
  /** @default () => new Date() */
  readonly now?: () => Date;
  /**
   * Whether a garbage collector runs: only then do Foreground and Orphan
   * deletes add their finalizers (without one they would never be removed).
   * @default false
   */
  readonly garbageCollector?: boolean;
  /** Checks every write passes after validation (see `src/hub/admission/`). @default [] */
  readonly admission?: readonly AdmissionCheck[];
}

/** How many times a write is tried while other writers keep getting in between. */
const MAX_ATTEMPTS = 8;

/**
 * The API's semantics on top of the Store, without HTTP: defaulting,
 * validation, optimistic concurrency, generation, status subresource,
 * managedFields, finalizers and namespaces. Every method either writes
 * exactly what it answers or throws an {@link ApiError} and writes nothing.
 */
export class ObjectService implements Client {
  readonly #store: Store;
  readonly registry: KindRegistry;
  readonly #now: () => Date;
  readonly #writes: WritePipeline;
  readonly #deletion: Deletion;
  readonly #perKey = new KeyedQueue();

  constructor(options: ObjectServiceOptions) {
    this.#store = options.store;
    this.registry = options.registry;
    this.#now = options.now ?? (() => new Date());
    const namespaceKind = options.registry.byKind('v1', 'Namespace');
    if (!namespaceKind) throw new Error('the registry must serve v1 Namespace');
    this.#writes = new WritePipeline({
      store: options.store,
      now: this.#now,
      admission: options.admission ?? [],
      namespaceKind,
    });
    this.#deletion = new Deletion({
      store: options.store,
      registry: options.registry,
      now: this.#now,
      garbageCollector: options.garbageCollector ?? false,
      namespaceKind,
    });
  }

  /** {@link Client.echoOf}: the object of a write in flight made with `echo`, stored as exactly `text`. */
  echoOf(text: string): KubeObject | undefined {
    return this.#writes.echoes.objectOf(text);
  }

  async get(def: KindDefinition, namespace: string | undefined, name: string): Promise<StoredObject> {
    const stored = await this.#store.get(objectKey(def, namespace, name));
    if (!stored) throw errors.notFound(def, name);
    return stored;
  }

  /** The object as stored, or undefined: for callers to whom absence is common, not an error. */
  find(def: KindDefinition, namespace: string | undefined, name: string): Promise<StoredObject | undefined> {
    return this.#store.get(objectKey(def, namespace, name));
  }

  /** The revision of the last committed write: every write up to it has reached every watch. */
  currentRevision(): Promise<number> {
    return this.#store.currentRevision();
  }

  /**
   * Follows the writes of a collection (or of the one object a `metadata.name=X`
   * field selector names) after `afterRevision`, handing each to `sink` once, in
   * revision order, synchronously at commit. {@link Client.watch}'s contract;
   * events carry the value before the write (`prevValue`) when the store still has it.
   * @throws ApiError 410 (Expired) when `afterRevision` has been compacted
   */
  async watch(
    def: KindDefinition,
    namespace: string | undefined,
    options: ObjectWatchOptions,
    sink: (events: readonly WatchEvent[]) => void,
  ): Promise<ObjectWatch> {
    const prefix = selectedPrefix(def, namespace, options.fieldSelector);
    try {
      return await this.#store.watch(
        { prefix, afterRevision: options.afterRevision, signal: options.signal },
        sink,
      );
    } catch (error) {
      throw apiErrorOf(error, def);
    }
  }

  async list(def: KindDefinition, namespace: string | undefined, query: ListQuery): Promise<ListResult> {
    const prefix = selectedPrefix(def, namespace, query.fieldSelector);
    let afterKey: string | undefined;
    let revision = query.revision;
    if (revision !== undefined && revision < (await this.#store.compactedRevision())) {
      throw errors.expired('The resourceVersion for the provided list is too old.');
    }
    if (query.continue) {
      const token = decodeContinue(query.continue);
      afterKey = prefix + token.start;
      revision = token.revision;
      const compacted = await this.#store.compactedRevision();
      if (revision < compacted) {
        throw errors.expired(
          'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.',
        );
      }
    }
    const result = await this.#store.list({
      prefix,
      afterKey,
      revision,
      limit: query.limit,
      filter: objectFilter(def, query),
    });
    const next = result.continueAfter
      ? encodeContinue({ revision: result.revision, start: result.continueAfter.slice(prefix.length) })
      : undefined;
    return next
      ? { items: result.items, revision: result.revision, continue: next }
      : { items: result.items, revision: result.revision };
  }

  /**
   * Creates an object; `namespace` is the one in the URL. `initialStatus` is
   * for the hub's own writers (never taken from a request): the object is
   * stored with that status in the same write, its fields owned as after a
   * status-subresource update by the same manager, as a create followed by
   * a status update would leave it, in one commit instead of two.
   */
  async create(
    def: KindDefinition,
    namespace: string | undefined,
    body: KubeObject,
    options: WriteOptions & { readonly initialStatus?: unknown },
  ): Promise<StoredObject> {
    try {
      const object = await this.#writes.prepareCreate(def, namespace, body, options);
      return await this.#writes.insert(def, object, options, true);
    } catch (error) {
      throw apiErrorOf(error, def);
    }
  }

  /**
   * Replaces an object (`PUT`), or only its status when `subresource` is 'status'.
   * `stored` is for the hub's own writers that read the object from a cache (an informer's
   * entry; frozen is fine): the object as stored at the body's resourceVersion. It stands for
   * the stored text, which is then neither read nor parsed (the store's precondition checks
   * that the revision is still the current one); the service only reads it. Retried when another write got in between, unless the body pins a
   * resourceVersion (then 409).
   */
  async update(
    def: KindDefinition,
    namespace: string | undefined,
    name: string,
    body: KubeObject,
    options: UpdateOptions,
    subresource?: 'status',
  ): Promise<StoredObject> {
    checkIdentity(def, namespace, name, body);
    const requested = body.metadata?.resourceVersion;
    return retrying(
      def,
      name,
      () => this.#updateOnce(def, namespace, name, body, requested, options, subresource),
      // Unconditional: retry on the newer object. Pinned: the precondition failed after all.
      (error) => error instanceof ConflictError && !requested,
    );
  }

  async #updateOnce(
    def: KindDefinition,
    namespace: string | undefined,
    name: string,
    body: KubeObject,
    requested: string | undefined,
    options: UpdateOptions,
    subresource: 'status' | undefined,
  ): Promise<StoredObject> {
    const stored = options.stored;
    if (
      stored &&
      requested !== undefined &&
      requested !== '' &&
      stored.metadata?.resourceVersion === requested &&
      stored.metadata.name === name
    ) {
      return this.#updateCached(def, namespace, name, body, stored, requested, options, subresource);
    }
    const current = await this.get(def, namespace, name);
    const live = parse(current);
    if (requested !== undefined && requested !== '' && requested !== String(current.revision)) {
      throw errors.conflict(def, name);
    }
    if ((requested === undefined || requested === '') && def.group !== '') {
      throw errors.invalid(def, name, [
        {
          reason: 'FieldValueInvalid',
          field: 'metadata.resourceVersion',
          message: 'Invalid value: 0x0: must be specified for an update',
        },
      ]);
    }
    const next = mergeOwned(def, live, borrowOrCopy(body, options), options, subresource, this.#now);
    // The store's check of the revision is the real one: another write may commit first.
    return this.#writes.replace(def, current, live, next, options, true);
  }

  /**
   * An update whose caller holds the object as stored at the body's resourceVersion. A revision
   * names one stored text, so that copy is the text parsed, and the revision is not read first:
   * the store's precondition refuses the write (409, or 404 when gone) unless it is still the
   * current one. Only a write that changes nothing, which the store never sees, reads the
   * current object (to answer with it, or 409 when it moved on).
   */
  async #updateCached(
    def: KindDefinition,
    namespace: string | undefined,
    name: string,
    body: KubeObject,
    stored: KubeObject,
    requested: string,
    options: UpdateOptions,
    subresource: 'status' | undefined,
  ): Promise<StoredObject> {
    const borrowed = { ...options, borrowBody: true };
    const next = mergeOwned(def, stored, borrowOrCopy(body, options), borrowed, subresource, this.#now);
    const head = { key: objectKey(def, namespace, name), revision: Number(requested), value: '' };
    const written = await this.#writes.replace(def, head, stored, next, options, true);
    if (written !== head) return written;
    const current = await this.get(def, namespace, name);
    if (String(current.revision) !== requested) throw errors.conflict(def, name);
    return current;
  }

  /**
   * Patches an object. Server-side apply (`apply`) creates it when missing;
   * the others need it to exist. Retries on conflict unless the patch pins a
   * resourceVersion, as the apiserver does. Patches (and deletes) of one object
   * queue behind each other in this process, so that simultaneous ones all succeed
   * instead of all but one reading a stale revision.
   */
  async patch(
    def: KindDefinition,
    namespace: string | undefined,
    name: string,
    type: PatchType,
    patch: unknown,
    options: PatchOptions,
    subresource?: 'status',
  ): Promise<StoredObject> {
    const key = objectKey(def, namespace, name);
    const retryable = (error: unknown) =>
      isRace(error) ||
      (error instanceof ApiError && error.reason === 'Conflict' && !pinsRevision(patch) && type !== 'apply');
    return this.#perKey.run(key, () =>
      retrying(
        def,
        name,
        () => this.#patchOnce(def, namespace, name, key, type, patch, options, subresource),
        retryable,
      ),
    );
  }

  async #patchOnce(
    def: KindDefinition,
    namespace: string | undefined,
    name: string,
    key: string,
    type: PatchType,
    patch: unknown,
    options: PatchOptions,
    subresource: 'status' | undefined,
  ): Promise<StoredObject> {
    const current = await this.#store.get(key);
    if (!current) {
      if (type !== 'apply' || subresource) throw errors.notFound(def, name);
      return this.#writes.applyCreate(def, namespace, name, patch as KubeObject, options);
    }
    const live = parse(current);
    const next =
      type === 'apply'
        ? applyTo(def, live, patch as KubeObject, options, subresource, this.#now)
        : patchTo(def, live, type, patch, options, subresource, this.#now);
    const pinned = next.metadata.resourceVersion;
    if (pinned && pinned !== String(current.revision)) throw errors.conflict(def, name);
    return this.#writes.replace(def, current, live, next, options);
  }

  /** Deletes an object, or marks it for deletion while finalizers remain. */
  async delete(
    def: KindDefinition,
    namespace: string | undefined,
    name: string,
    options: DeleteOptions,
  ): Promise<StoredObject> {
    return this.#perKey.run(objectKey(def, namespace, name), () =>
      retrying(
        def,
        name,
        async () => {
          const current = await this.get(def, namespace, name);
          return this.#deletion.deleteOnce(def, current, parse(current), options);
        },
        (error) => error instanceof ConflictError,
      ),
    );
  }

  /** Deletes every object of a collection that the query selects; returns the objects as deleted. */
  deleteCollection(
    def: KindDefinition,
    namespace: string | undefined,
    query: ListQuery,
    options: DeleteOptions,
  ): Promise<StoredObject[]> {
    return deleteCollection(this, def, namespace, query, options);
  }
}

/**
 * Runs `attempt` again while `retryable` says another writer got in between, at most
 * {@link MAX_ATTEMPTS} times: a store error retried to the end is a 409 "too many concurrent
 * updates"; any other failure is answered as the API error it means ({@link apiErrorOf}).
 */
async function retrying<T>(
  def: KindDefinition,
  name: string,
  attempt: () => Promise<T>,
  retryable: (error: unknown) => boolean,
): Promise<T> {
  for (let attempts = 1; ; attempts++) {
    try {
      return await attempt();
    } catch (error) {
      if (!retryable(error)) throw apiErrorOf(error, def);
      if (attempts >= MAX_ATTEMPTS)
        throw error instanceof StoreError ? errors.tooManyConflicts(def, name) : error;
    }
  }
}
