import {
  apiVersionOf,
  hasPrunableFields,
  type KindDefinition,
  type KindRegistry,
  type KubeObject,
  pruneUnknownFields,
  validateObject,
} from '../../api/index.ts';
import type {
  Client,
  ClientWatchOptions,
  ClientWriteOptions,
  DeleteOptions,
  ObjectWatch,
} from '../../controller/index.ts';
import {
  ConflictError,
  ExpiredError,
  KeyExistsError,
  NotFoundError,
  type Store,
  type StoredObject,
  type WatchEvent,
} from '../../store/index.ts';
import type { AdmissionCheck } from '../admission/index.ts';
import {
  ApplyConflictError,
  applyConfiguration,
  conflictCauseMessage,
  InvalidApplyConfigError,
  recordUpdate,
} from './apply/index.ts';
import { decodeContinue, encodeContinue } from './continue-token.ts';
import { ApiError, errors } from './errors.ts';
import { KeyedQueue } from './keyed-queue.ts';
import { type ListQuery, objectFilter } from './list-filter.ts';
import {
  collectionPrefix,
  generateName,
  newUid,
  objectKey,
  type PrerenderedObject,
  prerender,
  renderObject,
  sameApartFromSpec,
  sameContent,
  selectedPrefix,
  specChanged,
  timestamp,
} from './object-meta.ts';
import { applyPatch, type PatchType } from './patching.ts';
import { schemaInfoOf } from './schema-info-cache.ts';

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

const MAX_PATCH_ATTEMPTS = 8;

/**
 * The finalizer that holds a deleted Namespace, Terminating, while it has content: the
 * namespace controller deletes the content, then removes it (and so the Namespace goes).
 */
