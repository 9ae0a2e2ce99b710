import { randomUUID } from 'node:crypto';
import type { KindDefinition, KubeObject } from '../../../api/index.ts';

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

/**
 * The narrowest key prefix a list or watch must read: the one key when the
 * field selector pins a name (`metadata.name=X` alone, as an agent asks for
 * its own Mailbox) and the key is known, else the collection. Reading one key
 * instead of scanning (and decrypting) a collection of thousands is what lets
 * a fleet of agents connect in linear time.
 */
export function selectedPrefix(
  def: Pick<KindDefinition, 'group' | 'plural' | 'namespaced'>,
  namespace: string | undefined,
  fieldSelector: string | undefined,
): string {
  const exactName = /^\s*metadata\.name\s*==?\s*([^,!=\s]+)\s*$/.exec(fieldSelector ?? '')?.[1];
  return exactName && (namespace !== undefined || !def.namespaced)
    ? objectKey(def, namespace, exactName)
    : collectionPrefix(def, namespace);
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

/** An object serialised once, before its revision is known. */
export interface PrerenderedObject {
  /** UTF-8 bytes of the stored text, not counting the resourceVersion's digits. */
  readonly bytes: number;
  /** The stored text with `revision` as resourceVersion (also set on the object, as {@link renderObject} does). */
  render(revision: number): string;
}

/**
 * Stands in for the resourceVersion while the text is rendered: letters and
 * digits only, so JSON.stringify writes it as is, and random per process, so
 * that no stored object can hold it by design.
 */
const REVISION_MARK = `rv${randomUUID().replaceAll('-', '')}`;
const REVISION_FIELD = `"resourceVersion":"${REVISION_MARK}"`;

/**
 * Serialises an object for storage once: the size is known before the write
 * (so that it can be refused first), and the text for the revision the store
 * assigns is spliced from it rather than serialised again. Same text as
 * {@link renderObject}: the resourceVersion keeps its place in metadata (or
 * comes last when the object had none).
 */
export function prerender(object: KubeObject): PrerenderedObject {
  object.metadata.resourceVersion = REVISION_MARK;
  const text = JSON.stringify(object);
  const at = text.indexOf(REVISION_FIELD);
  const bytes = Buffer.byteLength(text) - REVISION_MARK.length;
  // Were the mark found twice (an object holding it on purpose), splicing would be ambiguous.
  if (at < 0 || text.indexOf(REVISION_FIELD, at + 1) >= 0) {
    return { bytes, render: (revision) => renderObject(object, revision) };
  }
  const head = text.slice(0, at + REVISION_FIELD.length - REVISION_MARK.length - 1);
  const tail = text.slice(at + REVISION_FIELD.length - 1);
  return {
    bytes,
    render(revision) {
      const version = String(revision);
      object.metadata.resourceVersion = version;
      return `${head}${version}${tail}`;
    },
  };
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

/** Structural equality of JSON values (key order ignored, undefined members ignored). */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  const leftArray = Array.isArray(a);
  if (leftArray !== Array.isArray(b)) return false;
  if (leftArray) {
    const left = a as unknown[];
    const right = b as unknown[];
    if (left.length !== right.length) return false;
    for (let i = 0; i < left.length; i++) if (!deepEqual(left[i], right[i])) return false;
    return true;
  }
  const left = a as Record<string, unknown>;
  const right = b as Record<string, unknown>;
  let leftCount = 0;
  for (const key in left) {
    if (!Object.hasOwn(left, key) || left[key] === undefined) continue;
    leftCount++;
    if (!Object.hasOwn(right, key) || !deepEqual(left[key], right[key])) return false;
  }
  let rightCount = 0;
  for (const key in right) if (Object.hasOwn(right, key) && right[key] !== undefined) rightCount++;
  return leftCount === rightCount;
}

/** Whether two versions of an object are the same apart from resourceVersion and managedFields timestamps. */
export function sameContent(before: KubeObject, after: KubeObject): boolean {
  return !specChanged(before, after) && sameApartFromSpec(before, after);
}

/**
 * Whether two versions of an object are the same in what {@link specChanged}
 * does not look at: apiVersion, kind, status, and metadata apart from
 * resourceVersion and managedFields timestamps. With `!specChanged` it is
 * {@link sameContent}, for a caller that has already compared the spec.
 */
export function sameApartFromSpec(before: KubeObject, after: KubeObject): boolean {
  const strip = (meta: KubeObject['metadata'] | undefined) => ({
    ...meta,
    resourceVersion: undefined,
    managedFields: meta?.managedFields?.map((entry) => ({ ...(entry as object), time: undefined })),
  });
  return (
    deepEqual(before.apiVersion, after.apiVersion) &&
    deepEqual(before.kind, after.kind) &&
    deepEqual(before.status, after.status) &&
    deepEqual(strip(before.metadata), strip(after.metadata))
  );
}

/** Parses a stored object (anything with its JSON text as `value`: a Client's ObjectText, a watch event). */
export function parse(stored: { readonly value: string }): KubeObject {
  return JSON.parse(stored.value) as KubeObject;
}
