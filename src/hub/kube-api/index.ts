/**
 * The Kubernetes-compatible REST API, so that kubectl and the official clients work unchanged:
 * `service/` (ObjectService, the API's semantics on the Store), `http/` (the resource URLs, the
 * shared fastify plugins), `discovery/` and `openapi/` (the documents clients read first),
 * `protobuf/` (protobuf request bodies), `patch/` (merge, JSON and strategic merge patch),
 * `apply/` (server-side apply and field ownership), and `errors.ts` (the Status errors every part
 * raises). Each route group is a fastify plugin; the service is decorated once
 * (`objectServicePlugin`) and read by the groups as `app.objectService`.
 */

export { type DiscoveryOptions, discoveryRoutes } from './discovery/index.ts';
export { ApiError, errors, type Status } from './errors.ts';
export {
  decodeObjectBody,
  type ObjectServicePluginOptions,
  objectServicePlugin,
  queryBool,
  type ResourceRoutesOptions,
  resourceRoutes,
  routePlugin,
  sharedPlugin,
  type WatchStreamOptions,
} from './http/index.ts';
export { type OpenApiOptions, openApiRoutes } from './openapi/index.ts';
export { applyJsonPatch, PatchError } from './patch/index.ts';
export {
  checkNesting,
  collectionPrefix,
  MAX_NESTING_DEPTH,
  NAMESPACE_CONTENT_FINALIZER,
  ObjectService,
  type ObjectServiceOptions,
  objectKey,
  parse,
} from './service/index.ts';
