/**
 * The write pipeline every create, update, patch and apply goes through:
 * prepare a new object's server fields, check its namespace, prune, validate,
 * admit, then insert it or replace the live object (writing nothing when
 * nothing changed, deleting an object whose last finalizer went). Store
 * errors are left to the verbs' retry loops (ObjectService), which translate
 * them once.
 */
import { type KindDefinition, type KubeObject, validateObject } from '../../../api/index.ts';
import type { PatchOptions, ClientWriteOptions as WriteOptions } from '../../../controller/index.ts';
import type { Store, StoredObject } from '../../../store/index.ts';
import type { AdmissionCheck } from '../../admission/index.ts';
import { applyConfiguration, InvalidApplyConfigError, recordCreate, recordUpdate } from '../apply/index.ts';
import { errors } from '../errors.ts';
import { NamespaceIndex } from './namespace-index.ts';
import {
  generateName,
  newUid,
  objectKey,
  parse,
  prerender,
  renderObject,
  sameApartFromSpec,
  specChanged,
  timestamp,
} from './object-meta.ts';
import { checkApplied, checkSize, checkTypeMeta, sizeChecked } from './request-checks.ts';
import { schemaInfoOf } from './schema-info-cache.ts';
import { WriteEchoes } from './write-echoes.ts';
import { invalidApplyConfiguration, withoutEmptyManagedFields } from './write-merge.ts';
import { borrowOrCopy, dropUnknownFields, ownCopy } from './write-prune.ts';

export interface WritePipelineOptions {
  readonly store: Store;
  readonly now: () => Date;
  readonly admission: readonly AdmissionCheck[];
  /** The registry's v1 Namespace, whose objects gate creates and admission reads. */
  readonly namespaceKind: KindDefinition;
}

/** The steps of a write, shared by every verb of one ObjectService. */
export class WritePipeline {
  readonly #store: Store;
  readonly #now: () => Date;
  readonly #admission: readonly AdmissionCheck[];
  readonly #namespaceKind: KindDefinition;
  readonly #namespaces: NamespaceIndex;
  /** The objects of writes in flight that asked for an echo (`options.echo`), by their stored text. */
  readonly echoes = new WriteEchoes();

  constructor(options: WritePipelineOptions) {
    this.#store = options.store;
    this.#now = options.now;
    this.#admission = options.admission;
    this.#namespaceKind = options.namespaceKind;
    this.#namespaces = new NamespaceIndex(options.store, options.namespaceKind);
  }

  /**
   * A new object from a create's body, pruned and owned by the writer (and, with
   * `initialStatus`, its status owned as after a status update by the same manager),
   * once its namespace is known to accept it. Not yet validated: {@link insert} does.
   */
  async prepareCreate(
    def: KindDefinition,
    namespace: string | undefined,
    body: KubeObject,
    options: WriteOptions & { readonly initialStatus?: unknown },
  ): Promise<KubeObject> {
    const object = ownCopy(def, this.#prepareNew(def, namespace, body, options.borrowBody), options);
    await this.#checkNamespace(def, object.metadata.namespace);
    // No previous version, no previous owner: the creator's entry is the object's field set.
    object.metadata.managedFields = recordCreate({
      after: object,
      manager: options.fieldManager,
      schema: schemaInfoOf(def),
      now: this.#now(),
    }) as unknown[];
    if (options.initialStatus !== undefined && def.statusSubresource) {
      const before = { ...object };
      object.status = structuredClone(options.initialStatus);
      dropUnknownFields(def, object, options);
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
    withoutEmptyManagedFields(object);
    return object;
  }

  /** Creates the object a server-side apply describes, where none exists. */
  async applyCreate(
    def: KindDefinition,
    namespace: string | undefined,
    name: string,
    applied: KubeObject,
    options: PatchOptions,
  ): Promise<StoredObject> {
    checkApplied(def, name, applied);
    dropUnknownFields(def, applied, options);
    let result: ReturnType<typeof applyConfiguration>;
    try {
      result = applyConfiguration({
        live: undefined,
        applied,
        manager: options.fieldManager,
        force: options.force ?? false,
        schema: schemaInfoOf(def),
        now: this.#now(),
      });
    } catch (error) {
      if (error instanceof InvalidApplyConfigError) throw invalidApplyConfiguration(def, name, error);
      throw error;
    }
    const object = this.#prepareNew(def, namespace, result.object as KubeObject);
    object.metadata.managedFields = result.managedFields as unknown[];
    withoutEmptyManagedFields(object);
    await this.#checkNamespace(def, object.metadata.namespace);
    return this.insert(def, object, options);
  }

  /**
   * Validates, admits and stores a new object. `pruned`: it holds no unknown fields or nulls to
   * drop (they were just dropped). @throws the store's KeyExistsError when the name is taken
   */
  async insert(
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
    if (!options.echo) return this.#store.create(key, (revision) => rendered.render(revision));
    return this.echoes.during(object, (remember) =>
      this.#store.create(key, (revision) => remember(rendered.render(revision))),
    );
  }

  /**
   * Writes `next` over `current`, or nothing when nothing changed; removes an object whose last
   * finalizer went. `pruned`: `next` holds no unknown fields or nulls to drop.
   * @throws the store's ConflictError or NotFoundError when another write came first
   */
  async replace(
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
    if (!options.echo)
      return this.#store.update(key, current.revision, (revision) => rendered.render(revision));
    return this.echoes.during(next, (remember) =>
      this.#store.update(key, current.revision, (revision) => remember(rendered.render(revision))),
    );
  }

  /** Fills a new object's server-set fields from the request. */
  #prepareNew(
    def: KindDefinition,
    namespace: string | undefined,
    body: KubeObject,
    borrow = false,
  ): KubeObject {
    const object = borrowOrCopy(body, { borrowBody: borrow });
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

  /** Refuses content for a namespace that does not exist (404) or is being deleted (403). */
  async #checkNamespace(def: KindDefinition, namespace: string | undefined): Promise<void> {
    if (!def.namespaced || !namespace) return;
    // The common case from memory; what the index does not vouch for is read.
    if (await this.#namespaces.accepts(namespace)) return;
    const stored = await this.#store.get(objectKey(this.#namespaceKind, undefined, namespace));
    if (!stored) throw errors.notFound(this.#namespaceKind, namespace);
    if ((JSON.parse(stored.value) as KubeObject).metadata.deletionTimestamp) {
      throw errors.forbidden(
        `unable to create new content in namespace ${namespace} because it is being terminated`,
      );
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
    if (!pruned || def.normalize) dropUnknownFields(def, object, options);
    const { causes } = validateObject(def, object, old, { pruned: true });
    if (causes.length > 0) throw errors.invalid(def, object.metadata.name ?? '', causes);
  }
}
