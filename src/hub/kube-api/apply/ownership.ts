/**
 * Ownership bookkeeping shared by apply and update: which fields are never owned, which are
 * ignored per subresource, and how a non-apply write moves ownership to its manager.
 */
import { type Comparison, compareObjects } from './compare.ts';
import { FieldSet } from './fieldset.ts';
import { type ManagerFields, type ManagerId, managerKey } from './managed-fields.ts';
import { fieldElement } from './path.ts';
import type { SchemaInfo } from './schema-info.ts';
import type { JsonObject } from './shape.ts';

/** Managers by {@link managerKey}. */
export type ManagerIndex = Map<string, ManagerFields>;

/**
 * Fields no manager is recorded as owning (the apiserver's stripMetaManager): identity and
 * server-maintained metadata. Only these paths themselves: `metadata.labels.x` stays owned.
 */
export const UNOWNED_FIELDS = FieldSet.of(
  ['f:apiVersion'],
  ['f:kind'],
  ['f:metadata'],
  ...['name', 'namespace', 'creationTimestamp', 'selfLink', 'uid', 'clusterName', 'generation']
    .concat(['managedFields', 'resourceVersion'])
    .map((f) => ['f:metadata', fieldElement(f)]),
);

/**
 * Fields a write through `subresource` cannot change and that are therefore ignored with all
 * below them: `status` for the main resource, everything but `status` for the status subresource
 * (the apiserver's reset fields for custom resources).
 */
export function ignoredFields(subresource: string | undefined, ...objects: JsonObject[]): FieldSet {
  if (subresource !== 'status') return FieldSet.of(['f:status']);
  const keys = new Set(objects.flatMap((o) => Object.keys(o)));
  keys.delete('status');
  return FieldSet.of(...[...keys].map((k) => [fieldElement(k)]));
}

/** Indexes decoded managers by identity. */
export function indexManagers(managers: Iterable<ManagerFields>): ManagerIndex {
  return new Map([...managers].map((m) => [managerKey(m), m]));
}

/** Every field some manager owns. */
export function ownedByAnyone(managers: ManagerIndex): FieldSet {
  let all = new FieldSet();
  for (const m of managers.values()) all = all.union(m.fields);
  return all;
}

/** Removes `fields` from every manager but `except`, dropping managers left with nothing. */
export function disown(managers: ManagerIndex, fields: FieldSet, except?: string): void {
  for (const [key, m] of managers) {
    if (key === except) continue;
    const rest = m.fields.difference(fields);
    if (rest.isEmpty()) managers.delete(key);
    else if (!rest.equals(m.fields)) managers.set(key, { ...m, fields: rest });
  }
}

/** What a non-apply write records, besides the object itself. */
export interface TrackUpdateOptions {
  readonly manager: string;
  readonly subresource: string | undefined;
  readonly apiVersion: string;
  /** Formatted time for the writer's entry, set only if it gains fields. */
  readonly time: string;
  readonly schema: SchemaInfo;
}

/**
 * Records a non-apply write in `managers` (modified in place), as structured-merge-diff's
 * Update: the fields whose values were added or changed move to the writer's Update entry and
 * leave every other manager; removed fields leave everyone. Returns the comparison used.
 */
export function trackUpdate(
  managers: ManagerIndex,
  before: JsonObject,
  after: JsonObject,
  opts: TrackUpdateOptions,
): Comparison {
  const diff = compareObjects(before, after, opts.schema, ignoredFields(opts.subresource, before, after));
  const id: ManagerId = { manager: opts.manager, operation: 'Update', subresource: opts.subresource };
  const key = managerKey(id);
  const taken = diff.modified.union(diff.added);
  const writer = managers.get(key);
  const owned = writer?.fields;
  if (
    writer &&
    owned &&
    diff.removed.isEmpty() &&
    owned.covers(taken) &&
    !ownedByOthers(managers, key, taken)
  ) {
    // Only fields the writer alone owns changed (a controller rewriting its own object): every set
    // stays as it is, which the steps below would find after copying the writer's set twice.
    if (!taken.isEmpty()) managers.set(key, { ...writer, apiVersion: opts.apiVersion, time: opts.time });
    return diff;
  }
  disown(managers, taken.union(diff.removed));
  const gained = taken.difference(UNOWNED_FIELDS);
  if (gained.isEmpty()) return diff;
  const previous = managers.get(key);
  const fields = previous ? previous.fields.union(gained) : gained;
  managers.set(key, {
    ...id,
    apiVersion: opts.apiVersion,
    time: opts.time,
    // The same set as before when the writer changed only fields it owned: encoded once already.
    fields: owned?.equals(fields) ? owned : fields,
  });
  return diff;
}

/** Whether a manager other than `except` owns any of `fields`. */
function ownedByOthers(managers: ManagerIndex, except: string, fields: FieldSet): boolean {
  for (const [key, m] of managers) if (key !== except && m.fields.intersects(fields)) return true;
  return false;
}

/**
 * `obj` without `metadata.managedFields` (it is never compared or merged). Shallow: the engine
 * never modifies the objects it reads, and copies what it returns.
 */
export function withoutManagedFields(obj: JsonObject): JsonObject {
  const meta = obj.metadata;
  if (meta === null || typeof meta !== 'object' || Array.isArray(meta) || !('managedFields' in meta))
    return obj;
  const { managedFields: _ignored, ...rest } = meta as JsonObject;
  return { ...obj, metadata: rest };
}
