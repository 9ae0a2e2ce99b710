/**
 * The Kubernetes API's semantics on top of the Store, without HTTP: `ObjectService` (get, list,
 * watch, create, update, patch, apply, delete, deletecollection with defaulting, validation,
 * admission, optimistic concurrency, field ownership and finalizers) and the object helpers the
 * routes and the rest of the hub share (keys, parsing, list filters, patch content types).
 */
export { NAMESPACE_CONTENT_FINALIZER } from './deletion.ts';
export { type ListQuery, objectMatcher } from './list-filter.ts';
export { collectionPrefix, objectKey, parse } from './object-meta.ts';
export {
  type DeleteOptions,
  type ListResult,
  ObjectService,
  type ObjectServiceOptions,
  type ObjectWatchOptions,
  type WriteOptions,
} from './object-service.ts';
export { PATCH_CONTENT_TYPES, type PatchType } from './patching.ts';
export { checkNesting, MAX_NESTING_DEPTH } from './request-checks.ts';
