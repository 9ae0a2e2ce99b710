/**
 * Server-side apply: merges a manager's configuration into the live object, decides who owns
 * what, finds conflicts, and removes what the manager stopped applying.
 */
import { isDeepStrictEqual } from 'node:util';
import { compareObjects, excludeFields } from './compare.ts';
import {
  type ApplyConflict,
  ApplyConflictError,
  InvalidApplyConfigError,
  managerIdentifier,
} from './errors.ts';
import { checkMergeable, fieldsOf, splitNulls } from './fields-of.ts';
import type { FieldSet } from './fieldset.ts';
import { fieldsStillAsLastApplied, KUBECTL_MANAGER, syncLastApplied } from './last-applied.ts';
import {
  capUpdateManagers,
  decodeManagedFields,
  encodeManagedFields,
  formatTime,
  type ManagedFieldsEntry,
  type ManagerFields,
  type ManagerId,
  managerKey,
} from './managed-fields.ts';
import { mergeValues, removeFields } from './merge.ts';
import {
  disown,
  ignoredFields,
  indexManagers,
  ownedByAnyone,
  trackUpdate,
  UNOWNED_FIELDS,
  withoutManagedFields,
} from './ownership.ts';
import { formatPath } from './path.ts';
import type { SchemaInfo } from './schema-info.ts';
import { isJsonObject, type JsonObject } from './shape.ts';

/** The manager that owns every field of an object that had no managedFields when first applied. */
export const BEFORE_FIRST_APPLY_MANAGER = 'before-first-apply';

/** Input of {@link applyConfiguration}. */
export interface ApplyOptions {
  /** The stored object, with its managedFields; undefined when the apply creates it. */
  readonly live: JsonObject | undefined;
  /** The manager's configuration: a partial object with apiVersion, kind and metadata.name. */
  readonly applied: unknown;
  /** The `fieldManager` query parameter (required for apply). */
  readonly manager: string;
  /** `force=true`: take conflicting fields from their managers instead of failing. @default false */
  readonly force?: boolean | undefined;
  /** The kind's schema information (`schemaInfoFrom`). */
  readonly schema: SchemaInfo;
  /** The time written into the manager's entry when the apply changes something. */
  readonly now: Date;
  /** `status` to apply through the status subresource. @default undefined (main resource) */
  readonly subresource?: string | undefined;
}

/** Outcome of {@link applyConfiguration}. */
export interface ApplyResult {
  /** The object to store, `metadata.managedFields` set to {@link managedFields} (absent when empty). */
  readonly object: JsonObject;
  readonly managedFields: ManagedFieldsEntry[];
  /** False when neither the object nor its managedFields changed: the caller need not write. */
  readonly changed: boolean;
}

/**
 * Applies `applied` for `manager`, with the semantics of the Kubernetes apiserver:
 * - the configuration is merged into the live object (struct fields and granular maps key by
 *   key, map lists by their keys, sets by value, everything atomic replaced whole); a `null`
 *   asks for a field to be absent;
 * - the manager's Apply entry becomes exactly the fields the configuration sets;
 * - fields the manager applied before but no longer does are removed unless another manager
 *   owns them;
 * - a field whose value changes while another manager owns it is a conflict: the apply fails
 *   with {@link ApplyConflictError}, or with `force` the field changes owner;
 * - fields whose values change leave their other owners' entries; equal values are shared.
 *
 * Identity (apiVersion, kind, metadata.name/namespace) is required and never owned;
 * `metadata.managedFields`, `resourceVersion`, `uid`, `creationTimestamp`, `generation` (and
 * the other server-maintained metadata) and `status` (outside the status subresource) in the
 * configuration are ignored; a `resourceVersion` precondition is the caller's to check.
 * For the `kubectl` manager, conflicts on fields that still hold what client-side apply last
 * applied are not reported, and an existing last-applied-configuration annotation is updated. A live object
 * without managedFields first has all its fields given to `before-first-apply`.
 * Applying the same configuration again returns the same object and managedFields.
 * @throws InvalidApplyConfigError when the configuration cannot be applied.
 * @throws ApplyConflictError on conflicts without `force`.
 * @throws InvalidManagedFieldsError when the live managedFields cannot be decoded.
 */
