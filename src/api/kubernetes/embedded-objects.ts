/**
 * Kubernetes objects held in a Workload (`spec.resources[i]`), checked against the schema of
 * their kind as the apiserver checks them when they are sent to it: unknown fields (pruned and
 * reported, for `fieldValidation`), values of the wrong type (`replicas: "3"`), integers out of
 * range (`replicas: 1e12`), required fields, and the rules the apiserver adds to the schema for
 * these kinds (names, labels, `replicas >= 0`, containers with a name and an image, config keys).
 * A string holding a `${...}` device parameter is checked for its type only: what it becomes
 * differs per device.
 */
import type { FieldCause } from '../kind.ts';
import { annotationCauses, configKeyCauses, DNS_LABEL, DNS_SUBDOMAIN, labelCauses } from '../names.ts';
import { type Definition, type FieldType, kubernetesDefinitions } from './definitions.ts';

type JsonRecord = Record<string, unknown>;

const isRecord = (value: unknown): value is JsonRecord =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const templated = (value: unknown): boolean => typeof value === 'string' && value.includes('${');

/** The definition of `object`'s kind when it is one of the kinds with a schema here, and its apiVersion is the kind's. */
function definitionOf(object: unknown): Definition | undefined {
  if (!isRecord(object) || typeof object.kind !== 'string') return undefined;
  const { kinds, definitions } = kubernetesDefinitions();
  const kind = Object.hasOwn(kinds, object.kind) ? kinds[object.kind] : undefined;
  if (!kind || object.apiVersion !== kind.apiVersion) return undefined;
  return definitions[kind.model];
}

/**
 * Removes (with `remove`) the fields of `object` its kind's schema does not know, pushing their
 * paths (below `prefix`, as `spec.resources[0]`) on `unknown`; returns whether it found any.
 * Objects of other kinds or apiVersions are left alone (their refusal is {@link embeddedObjectCauses}').
 */
export function pruneEmbeddedObject(
  object: unknown,
  prefix: string,
  unknown: string[],
  remove: boolean,
): boolean {
  const definition = definitionOf(object);
  return definition ? pruneDefinition(definition, object as JsonRecord, prefix, unknown, remove) : false;
}

function pruneDefinition(
  definition: Definition,
  record: JsonRecord,
  path: string,
  unknown: string[],
  remove: boolean,
): boolean {
  let found = false;
  for (const key of Object.keys(record)) {
    const type = Object.hasOwn(definition.properties, key) ? definition.properties[key] : undefined;
    if (type === undefined) {
      found = true;
      unknown.push(`${path}.${key}`);
      if (remove) delete record[key];
    } else if (pruneValue(type, record[key], `${path}.${key}`, unknown, remove)) found = true;
  }
  return found;
}

function pruneValue(
  type: FieldType,
  value: unknown,
  path: string,
  unknown: string[],
  remove: boolean,
): boolean {
  const inner = type.slice(1, -1);
  if (type.startsWith('[')) {
    if (!Array.isArray(value)) return false;
    let found = false;
    value.forEach((item, index) => {
      if (pruneValue(inner, item, `${path}[${index}]`, unknown, remove)) found = true;
    });
    return found;
  }
  if (!isRecord(value)) return false;
  if (type.startsWith('{')) {
    let found = false;
    for (const [key, item] of Object.entries(value))
      if (pruneValue(inner, item, `${path}[${key}]`, unknown, remove)) found = true;
    return found;
  }
  const definition = kubernetesDefinitions().definitions[type];
  return definition ? pruneDefinition(definition, value, path, unknown, remove) : false;
}

/**
 * Why `object` (a Workload's resource at `prefix`) is not a valid object of its kind: its
 * apiVersion, types, ranges, required fields and the apiserver's rules for the kind. Nothing for
 * kinds without a schema here (the Workload refuses those itself).
 */
