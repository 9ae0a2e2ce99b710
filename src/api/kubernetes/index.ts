/**
 * The Kubernetes kinds a Workload holds, checked against their published schemas
 * (`definitions.json`, loaded on first use).
 */
export { embeddedObjectCauses, pruneEmbeddedObject } from './embedded-objects.ts';

/**
 * Marks the schema of a field holding Kubernetes objects (a Workload's `spec.resources` items):
 * pruning checks them against their kinds' schemas. A symbol, so that the OpenAPI documents the
 * hub publishes do not carry it.
 */
export const KUBERNETES_OBJECT = Symbol.for('outpost.kubernetesObject');
