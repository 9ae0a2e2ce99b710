/**
 * The Kubernetes-compatible REST API: discovery, OpenAPI, and every kind's
 * resource URLs on top of the Store, so that kubectl works unchanged.
 */
export { registerDiscovery } from './discovery.ts';
export { ApiError, errors, type Status } from './errors.ts';
export { collectionPrefix, objectKey } from './object-meta.ts';
export {
  NAMESPACE_CONTENT_FINALIZER,
  ObjectService,
  type ObjectServiceOptions,
  parse,
} from './object-service.ts';
export { registerOpenApi } from './openapi.ts';
export { applyJsonPatch, PatchError } from './patch/index.ts';
export { decodeObjectBody, registerResourceRoutes } from './resource-routes.ts';
export type { WatchStreamOptions } from './watch.ts';