export function embeddedObjectCauses(object: unknown, prefix: string): FieldCause[] {
  if (!isRecord(object) || typeof object.kind !== 'string') return [];
  const { kinds } = kubernetesDefinitions();
  const kind = Object.hasOwn(kinds, object.kind) ? kinds[object.kind] : undefined;
  if (!kind) return [];
  if (object.apiVersion !== kind.apiVersion)
    return [
      {
        reason: 'FieldValueNotSupported',
        field: `${prefix}.apiVersion`,
        message: `Unsupported value: ${JSON.stringify(object.apiVersion)}: supported values: "${kind.apiVersion}"`,
      },
    ];
  const causes: FieldCause[] = [];
  checkValue(kind.model, object, prefix, causes);
  if (causes.length === 0) kindRules(object.kind, object, prefix, causes);
  return causes;
}

const INT32 = 2 ** 31;
const QUANTITY = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+|[KMGTPE]i|[numkMGTPE])?$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Type, range and required fields of `value` as a `type`; a null is an unset field, as the apiserver reads it. */
function checkValue(type: FieldType, value: unknown, path: string, causes: FieldCause[]): void {
  if (value === null || value === undefined || type === 'any') return;
  const wrongType = (expected: string) =>
    causes.push({
      reason: 'FieldValueTypeInvalid',
      field: path,
      message: `Invalid value: ${describe(value)}: must be of type ${expected}`,
    });
  const invalid = (detail: string) =>
    causes.push({
      reason: 'FieldValueInvalid',
      field: path,
      message: `Invalid value: ${describe(value)}: ${detail}`,
    });
  switch (type) {
    case 'string':
    case 'time':
      if (typeof value !== 'string') wrongType('string');
      return;
    case 'bytes':
      if (typeof value !== 'string') wrongType('string');
      else if (!templated(value) && (value.length % 4 !== 0 || !BASE64.test(value)))
        invalid('must be base64');
      return;
    case 'boolean':
      if (typeof value !== 'boolean') wrongType('boolean');
      return;
    case 'int32':
    case 'int64':
      if (typeof value !== 'number' || !Number.isInteger(value)) wrongType('integer');
      else if (type === 'int32' && (value < -INT32 || value >= INT32)) invalid('must fit in 32 bits');
      else if (type === 'int64' && !Number.isSafeInteger(value)) invalid('must fit in 64 bits');
      return;
    case 'double':
      if (typeof value !== 'number') wrongType('number');
      return;
    case 'int-or-string':
      if (typeof value === 'number' ? !Number.isInteger(value) : typeof value !== 'string')
        wrongType('integer or string');
      return;
    case 'quantity':
      if (typeof value === 'number') return;
      if (typeof value !== 'string') wrongType('quantity (a number or a string)');
      else if (!templated(value) && !QUANTITY.test(value))
        invalid("must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'");
      return;
  }
  const inner = type.slice(1, -1);
  if (type.startsWith('[')) {
    if (!Array.isArray(value)) wrongType('array');
    else
      value.forEach((item, index) => {
        checkValue(inner, item, `${path}[${index}]`, causes);
      });
    return;
  }
  if (!isRecord(value)) {
    wrongType(type.startsWith('{') ? 'map' : 'object');
    return;
  }
  if (type.startsWith('{')) {
    for (const [key, item] of Object.entries(value)) checkValue(inner, item, `${path}[${key}]`, causes);
    return;
  }
  const definition = kubernetesDefinitions().definitions[type];
  if (!definition) return;
  for (const field of definition.required ?? [])
    if (value[field] === undefined || value[field] === null)
      causes.push({ reason: 'FieldValueRequired', field: `${path}.${field}`, message: 'Required value' });
  for (const [key, item] of Object.entries(value)) {
    const fieldType = Object.hasOwn(definition.properties, key) ? definition.properties[key] : undefined;
    // An unknown field was pruned or refused per fieldValidation before validation.
    if (fieldType !== undefined) checkValue(fieldType, item, `${path}.${key}`, causes);
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string')
    return JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}...` : value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return Array.isArray(value) ? 'array' : typeof value;
}

/** The apiserver's rules for the kinds beyond their schema (run once the types are right). */
function kindRules(kind: string, object: JsonRecord, prefix: string, causes: FieldCause[]): void {
  metadataRules(object.metadata as JsonRecord | undefined, `${prefix}.metadata`, causes);
  const spec = object.spec as JsonRecord | undefined;
  switch (kind) {
    case 'Pod':
      podSpecRules(spec, `${prefix}.spec`, causes);
      break;
    case 'Deployment':
    case 'StatefulSet': {
      nonNegative(spec?.replicas, `${prefix}.spec.replicas`, causes);
      const template = spec?.template as JsonRecord | undefined;
      metadataRules(
        template?.metadata as JsonRecord | undefined,
        `${prefix}.spec.template.metadata`,
        causes,
        false,
      );
      podSpecRules(template?.spec as JsonRecord | undefined, `${prefix}.spec.template.spec`, causes);
      break;
    }
    case 'ConfigMap':
      causes.push(...configKeyCauses(untemplated(object.data, 'keys'), `${prefix}.data`));
      causes.push(...configKeyCauses(untemplated(object.binaryData, 'keys'), `${prefix}.binaryData`));
      break;
    case 'Secret':
      causes.push(...configKeyCauses(untemplated(object.data, 'keys'), `${prefix}.data`));
      causes.push(...configKeyCauses(untemplated(object.stringData, 'keys'), `${prefix}.stringData`));
      break;
  }
}

function metadataRules(meta: JsonRecord | undefined, path: string, causes: FieldCause[], named = true): void {
  const name = meta?.name;
  if (
    named &&
    typeof name === 'string' &&
    !templated(name) &&
    (name.length > 253 || !DNS_SUBDOMAIN.test(name))
  )
    causes.push({
      reason: 'FieldValueInvalid',
      field: `${path}.name`,
      message: `Invalid value: ${describe(name)}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`,
    });
  causes.push(...labelCauses(untemplated(meta?.labels), `${path}.labels`));
  causes.push(...annotationCauses(untemplated(meta?.annotations), `${path}.annotations`));
}

/** The entries of a string map whose key and value (or only key) hold no device parameter. */
function untemplated(map: unknown, which: 'entries' | 'keys' = 'entries'): Record<string, unknown> {
  if (!isRecord(map)) return {};
  return Object.fromEntries(
    Object.entries(map).filter(([key, value]) => !templated(key) && (which === 'keys' || !templated(value))),
  );
}

function nonNegative(value: unknown, field: string, causes: FieldCause[]): void {
  if (typeof value === 'number' && value < 0)
    causes.push({
      reason: 'FieldValueInvalid',
      field,
      message: `Invalid value: ${value}: must be greater than or equal to 0`,
    });
}

/** A pod's containers: at least one, each named (a DNS label, unique in the pod) and with an image. */
function podSpecRules(spec: JsonRecord | undefined, path: string, causes: FieldCause[]): void {
  if (!spec) return;
  const containers = Array.isArray(spec.containers) ? spec.containers : [];
  if (containers.length === 0)
    causes.push({ reason: 'FieldValueRequired', field: `${path}.containers`, message: 'Required value' });
  const names = new Set<string>();
  for (const list of ['initContainers', 'containers'] as const) {
    if (!Array.isArray(spec[list])) continue;
    (spec[list] as unknown[]).forEach((container, index) => {
      if (!isRecord(container)) return;
      const field = `${path}.${list}[${index}]`;
      const name = container.name;
      if (typeof name === 'string' && !templated(name)) {
        if (name.length > 63 || !DNS_LABEL.test(name))
          causes.push({
            reason: 'FieldValueInvalid',
            field: `${field}.name`,
            message: `Invalid value: ${describe(name)}: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character`,
          });
        else if (names.has(name))
          causes.push({
            reason: 'FieldValueDuplicate',
            field: `${field}.name`,
            message: `Duplicate value: "${name}"`,
          });
        names.add(name);
      }
      if (container.image === undefined || container.image === null || container.image === '')
        causes.push({ reason: 'FieldValueRequired', field: `${field}.image`, message: 'Required value' });
      if (Array.isArray(container.ports))
        container.ports.forEach((port, portIndex) => {
          const number = isRecord(port) ? port.containerPort : undefined;
          if (typeof number === 'number' && (number < 1 || number > 65535))
            causes.push({
              reason: 'FieldValueInvalid',
              field: `${field}.ports[${portIndex}].containerPort`,
              message: `Invalid value: ${number}: must be between 1 and 65535, inclusive`,
            });
        });
    });
  }
}
