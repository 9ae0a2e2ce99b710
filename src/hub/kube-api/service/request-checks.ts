/**
 * Checks of a request's object before the service works on it: its type meta
 * (apiVersion and kind match what the URL serves), its identity (name and
 * namespace match the URL), an apply configuration's shape, and its size. Each
 * refuses with the apiserver's 400 or 413 and its wording.
 */
import { apiVersionOf, type KindDefinition, type KubeObject } from '../../../api/index.ts';
import { nestsDeeperThan } from '../../../util/index.ts';
import { ApiError, errors } from '../errors.ts';
import type { PrerenderedObject } from './object-meta.ts';

/**
 * The largest object stored, in bytes of JSON: etcd's default request limit, which the apiserver
 * answers with 413 too. Half the request body limit, so that whatever is stored can be read and
 * PUT back with room for the fields the server adds.
 */
export const MAX_OBJECT_BYTES = 1.5 * 1024 * 1024;

/** Refuses an object over {@link MAX_OBJECT_BYTES} (for dry runs, which render nothing). @throws ApiError 413 */
export function checkSize(object: KubeObject): void {
  sizeChecked({ bytes: Buffer.byteLength(JSON.stringify(object)) });
}

/** `rendered` if within {@link MAX_OBJECT_BYTES}. @throws ApiError 413 otherwise */
export function sizeChecked<T extends Pick<PrerenderedObject, 'bytes'>>(rendered: T): T {
  const bytes = rendered.bytes;
  if (bytes > MAX_OBJECT_BYTES) {
    throw new ApiError(
      413,
      'RequestEntityTooLarge',
      `Request entity too large: the object is ${bytes} bytes, the limit is ${MAX_OBJECT_BYTES}`,
    );
  }
  return rendered;
}

/**
 * The deepest nesting of objects and arrays a request body, or an object a patch makes, may have.
 * Every walk over an object (pruning, validation, patches, field ownership, serialization)
 * recurses once a level, and each still works at three times this depth; real objects nest a few
 * dozen levels. The apiserver's JSON decoder stops at 10,000, deeper than a JavaScript stack goes.
 */
export const MAX_NESTING_DEPTH = 512;

/**
 * Refuses a value nesting deeper than {@link MAX_NESTING_DEPTH}, measured without recursion, so
 * that no recursive walk ever sees it. `what` names it in the message (`the request body`).
 * @throws ApiError 400
 */
export function checkNesting(value: unknown, what: string): void {
  if (nestsDeeperThan(value, MAX_NESTING_DEPTH))
    throw errors.badRequest(`${what} nests objects and arrays deeper than ${MAX_NESTING_DEPTH} levels`);
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Checks that the body is an object of the kind served here and fills in its
 * apiVersion, kind and metadata, in that order first (as the stored text keeps them).
 * @throws ApiError 400
 */
export function checkTypeMeta(def: KindDefinition, object: KubeObject): void {
  const apiVersion = apiVersionOf(def);
  if (typeof object !== 'object' || object === null || Array.isArray(object)) {
    throw errors.badRequest('the request body must be an object');
  }
  if (object.kind !== undefined && object.kind !== def.kind) {
    throw errors.badRequest(
      `the kind of the object (${String(object.kind)}) does not match the kind served here (${def.kind})`,
    );
  }
  if (object.apiVersion !== undefined && object.apiVersion !== apiVersion) {
    throw errors.badRequest(
      `the API version of the object (${String(object.apiVersion)}) does not match the one served here (${apiVersion})`,
    );
  }
  object.apiVersion = apiVersion;
  object.kind = def.kind;
  if (
    object.metadata !== undefined &&
    (typeof object.metadata !== 'object' || object.metadata === null || Array.isArray(object.metadata))
  ) {
    throw errors.badRequest('metadata must be an object');
  }
  object.metadata ??= {};
  // Keep apiVersion, kind and metadata first in the stored text.
  const { apiVersion: _a, kind: _k, metadata, ...rest } = object;
  for (const key of Object.keys(object)) delete object[key];
  // defineProperty, not Object.assign: a top-level `__proto__` field would otherwise set the
  // object's prototype (and vanish from the stored text while validation still saw through it).
  for (const [key, value] of Object.entries({ apiVersion, kind: def.kind, metadata, ...rest })) {
    Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
  }
}

/** Checks that a body names the object the URL names (a body may leave name and namespace out). @throws ApiError 400 */
export function checkIdentity(
  def: KindDefinition,
  namespace: string | undefined,
  name: string,
  body: KubeObject,
): void {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw errors.badRequest('the request body must be an object');
  const bodyName = body.metadata?.name;
  if (bodyName !== undefined && bodyName !== name) {
    throw errors.badRequest(
      `the name of the object (${bodyName}) does not match the name on the URL (${name})`,
    );
  }
  const bodyNamespace = body.metadata?.namespace;
  if (def.namespaced && bodyNamespace && namespace && bodyNamespace !== namespace) {
    throw errors.badRequest(
      'the namespace of the provided object does not match the namespace sent on the request',
    );
  }
}

/** Checks an apply configuration: an object with apiVersion and kind, naming the URL's object. @throws ApiError 400 */
export function checkApplied(def: KindDefinition, name: string, applied: KubeObject): void {
  if (typeof applied !== 'object' || applied === null || Array.isArray(applied))
    throw errors.badRequest('the apply configuration must be an object');
  if (!applied.apiVersion || !applied.kind) {
    throw errors.badRequest('apiVersion and kind must be set in an apply configuration');
  }
  if (applied.metadata?.name !== undefined && applied.metadata.name !== name) {
    throw errors.badRequest(
      `the name of the object (${applied.metadata.name}) does not match the name on the URL (${name})`,
    );
  }
  checkTypeMeta(def, { ...applied });
}

/** Whether a (merge-style) patch pins the object's resourceVersion. */
export function pinsRevision(patch: unknown): boolean {
  const meta = (patch as { metadata?: { resourceVersion?: unknown } } | undefined)?.metadata;
  return typeof meta?.resourceVersion === 'string' && meta.resourceVersion !== '';
}
