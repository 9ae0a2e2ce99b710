/**
 * The server-side-apply engine of the Kubernetes-compatible API: field ownership
 * (`metadata.managedFields` with FieldsV1), apply with conflicts and force, and ownership
 * tracking for ordinary writes, with the semantics of the apiserver's structured-merge-diff.
 * Pure functions over JSON objects: no HTTP, no storage, time passed in.
 *
 * The hub builds a {@link SchemaInfo} per kind once with {@link schemaInfoFrom}, calls
 * {@link applyConfiguration} for `application/apply-patch+yaml` patches and
 * {@link recordUpdate} for every other write, and maps the errors: ApplyConflictError to 409
 * (`conflictCauseMessage` per cause), InvalidApplyConfigError to 422.
 */
export {
  type ApplyOptions,
  type ApplyResult,
  applyConfiguration,
  BEFORE_FIRST_APPLY_MANAGER,
} from './apply.ts';
export {
  type ApplyConflict,
  ApplyConflictError,
  conflictCauseMessage,
  conflictMessage,
  describeManager,
  InvalidApplyConfigError,
  InvalidManagedFieldsError,
} from './errors.ts';
export { FieldSet, type FieldsV1 } from './fieldset.ts';
export {
  ANCIENT_CHANGES_MANAGER,
  decodeManagedFields,
  formatTime,
  MAX_UPDATE_MANAGERS,
  type ManagedFieldsEntry,
  type ManagerFields,
  type ManagerId,
  managedFieldsBase,
} from './managed-fields.ts';
export { type FieldPath, fieldElement, formatPath, keyElement, valueElement } from './path.ts';
export { type RecordCreateOptions, recordCreate } from './record-create.ts';
export { type RecordUpdateOptions, recordUpdate } from './record-update.ts';
export {
  type FieldInfo,
  type ListInfo,
  type ListType,
  type MapInfo,
  objectMetaInfo,
  type SchemaInfo,
  scalarInfo,
  schemaInfoFrom,
  untypedInfo,
} from './schema-info.ts';
export type { JsonObject } from './shape.ts';