export function applyConfiguration(opts: ApplyOptions): ApplyResult {
  const { schema, manager } = opts;
  const subresource = opts.subresource || undefined;
  const config = prepareConfig(opts.applied, opts.live, subresource);
  checkMergeable(config, schema);
  const apiVersion = config.apiVersion as string;
  const time = formatTime(opts.now);

  const live = opts.live ? withoutManagedFields(opts.live) : {};
  const liveMeta = opts.live?.metadata;
  const liveEntries = isJsonObject(liveMeta) ? liveMeta.managedFields : undefined;
  const managers = indexManagers(decodeManagedFields(liveEntries));
  if (opts.live && managers.size === 0) {
    const version = typeof live.apiVersion === 'string' ? live.apiVersion : apiVersion;
    trackUpdate(managers, {}, live, {
      manager: BEFORE_FIRST_APPLY_MANAGER,
      subresource: undefined,
      apiVersion: version,
      time,
      schema,
    });
  }

  const { value: cleaned, nulls } = splitNulls(config, schema);
  const applied = fieldsOf(config, schema).difference(UNOWNED_FIELDS);
  let merged = mergeValues(live, cleaned, schema) as JsonObject;
  if (!nulls.isEmpty()) merged = removeFields(merged, schema, nulls) as JsonObject;

  const id: ManagerId = { manager, operation: 'Apply', subresource };
  const key = managerKey(id);
  const previous = managers.get(key);
  managers.set(key, { ...id, apiVersion, time, fields: applied });
  if (previous && !previous.fields.isEmpty()) {
    merged = removeFields(merged, schema, previous.fields, ownedByAnyone(managers)) as JsonObject;
  }

  const diff = excludeFields(compareObjects(live, merged, schema), ignoredFields(subresource, live, merged));
  // Removing a field another manager owns (by applying null) is a change to it, like any other.
  const changedFields = diff.modified.union(diff.added).union(diff.removed.within(nulls));
  let owners: { other: ManagerFields; fields: FieldSet }[] = [];
  for (const [otherKey, other] of managers) {
    const fields = other.fields.intersection(changedFields);
    if (otherKey !== key && !fields.isEmpty()) owners.push({ other, fields });
  }
  let force = opts.force ?? false;
  if (owners.length > 0 && !force && manager === KUBECTL_MANAGER) {
    // kubectl moving from client-side to server-side apply takes over what it applied before.
    const allowed = fieldsStillAsLastApplied(live, schema);
    if (allowed) {
      owners = owners
        .map((o) => ({ ...o, fields: o.fields.difference(allowed) }))
        .filter((o) => !o.fields.isEmpty());
      force = owners.length === 0;
    }
  }
  if (owners.length > 0 && !force) throw new ApplyConflictError(conflictsOf(owners));
  disown(managers, changedFields.union(diff.removed), key);

  const objectChanged = !isDeepStrictEqual(live, merged);
  if (applied.isEmpty()) managers.delete(key);
  else if (
    previous &&
    !objectChanged &&
    previous.fields.equals(applied) &&
    previous.apiVersion === apiVersion
  ) {
    // Nothing changed for this manager: keep its time so a repeated apply is a no-op.
    managers.set(key, previous);
  }

  const managedFields = encodeManagedFields(capUpdateManagers([...managers.values()]));
  if (manager === KUBECTL_MANAGER) merged = syncLastApplied(live, merged, opts.applied as JsonObject);
  const object = withManagedFields(merged, managedFields);
  const changed = !isDeepStrictEqual(live, merged) || !isDeepStrictEqual(liveEntries ?? [], managedFields);
  return { object, managedFields, changed };
}

/** Metadata the apiserver maintains itself; an apply configuration cannot set it. */
const SERVER_METADATA = [
  'managedFields',
  'resourceVersion',
  'uid',
  'creationTimestamp',
  'generation',
  'selfLink',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
];

/** A private copy of the configuration with identity checked and ignored parts removed. */
function prepareConfig(
  applied: unknown,
  live: JsonObject | undefined,
  subresource: string | undefined,
): JsonObject {
  if (!isJsonObject(applied))
    throw new InvalidApplyConfigError('', 'the apply configuration must be an object');
  for (const field of ['apiVersion', 'kind'] as const) {
    if (typeof applied[field] !== 'string' || applied[field] === '') {
      throw new InvalidApplyConfigError(`.${field}`, `Required value: ${field} must be set`);
    }
  }
  const meta = applied.metadata;
  if (!isJsonObject(meta) || typeof meta.name !== 'string' || meta.name === '') {
    throw new InvalidApplyConfigError('.metadata.name', 'Required value: name is required');
  }
  if (live) {
    const liveMeta = isJsonObject(live.metadata) ? live.metadata : {};
    for (const field of ['name', 'namespace'] as const) {
      const want = liveMeta[field];
      const got = meta[field];
      if (got !== undefined && want !== undefined && got !== want) {
        throw new InvalidApplyConfigError(
          `.metadata.${field}`,
          `Invalid value: ${JSON.stringify(got)}: does not match the object's ${field} ${JSON.stringify(want)}`,
        );
      }
    }
    if (typeof live.kind === 'string' && live.kind !== applied.kind) {
      throw new InvalidApplyConfigError(
        '.kind',
        `Invalid value: ${JSON.stringify(applied.kind)}: does not match the object's kind ${JSON.stringify(live.kind)}`,
      );
    }
  }
  // Shallow copies are enough: nothing below is modified, and the result is copied at the end.
  const configMeta: JsonObject = { ...meta };
  for (const field of SERVER_METADATA) delete configMeta[field];
  const config: JsonObject = { ...applied, metadata: configMeta };
  if (subresource !== 'status') {
    delete config.status;
    return config;
  }
  const identity: JsonObject = { name: configMeta.name };
  if (configMeta.namespace !== undefined) identity.namespace = configMeta.namespace;
  const statusOnly: JsonObject = { apiVersion: config.apiVersion, kind: config.kind, metadata: identity };
  if (config.status !== undefined) statusOnly.status = config.status;
  return statusOnly;
}

/** Conflicts sorted by manager identifier; within one manager, fields keep the FieldSet order. */
function conflictsOf(owners: { other: ManagerFields; fields: FieldSet }[]): ApplyConflict[] {
  const conflicts = owners.flatMap(({ other, fields }) =>
    fields.paths().map(
      (path): ApplyConflict => ({
        manager: other.manager,
        operation: other.operation,
        apiVersion: other.apiVersion,
        subresource: other.subresource,
        field: formatPath(path),
      }),
    ),
  );
  return conflicts
    .map((c, i) => ({ c, i, id: managerIdentifier(c) }))
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : a.i - b.i))
    .map(({ c }) => c);
}

function withManagedFields(obj: JsonObject, managedFields: ManagedFieldsEntry[]): JsonObject {
  const object = structuredClone(obj);
  const meta: JsonObject = isJsonObject(object.metadata) ? object.metadata : {};
  if (managedFields.length > 0) meta.managedFields = structuredClone(managedFields);
  else delete meta.managedFields;
  object.metadata = meta;
  return object;
}
