import { randomUUID } from 'node:crypto';
import type { KindDefinition, KubeObject } from '../../api/index.ts';

/** Characters Kubernetes uses for generated name suffixes (no vowels, no look-alikes). */
const SUFFIX_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

/** A name from `generateName`: the prefix and five random characters. */
export function generateName(prefix: string): string {
  let suffix = '';
  for (let i = 0; i < 5; i++) suffix += SUFFIX_ALPHABET[Math.floor(Math.random() * SUFFIX_ALPHABET.length)];
  return `${prefix}${suffix}`;
}

/** RFC 3339 with second precision, as Kubernetes writes timestamps. */
export function timestamp(now: Date): string {
  return `${now.toISOString().slice(0, 19)}Z`;
}

export function newUid(): string {
  return randomUUID();
}

/** The store key of an object: `/GROUP/PLURAL/[NAMESPACE/]NAME` (group `core` for the core group). */
export function objectKey(
  def: Pick<KindDefinition, 'group' | 'plural' | 'namespaced'>,
  namespace: string | undefined,
  name: string,
): string {
  return `${collectionPrefix(def, namespace)}${name}`;
}

/** The key prefix of a collection: all namespaces when `namespace` is undefined. */
export function collectionPrefix(
  def: Pick<KindDefinition, 'group' | 'plural' | 'namespaced'>,
  namespace: string | undefined,
): string {
  const base = `/${def.group === '' ? 'core' : def.group}/${def.plural}/`;
  return def.namespaced && namespace ? `${base}${namespace}/` : base;
}

/**
 * Renders an object for storage with its resourceVersion, keeping apiVersion,
 * kind and metadata first (tables and clients read them first).
 */
export function renderObject(object: KubeObject, revision: number): string {
  object.metadata.resourceVersion = String(revision);
  return JSON.stringify(object);
}

/** Whether two objects differ in anything but metadata and status (what bumps `generation`). */
export function specChanged(before: KubeObject, after: KubeObject): boolean {
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  for (const key of keys) {
    if (key === 'metadata' || key === 'status' || key === 'apiVersion' || key === 'kind') continue;
    if (!deepEqual(before[key], after[key])) return true;
  }
  return false;
}

/** Structural equality of JSON values (key order ignored). */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const other = b as unknown[];
    return a.length === other.length && a.every((item, index) => deepEqual(item, other[index]));
  }
  const left = a as Record<string, unknown>;
  const right = b as Record<string, unknown>;
  const leftKeys = Object.keys(left).filter((key) => left[key] !== undefined);
  const rightKeys = Object.keys(right).filter((key) => right[key] !== undefined);
  return leftKeys.length === rightKeys.length && leftKeys.every((key) => deepEqual(left[key], right[key]));
}

/** Whether two versions of an object are the same apart from resourceVersion and managedFields timestamps. */
export function sameContent(before: KubeObject, after: KubeObject): boolean {
  const strip = (object: KubeObject) => ({
    ...object,
    metadata: {
      ...object.metadata,
      resourceVersion: undefined,
      managedFields: object.metadata.managedFields?.map((entry) => ({
        ...(entry as object),
        time: undefined,
      })),
    },
  });
  return deepEqual(strip(before), strip(after));
}
