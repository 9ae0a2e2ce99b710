/**
 * The Kubernetes-compatible REST API: discovery, OpenAPI, and every kind's
 * resource URLs on top of the Store, so that kubectl works unchanged.
 */

export { NAMESPACE_CONTENT_FINALIZER } from './deletion.ts';
export { registerDiscovery } from './discovery.ts';
export { ApiError, errors, type Status } from './errors.ts';
export { collectionPrefix, objectKey, parse } from './object-meta.ts';
export { ObjectService, type ObjectServiceOptions } from './object-service.ts';
export { registerOpenApi } from './openapi.ts';
export { queryBool } from './parse-bool.ts';
export { applyJsonPatch, PatchError } from './patch/index.ts';
export { decodeObjectBody, registerResourceRoutes } from './resource-routes.ts';
export type { WatchStreamOptions } from './watch.ts';
