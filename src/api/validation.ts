import type { TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import type { FieldCause, KindDefinition, KubeObject } from './kind.ts';
import { KUBERNETES_OBJECT, pruneEmbeddedObject } from './kubernetes/index.ts';
import { annotationCauses, DNS_LABEL, DNS_SUBDOMAIN, finalizerCauses, labelCauses } from './names.ts';

// Where the kinds have always found them.
export { labelCauses, qualifiedNameProblem } from './names.ts';

export interface ValidationResult {
  /** Why the object is invalid; empty when valid. */
  readonly causes: FieldCause[];
  /** Paths of fields the schema does not know (already removed from the object). */
  readonly unknownFields: string[];
}

type JsonSchema = TSchema & {
  type?: string;
  properties?: Record<string, JsonSchema>;
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  nullable?: boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  [KUBERNETES_OBJECT]?: boolean;
};

const compiled = new WeakMap<TSchema, ReturnType<typeof Compile>>();

/**
 * Validates an object against its kind: prunes the fields the schema does not
 * know (reporting them, for `fieldValidation`) and the nulls of fields it knows
 * (not set), checks the schema, the metadata (names, labels) and the kind's own
 * semantic rules. Mutates `object` only by that pruning.
 */
export function validateObject(
  def: KindDefinition,
  object: KubeObject,
  old?: KubeObject,
  options: {
    /** The caller has just pruned `object` (see {@link pruneUnknownFields}): skip it. @default false */
    readonly pruned?: boolean;
  } = {},
): ValidationResult {
  const unknownFields: string[] = [];
  if (!options.pruned) prune(def.schema as JsonSchema, object, [], unknownFields, true);
  let validator = compiled.get(def.schema);
  if (!validator) {
    validator = Compile(def.schema);
    compiled.set(def.schema, validator);
  }
  const causes: FieldCause[] = [...validateMeta(def, object)];
  if (!validator.Check(object)) {
    for (const error of validator.Errors(object)) causes.push(toCause(error));
  }
  if (causes.length === 0 && def.validate) causes.push(...def.validate(object, old));
  return { causes, unknownFields };
}

/** Removes the fields the kind's schema does not know from `object`; returns their paths. */
export function pruneUnknownFields(def: KindDefinition, object: unknown): string[] {
  const unknownFields: string[] = [];
  prune(def.schema as JsonSchema, object, [], unknownFields, true);
  return unknownFields;
}

/**
 * Whether {@link pruneUnknownFields} would change `object` (an unknown field,
 * or a null for a known field). Changes nothing.
 */
export function hasPrunableFields(def: KindDefinition, object: unknown): boolean {
  return prune(def.schema as JsonSchema, object, [], [], false);
}

/** A step of the path to a field: a property name or an array index. */
type Step = string | number;

/**
 * Walks `value` along `schema`, removing (with `remove`) the unknown fields, whose paths it
 * collects, and the nulls of known fields; returns whether it found any. `path` is the way
 * here, turned into text only for an unknown field (most walks find none).
 */
function prune(
  schema: JsonSchema,
  value: unknown,
  path: Step[],
  unknown: string[],
  remove: boolean,
): boolean {
  let found = false;
  if (Array.isArray(value)) {
    const items = schema.items;
    if (items) {
      for (let index = 0; index < value.length; index++) {
        path.push(index);
        if (prune(items, value[index], path, unknown, remove)) found = true;
        path.pop();
      }
    }
    return found;
  }
  if (value === null || typeof value !== 'object') return false;
  // A Kubernetes object held as data (a Workload's resource): its kind's schema says what it may hold.
  if (schema[KUBERNETES_OBJECT]) return pruneEmbeddedObject(value, fieldPath(path, ''), unknown, remove);
  const record = value as Record<string, unknown>;
  const properties = schema.properties;
  const additional = schema.additionalProperties;
  for (const key of Object.keys(record)) {
    // Own properties only: a field called `constructor` or `__proto__` is unknown, not Object's.
    const known = properties && Object.hasOwn(properties, key) ? properties[key] : undefined;
    if (known && record[key] === null && !known.nullable) {
      // A null for a known field means "not set": Go's decoder reads it so for built-in kinds,
      // and the apiserver prunes such nulls for custom resources.
      found = true;
      if (remove) delete record[key];
    } else if (known || typeof additional === 'object') {
      path.push(key);
      if (prune(known ?? (additional as JsonSchema), record[key], path, unknown, remove)) found = true;
      path.pop();
    } else if (additional !== true && !schema['x-kubernetes-preserve-unknown-fields'] && properties) {
      found = true;
      unknown.push(fieldPath(path, key));
      if (remove) delete record[key];
    }
  }
  return found;
}

/** `spec`, `containers`, 0, `name` → `spec.containers[0].name`. */
function fieldPath(path: readonly Step[], last: string): string {
  let text = '';
  for (const step of path) text = typeof step === 'number' ? `${text}[${step}]` : joinPath(text, step);
  return joinPath(text, last);
}

function joinPath(path: string, key: string): string {
  return path === '' ? key : key === '' ? path : `${path}.${key}`;
}

/** `/spec/resources/0/kind` → `spec.resources[0].kind`. */
export function pointerToField(pointer: string): string {
  let field = '';
  for (const raw of pointer.split('/').slice(1)) {
    const segment = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    field += /^\d+$/.test(segment) ? `[${segment}]` : field === '' ? segment : `.${segment}`;
  }
  return field;
}

interface SchemaError {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
  message: string;
}

function toCause(error: SchemaError): FieldCause {
  const field = pointerToField(error.instancePath);
  switch (error.keyword) {
    case 'required': {
      const missing = (error.params.requiredProperties as string[] | undefined)?.[0] ?? '';
      return { reason: 'FieldValueRequired', field: joinPath(field, missing), message: 'Required value' };
    }
    case 'enum': {
      const allowed = (error.params.allowedValues as unknown[] | undefined) ?? [];
      return {
        reason: 'FieldValueNotSupported',
        field,
        message: `Unsupported value: supported values: ${allowed.map((v) => JSON.stringify(v)).join(', ')}`,
      };
    }
    case 'maxLength':
    case 'maxItems':
      return { reason: 'FieldValueTooLong', field, message: `Too long: ${error.message}` };
    default:
      return { reason: 'FieldValueInvalid', field, message: `Invalid value: ${error.message}` };
  }
}

function validateMeta(def: KindDefinition, object: KubeObject): FieldCause[] {
  const causes: FieldCause[] = [];
  const meta = object.metadata;
  const name = meta?.name;
  if (!name) {
    causes.push({
      reason: 'FieldValueRequired',
      field: 'metadata.name',
      message: 'Required value: name or generateName is required',
    });
  } else if (def.nameRule === 'path-segment') {
    if (name === '.' || name === '..' || name.includes('/') || name.includes('%')) {
      causes.push({
        reason: 'FieldValueInvalid',
        field: 'metadata.name',
        message: `Invalid value: "${name}": may not be '.' or '..' and may not contain '/' or '%'`,
      });
    }
  } else {
    const pattern = def.kind === 'Namespace' ? DNS_LABEL : DNS_SUBDOMAIN;
    const max = def.kind === 'Namespace' ? 63 : 253;
    if (name.length > max || !pattern.test(name)) {
      causes.push({
        reason: 'FieldValueInvalid',
        field: 'metadata.name',
        message: `Invalid value: "${name}": a lowercase RFC 1123 ${def.kind === 'Namespace' ? 'label' : 'subdomain'} must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`,
      });
    }
  }
  causes.push(...labelCauses(meta?.labels ?? {}, 'metadata.labels'));
  causes.push(...annotationCauses(meta?.annotations ?? {}, 'metadata.annotations'));
  causes.push(...finalizerCauses(meta?.finalizers, 'metadata.finalizers'));
  return causes;
}
