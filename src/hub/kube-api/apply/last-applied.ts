/**
 * The bridge between kubectl's client-side apply (the last-applied-configuration annotation)
 * and server-side apply, as the apiserver builds it for the `kubectl` field manager only:
 * fields that still hold what client-side apply last applied may be taken over without a
 * conflict, and the annotation is kept in step so switching back to client-side apply works.
 */
import { compareObjects } from './compare.ts';
import { fieldsOf } from './fields-of.ts';
import type { FieldSet } from './fieldset.ts';
import type { SchemaInfo } from './schema-info.ts';
import { isJsonObject, type JsonObject } from './shape.ts';

/** The annotation in which client-side `kubectl apply` keeps the configuration it applied. */
export const LAST_APPLIED_ANNOTATION = 'kubectl.kubernetes.io/last-applied-configuration';

/** The only field manager for which the apiserver bridges client-side and server-side apply. */
export const KUBECTL_MANAGER = 'kubectl';

function lastApplied(obj: JsonObject): string | undefined {
  const meta = obj.metadata;
  const annotations = isJsonObject(meta) ? meta.annotations : undefined;
  const value = isJsonObject(annotations) ? annotations[LAST_APPLIED_ANNOTATION] : undefined;
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/**
 * Fields the live object still holds exactly as its last-applied-configuration says: conflicts
 * on them are not reported to `kubectl`. Undefined when there is no usable annotation.
 */
export function fieldsStillAsLastApplied(live: JsonObject, schema: SchemaInfo): FieldSet | undefined {
  const text = lastApplied(live);
  if (text === undefined) return undefined;
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isJsonObject(config)) return undefined;
  const diff = compareObjects(config, live, schema);
  return fieldsOf(config, schema).difference(diff.modified).difference(diff.added).difference(diff.removed);
}

/**
 * `object` with its last-applied-configuration set to `applied` (without that annotation), when
 * the live object had one; `object` itself otherwise.
 */
export function syncLastApplied(live: JsonObject, object: JsonObject, applied: JsonObject): JsonObject {
  if (lastApplied(live) === undefined) return object;
  const config = structuredClone(applied);
  const configMeta = isJsonObject(config.metadata) ? config.metadata : undefined;
  const configAnnotations =
    configMeta && isJsonObject(configMeta.annotations) ? configMeta.annotations : undefined;
  if (configMeta && configAnnotations) {
    delete configAnnotations[LAST_APPLIED_ANNOTATION];
    if (Object.keys(configAnnotations).length === 0) delete configMeta.annotations;
  }
  const meta = isJsonObject(object.metadata) ? object.metadata : {};
  const annotations = isJsonObject(meta.annotations) ? meta.annotations : {};
  return {
    ...object,
    metadata: { ...meta, annotations: { ...annotations, [LAST_APPLIED_ANNOTATION]: JSON.stringify(config) } },
  };
}
