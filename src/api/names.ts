/**
 * The apiserver's rules for names, label and annotation keys and values, finalizers and config
 * keys, each as the causes of a 422 on a given field.
 */
import type { FieldCause } from './kind.ts';

/** A lowercase RFC 1123 label (a Namespace's name, a container's). */
export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** A lowercase RFC 1123 subdomain (most objects' names). */
export const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** Every label of `labels` whose key is not a qualified name or whose value is not a label value, as causes on `field`. */
export function labelCauses(labels: Readonly<Record<string, unknown>>, field: string): FieldCause[] {
  const causes: FieldCause[] = [];
  for (const [key, value] of Object.entries(labels)) {
    const keyProblem = qualifiedNameProblem(key);
    if (keyProblem)
      causes.push({ reason: 'FieldValueInvalid', field, message: `Invalid value: "${key}": ${keyProblem}` });
    if (typeof value === 'string' && (value.length > 63 || !LABEL_VALUE.test(value))) {
      causes.push({
        reason: 'FieldValueInvalid',
        field,
        message: `Invalid value: "${value}": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (at most 63)`,
      });
    }
  }
  return causes;
}

/** Why a label or annotation key is not a qualified name (`prefix/name`), or undefined. */
export function qualifiedNameProblem(key: string): string | undefined {
  const slash = key.lastIndexOf('/');
  const prefix = slash === -1 ? undefined : key.slice(0, slash);
  const name = slash === -1 ? key : key.slice(slash + 1);
  if (prefix !== undefined && (prefix.length === 0 || prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) {
    return 'prefix part must be a lowercase RFC 1123 subdomain';
  }
  if (name.length === 0 || name.length > 63 || !QUALIFIED_NAME.test(name)) {
    return "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (at most 63)";
  }
  return undefined;
}

/** The apiserver's limit of all of an object's annotations together, keys and values, in bytes. */
export const MAX_ANNOTATION_BYTES = 256 * 1024;

/** Annotation keys that are not qualified names, and annotations over {@link MAX_ANNOTATION_BYTES} together. */
export function annotationCauses(
  annotations: Readonly<Record<string, unknown>>,
  field: string,
): FieldCause[] {
  const causes: FieldCause[] = [];
  let bytes = 0;
  for (const [key, value] of Object.entries(annotations)) {
    const keyProblem = qualifiedNameProblem(key);
    if (keyProblem)
      causes.push({ reason: 'FieldValueInvalid', field, message: `Invalid value: "${key}": ${keyProblem}` });
    bytes += Buffer.byteLength(key) + (typeof value === 'string' ? Buffer.byteLength(value) : 0);
  }
  if (bytes > MAX_ANNOTATION_BYTES)
    causes.push({
      reason: 'FieldValueTooLong',
      field,
      message: `Too long: must have at most ${MAX_ANNOTATION_BYTES} bytes`,
    });
  return causes;
}

/** Finalizers that are not qualified names (`example.com/cleanup`), as the apiserver refuses them. */
export function finalizerCauses(finalizers: unknown, field: string): FieldCause[] {
  if (!Array.isArray(finalizers)) return [];
  const causes: FieldCause[] = [];
  finalizers.forEach((finalizer, index) => {
    if (typeof finalizer !== 'string') return;
    const problem = qualifiedNameProblem(finalizer);
    if (problem)
      causes.push({
        reason: 'FieldValueInvalid',
        field: `${field}[${index}]`,
        message: `Invalid value: "${finalizer}": ${problem}`,
      });
  });
  return causes;
}

const CONFIG_KEY = /^[-._a-zA-Z0-9]+$/;

/**
 * The keys of a ConfigMap's or Secret's `data` (or `binaryData`) that are not config keys: file
 * names a volume can hold, `[-._a-zA-Z0-9]+`, at most 253, not `.` or `..` or starting with `..`.
 */
export function configKeyCauses(data: unknown, field: string): FieldCause[] {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return [];
  const causes: FieldCause[] = [];
  for (const key of Object.keys(data)) {
    let problem: string | undefined;
    if (key.length > 253) problem = 'must be no more than 253 characters';
    else if (!CONFIG_KEY.test(key))
      problem =
        "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";
    else if (key === '.') problem = "must not be '.'";
    else if (key === '..' || key.startsWith('..')) problem = "must not start with '..'";
    if (problem)
      causes.push({
        reason: 'FieldValueInvalid',
        field: `${field}[${key}]`,
        message: `Invalid value: "${key}": ${problem}`,
      });
  }
  return causes;
}