export const NAMESPACE_CONTENT_FINALIZER = 'outpost.dev/namespace-content';

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
  readonly #garbageCollector: boolean;
  readonly #admission: readonly AdmissionCheck[];
  readonly #namespaceKind: KindDefinition;
  readonly #perKey = new KeyedQueue();

  constructor(options: ObjectServiceOptions) {
    this.#store = options.store;
    this.registry = options.registry;
    this.#now = options.now ?? (() => new Date());
    this.#garbageCollector = options.garbageCollector ?? false;
    this.#admission = options.admission ?? [];
    const namespaceKind = options.registry.byKind('v1', 'Namespace');
    if (!namespaceKind) throw new Error('the registry must serve v1 Namespace');
    this.#namespaceKind = namespaceKind;
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
      if (error instanceof ExpiredError) {
        throw errors.expired(`too old resource version: ${error.requested} (${error.compacted})`);
      }
      throw error;
    }
  }

  async list(def: KindDefinition, namespace: string | undefined, query: ListQuery): Promise<ListResult> {
    const prefix = selectedPrefix(def, namespace, query.fieldSelector);
    let afterKey: string | undefined;
    let revision: number | undefined;
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
    const object = this.#ownCopy(def, this.#prepareNew(def, namespace, body, options.borrowBody), options);
    await this.#checkNamespace(def, object.metadata.namespace);
    object.metadata.managedFields = recordUpdate({
      before: undefined,
      after: object,
      managedFields: [],
      manager: options.fieldManager,
      schema: schemaInfoOf(def),
      now: this.#now(),
    }) as unknown[];
    if (options.initialStatus !== undefined && def.statusSubresource) {
      const before = { ...object };
      object.status = structuredClone(options.initialStatus);
      this.#dropUnknownFields(def, object, options);
      object.metadata.managedFields = recordUpdate({
        before,
        after: object,
        managedFields: object.metadata.managedFields as never,
        manager: options.fieldManager,
        subresource: 'status',
        schema: schemaInfoOf(def),
        now: this.#now(),
      }) as unknown[];
    }
    if (object.metadata.managedFields.length === 0) delete object.metadata.managedFields;
    return this.#insert(def, object, options, true);
  }

  /**
   * Replaces an object (`PUT`), or only its status when `subresource` is 'status'.
   * `stored` is for the hub's own writers that read the object from a cache (an informer's
   * entry; frozen is fine): the object as stored at the body's resourceVersion. While that is
   * the current revision it stands for the stored text, which is then not parsed again; the
   * service only reads it.
   */
  async update(
    def: KindDefinition,
    namespace: string | undefined,
    name: string,
    body: KubeObject,
    options: WriteOptions & { readonly stored?: KubeObject },
    subresource?: 'status',
  ): Promise<StoredObject> {
    checkIdentity(def, namespace, name, body);
    const requested = body.metadata?.resourceVersion;
    for (let attempt = 1; ; attempt++) {
      const current = await this.get(def, namespace, name);
      // A revision names one stored text: the caller's copy at it is that text parsed.
      const cached =
        requested !== undefined &&
        requested === String(current.revision) &&
        options.stored?.metadata?.resourceVersion === requested &&
        options.stored.metadata.name === name;
      const live = cached && options.stored ? options.stored : parse(current);
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
      const next = this.#mergeOwned(
        def,
        live,
        this.#borrowOrCopy(body, options),
        cached ? { ...options, borrowBody: true } : options,
        subresource,
      );
      try {
        return await this.#replace(def, current, live, next, options, true);
      } catch (error) {
        // Another write committed between our read and ours (the store's check is the real one).
        if (error instanceof NotFoundError) throw errors.notFound(def, name);
        if (!(error instanceof ConflictError)) throw error;
        // Pinned to a resourceVersion: the precondition failed after all. Unconditional: retry on the newer object.
        if (requested) throw errors.conflict(def, name);
        if (attempt >= MAX_PATCH_ATTEMPTS) throw errors.tooManyConflicts(def, name);
      }
    }
  }

  /**
   * Patches an object. Server-side apply (`apply`) creates it when missing;
   * the others need it to exist. Retries on conflict unless the patch pins a
   * resourceVersion, as the apiserver does.
   */
  async patch(
    def: KindDefinition,
    namespace: string | undefined,
    name: string,
    type: PatchType,
    patch: unknown,
    options: WriteOptions & { force?: boolean },
    subresource?: 'status',
  ): Promise<StoredObject> {
    const key = objectKey(def, namespace, name);
    return this.#perKey.run(key, () =>
      this.#patchQueued(def, namespace, name, key, type, patch, options, subresource),
    );
  }

  async #patchQueued(
    def: KindDefinition,
    namespace: string | undefined,
    name: string,
    key: string,
    type: PatchType,
    patch: unknown,
    options: WriteOptions & { force?: boolean },
    subresource: 'status' | undefined,
  ): Promise<StoredObject> {
    for (let attempt = 1; ; attempt++) {
      const current = await this.#store.get(key);
      try {
        if (!current) {
          if (type !== 'apply' || subresource) throw errors.notFound(def, name);
          return await this.#applyCreate(def, namespace, name, patch as KubeObject, options);
        }
        const live = parse(current);
        const next =
          type === 'apply'
            ? this.#applyTo(def, live, patch as KubeObject, options, subresource)
            : this.#patchTo(def, live, type, patch, options, subresource);
        const pinned = next.metadata.resourceVersion;
        if (pinned && pinned !== String(current.revision)) throw errors.conflict(def, name);
        return await this.#replace(def, current, live, next, options);
      } catch (error) {
        if (error instanceof InvalidApplyConfigError) {
          // The error's message starts with its field (`.metadata.name: ...`); the cause carries them apart.
          const field = error.field.replace(/^\./, '');
          const message =
            error.field && error.message.startsWith(`${error.field}: `)
              ? error.message.slice(error.field.length + 2)
              : error.message;
          throw errors.invalid(def, name, [{ reason: 'FieldValueInvalid', field: field || 'body', message }]);
        }
        const retryable =
          error instanceof ApiError &&
          error.reason === 'Conflict' &&
          !pinsRevision(patch) &&
          type !== 'apply';
        const raced =
          error instanceof ConflictError || error instanceof KeyExistsError || error instanceof NotFoundError;
        if ((retryable || raced) && attempt < MAX_PATCH_ATTEMPTS) continue;
        if (raced) throw errors.tooManyConflicts(def, name);
        throw error;
      }
    }
  }

  /** Deletes an object, or marks it for deletion while finalizers remain. */
  async delete(
    def: KindDefinition,
    namespace: string | undefined,
    name: string,
    options: DeleteOptions,
  ): Promise<StoredObject> {
    return this.#perKey.run(objectKey(def, namespace, name), () =>
      this.#deleteQueued(def, namespace, name, options),
    );
  }

  async #deleteQueued(
    def: KindDefinition,
    namespace: string | undefined,
    name: string,
    options: DeleteOptions,
  ): Promise<StoredObject> {
    for (let attempt = 1; ; attempt++) {
      const current = await this.get(def, namespace, name);
      const live = parse(current);
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
      try {
        return await this.#deleteOnce(def, current, live, options);
      } catch (error) {
        if (error instanceof ConflictError && attempt < MAX_PATCH_ATTEMPTS) continue;
        if (error instanceof ConflictError) throw errors.tooManyConflicts(def, name);
        if (error instanceof NotFoundError) throw errors.notFound(def, name);
        throw error;
      }
    }
  }

  /** Deletes every object of a collection that the query selects; returns the objects as deleted. */
  async deleteCollection(
    def: KindDefinition,
    namespace: string | undefined,
    query: ListQuery,
    options: DeleteOptions,
  ): Promise<StoredObject[]> {
    const { items } = await this.list(def, namespace, { ...query, limit: 0, continue: undefined });
    const deleted: StoredObject[] = [];
    for (const item of items) {
      const object = parse(item);
      try {
        deleted.push(await this.delete(def, object.metadata.namespace, object.metadata.name!, options));
      } catch (error) {
        if (!(error instanceof ApiError && error.code === 404)) throw error;
      }
    }
    return deleted;
  }

  async #deleteOnce(
    def: KindDefinition,
    current: StoredObject,
    live: KubeObject,
    options: DeleteOptions,
  ): Promise<StoredObject> {
    const name = live.metadata.name!;
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
    if (def === this.#namespaceKind && !finalizers.includes(NAMESPACE_CONTENT_FINALIZER)) {
      if (await this.#namespaceHasContent(name)) finalizers.push(NAMESPACE_CONTENT_FINALIZER);
    }
    if (finalizers.length > 0) {
      const next = structuredClone(live);
      next.metadata.deletionTimestamp ??= timestamp(this.#now());
      next.metadata.deletionGracePeriodSeconds ??= 0;
      next.metadata.finalizers = finalizers;
      if (def === this.#namespaceKind) next.status = { ...(next.status as object), phase: 'Terminating' };
      if (sameContent(live, next)) return current;
      if (options.dryRun) return { key, revision: current.revision, value: JSON.stringify(next) };
      return this.#store.update(key, current.revision, (revision) => renderObject(next, revision));
    }
    if (options.dryRun) return current;
    return this.#store.delete(key, current.revision, (revision) => renderObject(live, revision));
  }

  async #namespaceHasContent(namespace: string): Promise<boolean> {
    for (const def of this.registry.kinds) {
      if (def.namespaced && (await this.#store.count(collectionPrefix(def, namespace))) > 0) return true;
    }
    return false;
  }

  /** Fills a new object's server-set fields from the request. */
  #prepareNew(
    def: KindDefinition,
    namespace: string | undefined,
    body: KubeObject,
    borrow = false,
  ): KubeObject {
    const object = this.#borrowOrCopy(body, { borrowBody: borrow });
    checkTypeMeta(def, object);
    object.metadata ??= {};
    const meta = object.metadata;
    if (def.namespaced) {
      if (meta.namespace && namespace && meta.namespace !== namespace) {
        throw errors.badRequest(
          'the namespace of the provided object does not match the namespace sent on the request',
        );
      }
      meta.namespace = namespace ?? meta.namespace;
      if (!meta.namespace) throw errors.badRequest('the namespace of the object must be set');
    } else {
      delete meta.namespace;
    }
    if (!meta.name && meta.generateName) meta.name = generateName(meta.generateName);
    meta.uid = newUid();
    meta.creationTimestamp = timestamp(this.#now());
    meta.generation = 1;
    delete meta.resourceVersion;
    delete meta.deletionTimestamp;
    delete meta.deletionGracePeriodSeconds;
    delete meta.managedFields;
    if (def.statusSubresource && def.group !== '') delete object.status;
    return object;
  }

  async #checkNamespace(def: KindDefinition, namespace: string | undefined): Promise<void> {
    if (!def.namespaced || !namespace) return;
    const stored = await this.#store.get(objectKey(this.#namespaceKind, undefined, namespace));
    if (!stored) throw errors.notFound(this.#namespaceKind, namespace);
    if ((JSON.parse(stored.value) as KubeObject).metadata.deletionTimestamp) {
      throw errors.forbidden(
        `unable to create new content in namespace ${namespace} because it is being terminated`,
      );
    }
  }

  /** `pruned`: the object holds no unknown fields or nulls to drop (they were just dropped). */
  async #insert(
    def: KindDefinition,
    object: KubeObject,
    options: WriteOptions,
    pruned = false,
  ): Promise<StoredObject> {
    this.#validate(def, object, undefined, options, pruned);
    await this.#admit(def, object, undefined, options);
    const name = object.metadata.name!;
    const key = objectKey(def, object.metadata.namespace, name);
    if (options.dryRun) {
      checkSize(object);
      if (await this.#store.get(key)) throw errors.alreadyExists(def, name);
      return { key, revision: 0, value: JSON.stringify(object) };
    }
    const rendered = sizeChecked(prerender(object));
    try {
      return await this.#store.create(key, (revision) => rendered.render(revision));
    } catch (error) {
      if (error instanceof KeyExistsError) throw errors.alreadyExists(def, name);
      throw error;
    }
  }

  /**
   * Writes `next` over `current`, or nothing when nothing changed; removes an object whose last
   * finalizer went. `pruned`: `next` holds no unknown fields or nulls to drop.
   */
  async #replace(
    def: KindDefinition,
    current: StoredObject,
    live: KubeObject,
    next: KubeObject,
    options: WriteOptions,
    pruned = false,
  ): Promise<StoredObject> {
    this.#validate(def, next, live, options, pruned);
    await this.#admit(def, next, live, options);
    if (specChanged(live, next)) next.metadata.generation = (live.metadata.generation ?? 1) + 1;
    else if (sameApartFromSpec(live, next)) return current;
    const key = current.key;
    if (options.dryRun) {
      checkSize(next);
      return { key, revision: current.revision, value: renderObject(next, current.revision) };
    }
    const rendered = sizeChecked(prerender(next));
    if (next.metadata.deletionTimestamp && (next.metadata.finalizers ?? []).length === 0) {
      return this.#store.delete(key, current.revision, (revision) => rendered.render(revision));
    }
    return this.#store.update(key, current.revision, (revision) => rendered.render(revision));
  }

  /** The object after a PUT: server-owned fields kept, spec or status taken from the body. */
  #merge(
    def: KindDefinition,
    live: KubeObject,
    body: KubeObject,
    subresource: 'status' | undefined,
  ): KubeObject {
    checkTypeMeta(def, body);
    if (subresource === 'status') {
      // Its own metadata, which the write sets; the rest is shared with `live`, which nothing
      // modifies (a kind's `normalize` may: those get a deep copy). A deep copy of every Device on
      // every heartbeat was a tenth of the patch's cost.
      const next = def.normalize ? structuredClone(live) : { ...live, metadata: { ...live.metadata } };
      if (body.status === undefined) delete next.status;
      else next.status = body.status;
      return next;
    }
    const next = body;
    next.metadata = {
      ...body.metadata,
      namespace: live.metadata.namespace,
      uid: live.metadata.uid,
      creationTimestamp: live.metadata.creationTimestamp,
      generation: live.metadata.generation,
      resourceVersion: live.metadata.resourceVersion,
    };
    if (!def.namespaced) delete next.metadata.namespace;
    if (live.metadata.deletionTimestamp) {
      next.metadata.deletionTimestamp = live.metadata.deletionTimestamp;
      next.metadata.deletionGracePeriodSeconds = live.metadata.deletionGracePeriodSeconds;
    } else {
      delete next.metadata.deletionTimestamp;
      delete next.metadata.deletionGracePeriodSeconds;
    }
    if (def.statusSubresource) {
      if (live.status === undefined) delete next.status;
      else next.status = live.status;
    }
    return next;
  }

  #patchTo(
    def: KindDefinition,
    live: KubeObject,
    type: Exclude<PatchType, 'apply'>,
    patch: unknown,
    options: WriteOptions,
    subresource: 'status' | undefined,
  ): KubeObject {
    const patched = applyPatch(def, live, type, patch) as KubeObject;
    if (typeof patched !== 'object' || patched === null || Array.isArray(patched)) {
      throw errors.badRequest('the patch must produce an object');
    }
    // A patch may not rename the object or move it to another namespace (the apiserver's checkName).
    checkIdentity(def, live.metadata.namespace, live.metadata.name!, patched);
    const pinned = (patched.metadata as { resourceVersion?: string } | undefined)?.resourceVersion;
    const next = this.#mergeOwned(def, live, patched, options, subresource);
    if (pinned !== live.metadata.resourceVersion) next.metadata.resourceVersion = pinned;
    return next;
  }

  /** The object after an update or patch, without unknown fields, with the writer's field ownership recorded. */
  #mergeOwned(
    def: KindDefinition,
    live: KubeObject,
    body: KubeObject,
    options: WriteOptions,
    subresource: 'status' | undefined,
  ): KubeObject {
    const next = this.#ownCopy(def, this.#merge(def, live, body, subresource), options);
    next.metadata.managedFields = recordUpdate({
      before: live,
      after: next,
      managedFields: (live.metadata.managedFields ?? []) as never,
      manager: options.fieldManager,
      subresource,
      schema: schemaInfoOf(def),
      now: this.#now(),
    }) as unknown[];
    return next;
  }

  #applyTo(
    def: KindDefinition,
    live: KubeObject,
    applied: KubeObject,
    options: WriteOptions & { force?: boolean },
    subresource: 'status' | undefined,
  ): KubeObject {
    checkApplied(def, live.metadata.name!, applied);
    this.#dropUnknownFields(def, applied, options);
    try {
      const result = applyConfiguration({
        live,
        applied,
        manager: options.fieldManager,
        force: options.force ?? false,
        schema: schemaInfoOf(def),
        subresource,
        now: this.#now(),
      });
      const next = this.#merge(def, live, result.object as KubeObject, subresource);
      next.metadata.managedFields = result.managedFields as unknown[];
      return next;
    } catch (error) {
      if (error instanceof ApplyConflictError)
        throw new ApiError(409, 'Conflict', error.message, {
          name: live.metadata.name,
          group: def.group,
          kind: def.plural,
          causes: error.conflicts.map((conflict) => ({
            reason: 'FieldManagerConflict',
            message: conflictCauseMessage(conflict),
            field: conflict.field,
          })),
        });
      throw error;
    }
  }

  async #applyCreate(
    def: KindDefinition,
    namespace: string | undefined,
    name: string,
    applied: KubeObject,
    options: WriteOptions & { force?: boolean },
  ): Promise<StoredObject> {
    checkApplied(def, name, applied);
    this.#dropUnknownFields(def, applied, options);
    const result = applyConfiguration({
      live: undefined,
      applied,
      manager: options.fieldManager,
      force: options.force ?? false,
      schema: schemaInfoOf(def),
      now: this.#now(),
    });
    const object = this.#prepareNew(def, namespace, result.object as KubeObject);
    object.metadata.managedFields = result.managedFields as unknown[];
    await this.#checkNamespace(def, object.metadata.namespace);
    return this.#insert(def, object, options);
  }

  /**
   * The body to work on: with `borrowBody` (and a body that is an object) a copy of its top
   * level and metadata, sharing everything below with the caller's (see {@link #ownCopy}
   * before changing anything there); otherwise a deep copy.
   */
  #borrowOrCopy(body: KubeObject, options: Pick<WriteOptions, 'borrowBody'>): KubeObject {
    if (!options.borrowBody || !isRecord(body)) return structuredClone(body);
    return isRecord(body.metadata) ? { ...body, metadata: { ...body.metadata } } : { ...body };
  }

  /**
   * `object` without unknown fields and nulls, ready to be changed below its top level and
   * metadata: itself when it holds none and its kind has no `normalize` (nothing of a
   * borrowed body is changed then), else, with `borrowBody` (parts of the object are not the
   * service's: the body's, or a cached stored object's status), a deep copy with them
   * dropped, without it the object itself with them dropped (see {@link #dropUnknownFields}).
   */
  #ownCopy(def: KindDefinition, object: KubeObject, options: WriteOptions): KubeObject {
    if (!def.normalize && !hasPrunableFields(def, object)) return object;
    const owned = options.borrowBody ? structuredClone(object) : object;
    this.#dropUnknownFields(def, owned, options);
    return owned;
  }

  /**
   * Removes fields the schema does not know before field ownership is
   * recorded (so managedFields never name them), answering per
   * `fieldValidation`: Strict refuses, Warn warns, Ignore drops silently.
   */
  #dropUnknownFields(def: KindDefinition, object: KubeObject, options: WriteOptions): void {
    const unknownFields = pruneUnknownFields(def, object);
    if (unknownFields.length === 0) return;
    const mode = options.fieldValidation ?? 'Warn';
    if (mode === 'Strict') {
      throw errors.badRequest(
        `${def.kind} in version "${def.version}" cannot be handled as a ${def.kind}: strict decoding error: ${unknownFields
          .map((field) => `unknown field "${field}"`)
          .join(', ')}`,
      );
    }
    if (mode === 'Warn') {
      for (const field of unknownFields) {
        const warning = `unknown field "${field}"`;
        if (!options.warnings?.includes(warning)) options.warnings?.push(warning);
      }
    }
  }

  /** Runs the admission checks that handle `def`; refuses the write with 422 when one objects. */
  async #admit(
    def: KindDefinition,
    object: KubeObject,
    old: KubeObject | undefined,
    options: WriteOptions,
  ): Promise<void> {
    const checks = this.#admission.filter((check) => check.handles(def));
    if (checks.length === 0) return;
    const ns = def.namespaced ? object.metadata.namespace : undefined;
    const stored = ns ? await this.#store.get(objectKey(this.#namespaceKind, undefined, ns)) : undefined;
    const namespace = stored ? parse(stored) : undefined;
    const causes = [];
    for (const check of checks) {
      const result = await check.admit({ def, object, old, namespace, requester: options.requester });
      causes.push(...result.causes);
      for (const warning of result.warnings ?? []) options.warnings?.push(warning);
    }
    if (causes.length > 0) throw errors.invalid(def, object.metadata.name ?? '', causes);
  }

  /** `pruned`: unknown fields and nulls were dropped already (so only what `normalize` adds is left to drop). */
  #validate(
    def: KindDefinition,
    object: KubeObject,
    old: KubeObject | undefined,
    options: WriteOptions,
    pruned = false,
  ): void {
    def.normalize?.(object);
    if (!pruned || def.normalize) this.#dropUnknownFields(def, object, options);
    const { causes } = validateObject(def, object, old, { pruned: true });
    if (causes.length > 0) throw errors.invalid(def, object.metadata.name ?? '', causes);
  }
}

