/**
 * Field ownership for writes that are not applies: create, update and merge / JSON / strategic
 * patches. The write itself is done by the caller; this only says who owns what afterwards.
 */
import {
  capUpdateManagers,
  decodeManagedFields,
  encodeManagedFields,
  formatTime,
  type ManagedFieldsEntry,
} from './managed-fields.ts';
import { indexManagers, trackUpdate, withoutManagedFields } from './ownership.ts';
import type { SchemaInfo } from './schema-info.ts';
import type { JsonObject } from './shape.ts';

/** Input of {@link recordUpdate}. */
export interface RecordUpdateOptions {
  /** The object before the write; undefined for a create. */
  readonly before: JsonObject | undefined;
  /** The object as it will be stored (its own managedFields are ignored). */
  readonly after: JsonObject;
  /**
   * The managedFields the write starts from: normally the live object's; see
   * `managedFieldsBase` for when a client's own list replaces or resets them.
   */
  readonly managedFields: readonly ManagedFieldsEntry[] | undefined;
  /** The writer's field manager (`fieldManager` query, or derived from the user agent). */
  readonly manager: string;
  /** Always `Update`; present so call sites read like the entries they produce. @default 'Update' */
  readonly operation?: 'Update';
  /** `status` for a write through the status subresource. @default undefined (main resource) */
  readonly subresource?: string | undefined;
  /** The kind's schema information (`schemaInfoFrom`). */
  readonly schema: SchemaInfo;
  /** The time written into the writer's entry when it gains fields. */
  readonly now: Date;
}

/**
 * The managedFields after a non-apply write: fields whose values were added or changed are now
 * owned by `manager` (one Update entry per manager and subresource, merged with its earlier
 * one) and by no one else; removed fields are owned by no one; entries left empty are dropped;
 * at most ten Update entries remain (older ones merge into `ancient-changes`). Changes to
 * `status` are ignored for the main resource and all but `status` for the status subresource.
 * A write that changes nothing returns the entries unchanged.
 * @throws InvalidManagedFieldsError when `managedFields` cannot be decoded.
 */
export function recordUpdate(opts: RecordUpdateOptions): ManagedFieldsEntry[] {
  const managers = indexManagers(decodeManagedFields(opts.managedFields));
  const before = opts.before ? withoutManagedFields(opts.before) : {};
  const after = withoutManagedFields(opts.after);
  trackUpdate(managers, before, after, {
    manager: opts.manager,
    subresource: opts.subresource || undefined,
    apiVersion: typeof after.apiVersion === 'string' ? after.apiVersion : '',
    time: formatTime(opts.now),
    schema: opts.schema,
  });
  return encodeManagedFields(capUpdateManagers([...managers.values()]));
}
