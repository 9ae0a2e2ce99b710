/**
 * What an update, a patch or an apply makes of the live object: the server's
 * fields kept, the spec or the status taken from the body (per the status
 * subresource), and the writer's field ownership recorded in managedFields.
 * Pure: nothing here reads or writes the store.
 */
import type { KindDefinition, KubeObject } from '../../../api/index.ts';
import type { PatchOptions, ClientWriteOptions as WriteOptions } from '../../../controller/index.ts';
import {
  ApplyConflictError,
  applyConfiguration,
  conflictCauseMessage,
  InvalidApplyConfigError,
  recordUpdate,
} from '../apply/index.ts';
import { ApiError, errors } from '../errors.ts';
import { applyPatch, type PatchType } from './patching.ts';
import { checkApplied, checkIdentity, checkNesting, checkTypeMeta } from './request-checks.ts';
import { schemaInfoOf } from './schema-info-cache.ts';
import { dropUnknownFields, ownCopy } from './write-prune.ts';

/** The object after a PUT: server-owned fields kept, spec or status taken from the body. */
export function merge(
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

/** The object after an update or patch, without unknown fields, with the writer's field ownership recorded. */
export function mergeOwned(
  def: KindDefinition,
  live: KubeObject,
  body: KubeObject,
  options: WriteOptions,
  subresource: 'status' | undefined,
  now: () => Date,
): KubeObject {
  const next = ownCopy(def, merge(def, live, body, subresource), options);
  next.metadata.managedFields = recordUpdate({
    before: live,
    after: next,
    managedFields: (live.metadata.managedFields ?? []) as never,
    manager: options.fieldManager,
    subresource,
    schema: schemaInfoOf(def),
    now: now(),
  }) as unknown[];
  withoutEmptyManagedFields(next);
  return next;
}

/**
 * Drops a managedFields list with no entry (no field is owned, e.g. an object of only a name),
 * as Kubernetes stores none: an empty list would differ from the create's absent one, so a PUT
 * of the object as read would change it.
 */
export function withoutEmptyManagedFields(object: KubeObject): void {
  if ((object.metadata.managedFields as unknown[] | undefined)?.length === 0)
    delete object.metadata.managedFields;
}

/**
 * The object after a merge, JSON or strategic merge patch; a resourceVersion the patch sets is
 * kept on it as the write's precondition. @throws ApiError 400 when the patch renames the object
 */
export function patchTo(
  def: KindDefinition,
  live: KubeObject,
  type: Exclude<PatchType, 'apply'>,
  patch: unknown,
  options: WriteOptions,
  subresource: 'status' | undefined,
  now: () => Date,
): KubeObject {
  const patched = applyPatch(def, live, type, patch) as KubeObject;
  // A JSON patch may add a deep value at a deep path: the result is measured before any walk.
  checkNesting(patched, 'the patched object');
  if (typeof patched !== 'object' || patched === null || Array.isArray(patched)) {
    throw errors.badRequest('the patch must produce an object');
  }
  // A patch may not rename the object or move it to another namespace (the apiserver's checkName).
  checkIdentity(def, live.metadata.namespace, live.metadata.name!, patched);
  const pinned = (patched.metadata as { resourceVersion?: string } | undefined)?.resourceVersion;
  const next = mergeOwned(def, live, patched, options, subresource, now);
  if (pinned !== live.metadata.resourceVersion) next.metadata.resourceVersion = pinned;
  return next;
}

/**
 * The object after a server-side apply to an existing object, with managedFields as the apply
 * leaves them. @throws ApiError 409 naming the fields other managers own (unless forced), 422
 * for an apply configuration that cannot apply
 */
export function applyTo(
  def: KindDefinition,
  live: KubeObject,
  applied: KubeObject,
  options: PatchOptions,
  subresource: 'status' | undefined,
  now: () => Date,
): KubeObject {
  checkApplied(def, live.metadata.name!, applied);
  dropUnknownFields(def, applied, options);
  try {
    const result = applyConfiguration({
      live,
      applied,
      manager: options.fieldManager,
      force: options.force ?? false,
      schema: schemaInfoOf(def),
      subresource,
      now: now(),
    });
    const next = merge(def, live, result.object as KubeObject, subresource);
    next.metadata.managedFields = result.managedFields as unknown[];
    withoutEmptyManagedFields(next);
    return next;
  } catch (error) {
    if (error instanceof InvalidApplyConfigError)
      throw invalidApplyConfiguration(def, live.metadata.name!, error);
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

/** An apply configuration that cannot apply, as a 422 whose cause names its field. */
export function invalidApplyConfiguration(
  def: KindDefinition,
  name: string,
  error: InvalidApplyConfigError,
): ApiError {
  // The error's message starts with its field (`.metadata.name: ...`); the cause carries them apart.
  const field = error.field.replace(/^\./, '');
  const message =
    error.field && error.message.startsWith(`${error.field}: `)
      ? error.message.slice(error.field.length + 2)
      : error.message;
  return errors.invalid(def, name, [{ reason: 'FieldValueInvalid', field: field || 'body', message }]);
}
