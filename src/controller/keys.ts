import type { KubeObject } from '../api/index.ts';

/**
 * The key of an object in an informer's cache and, by convention, in a work
 * queue: `namespace/name`, or `name` for a cluster-scoped object (client-go's
 * `MetaNamespaceKeyFunc`).
 */
export function keyFor(namespace: string | undefined, name: string): string {
  return namespace ? `${namespace}/${name}` : name;
}

/** {@link keyFor} of an object. */
export function keyOf(object: Pick<KubeObject, 'metadata'>): string {
  return keyFor(object.metadata.namespace, object.metadata.name ?? '');
}

/** Splits a {@link keyFor} key; names and namespaces never contain `/`. */
export function splitKey(key: string): { namespace: string | undefined; name: string } {
  const slash = key.indexOf('/');
  return slash < 0
    ? { namespace: undefined, name: key }
    : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}