/** Parses a stored object (anything with its JSON text as `value`: a Client's ObjectText, a watch event). */
export function parse(stored: { readonly value: string }): KubeObject {
  return JSON.parse(stored.value) as KubeObject;
}

/**
 * The largest object stored, in bytes of JSON: etcd's default request limit, which the apiserver
 * answers with 413 too. Half the request body limit, so that whatever is stored can be read and
 * PUT back with room for the fields the server adds.
 */
export const MAX_OBJECT_BYTES = 1.5 * 1024 * 1024;

function checkSize(object: KubeObject): void {
  sizeChecked({ bytes: Buffer.byteLength(JSON.stringify(object)) });
}

/** `rendered` if within {@link MAX_OBJECT_BYTES}. @throws ApiError 413 otherwise */
function sizeChecked<T extends Pick<PrerenderedObject, 'bytes'>>(rendered: T): T {
  const bytes = rendered.bytes;
  if (bytes > MAX_OBJECT_BYTES) {
    throw new ApiError(
      413,
      'RequestEntityTooLarge',
      `Request entity too large: the object is ${bytes} bytes, the limit is ${MAX_OBJECT_BYTES}`,
    );
  }
  return rendered;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkTypeMeta(def: KindDefinition, object: KubeObject): void {
  const apiVersion = apiVersionOf(def);
  if (typeof object !== 'object' || object === null || Array.isArray(object)) {
    throw errors.badRequest('the request body must be an object');
  }
  if (object.kind !== undefined && object.kind !== def.kind) {
    throw errors.badRequest(
      `the kind of the object (${String(object.kind)}) does not match the kind served here (${def.kind})`,
    );
  }
  if (object.apiVersion !== undefined && object.apiVersion !== apiVersion) {
    throw errors.badRequest(
      `the API version of the object (${String(object.apiVersion)}) does not match the one served here (${apiVersion})`,
    );
  }
  object.apiVersion = apiVersion;
  object.kind = def.kind;
  if (
    object.metadata !== undefined &&
    (typeof object.metadata !== 'object' || object.metadata === null || Array.isArray(object.metadata))
  ) {
    throw errors.badRequest('metadata must be an object');
  }
  object.metadata ??= {};
  // Keep apiVersion, kind and metadata first in the stored text.
  const { apiVersion: _a, kind: _k, metadata, ...rest } = object;
  for (const key of Object.keys(object)) delete object[key];
  // defineProperty, not Object.assign: a top-level `__proto__` field would otherwise set the
  // object's prototype (and vanish from the stored text while validation still saw through it).
  for (const [key, value] of Object.entries({ apiVersion, kind: def.kind, metadata, ...rest })) {
    Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
  }
}

function checkIdentity(
  def: KindDefinition,
  namespace: string | undefined,
  name: string,
  body: KubeObject,
): void {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw errors.badRequest('the request body must be an object');
  const bodyName = body.metadata?.name;
  if (bodyName !== undefined && bodyName !== name) {
    throw errors.badRequest(
      `the name of the object (${bodyName}) does not match the name on the URL (${name})`,
    );
  }
  const bodyNamespace = body.metadata?.namespace;
  if (def.namespaced && bodyNamespace && namespace && bodyNamespace !== namespace) {
    throw errors.badRequest(
      'the namespace of the provided object does not match the namespace sent on the request',
    );
  }
}

function checkApplied(def: KindDefinition, name: string, applied: KubeObject): void {
  if (typeof applied !== 'object' || applied === null || Array.isArray(applied))
    throw errors.badRequest('the apply configuration must be an object');
  if (!applied.apiVersion || !applied.kind) {
    throw errors.badRequest('apiVersion and kind must be set in an apply configuration');
  }
  if (applied.metadata?.name !== undefined && applied.metadata.name !== name) {
    throw errors.badRequest(
      `the name of the object (${applied.metadata.name}) does not match the name on the URL (${name})`,
    );
  }
  checkTypeMeta(def, { ...applied });
}

function pinsRevision(patch: unknown): boolean {
  const meta = (patch as { metadata?: { resourceVersion?: unknown } } | undefined)?.metadata;
  return typeof meta?.resourceVersion === 'string' && meta.resourceVersion !== '';
}
