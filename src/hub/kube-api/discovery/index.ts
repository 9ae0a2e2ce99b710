/**
 * API discovery as the apiserver serves it (`/version`, `/api`, `/apis` and the group and
 * resource documents, legacy and aggregated), and what the OpenAPI documents share with it: the
 * Kubernetes version served, each kind's verbs, and JSON documents built once and sent byte for
 * byte after `Accept` negotiation.
 */
export {
  acceptsPlainJson,
  type JsonBody,
  jsonBody,
  type MediaRange,
  parseAccept,
  pathNotFound,
  sendFailure,
  sendJson,
} from './json-documents.ts';
export { STATUS_VERBS, storageVersionHash, verbsOf } from './resource-verbs.ts';
export { type DiscoveryOptions, discoveryRoutes, KUBERNETES_VERSION } from './routes.ts';
