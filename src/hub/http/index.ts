/**
 * The hub's HTTP application: `buildHub` assembles the fastify app (no listen) from the shared
 * plugins (error rendering, the object service, authentication) and the route groups (health,
 * the Kubernetes API's discovery, OpenAPI and resources, access reviews, enrollment, device logs,
 * telemetry), each an encapsulated plugin.
 */
export { type BuildHubOptions, type BuiltHub, buildHub } from './app.ts';
export { MAX_BODY_BYTES } from './error-rendering.ts';
export type { HealthCheck, HealthOptions } from './health.ts';
