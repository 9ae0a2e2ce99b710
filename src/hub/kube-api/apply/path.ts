/**
 * Path elements of a field path, in the textual form the apiserver writes inside `FieldsV1`:
 * `f:name` (a field of a map), `k:{"name":"x"}` (an item of an associative list, by its keys),
 * `v:"value"` (an item of a set list) and `i:0` (an item by position, never produced for
 * Kubernetes schemas but accepted when decoding).
 *
 * Sets and walkers use the textual form as the element's identity, so the text must be
 * canonical: key fields sorted by name and every value written as compact JSON.
 */
import { InvalidManagedFieldsError } from './errors.ts';

/** One step of a field path, as written in FieldsV1 (`f:…`, `k:…`, `v:…`, `i:…`). */
export type PathElementText = string;

/** A field path from the object's root, one {@link PathElementText} per step. */
export type FieldPath = readonly PathElementText[];

/** A parsed path element. Key fields are sorted by name. */
export type PathElement =
  | { readonly kind: 'field'; readonly name: string }
  | { readonly kind: 'key'; readonly fields: readonly (readonly [string, unknown])[] }
  | { readonly kind: 'value'; readonly value: unknown }
  | { readonly kind: 'index'; readonly index: number };

/** The element naming field `name` of a map: `f:name`. */
export function fieldElement(name: string): PathElementText {
  return `f:${name}`;
}

/**
 * The element naming the associative-list item whose key fields have these values:
 * `k:{"name":"x"}`, fields sorted by name as the apiserver sorts them.
 */
export function keyElement(fields: Iterable<readonly [string, unknown]>): PathElementText {
  const sorted = [...fields].sort(([a], [b]) => compareStrings(a, b));
  return `k:${JSON.stringify(Object.fromEntries(sorted))}`;
}

/** The element naming the set-list item equal to `value`: `v:"x"`. */
export function valueElement(value: unknown): PathElementText {
  return `v:${JSON.stringify(value)}`;
}

/**
 * Parses one element written by any apiserver and returns it in canonical text form.
 * @throws InvalidManagedFieldsError when the text is not a path element.
 */
export function canonicalElement(text: string): PathElementText {
  const pe = parseElement(text);
  switch (pe.kind) {
    case 'field':
      return text;
    case 'key':
      return keyElement(pe.fields);
    case 'value':
      return valueElement(pe.value);
    case 'index':
      return `i:${pe.index}`;
  }
}

/**
 * Parses the textual form of a path element.
 * @throws InvalidManagedFieldsError when the text is not a path element.
 */
export function parseElement(text: PathElementText): PathElement {
  const prefix = text.slice(0, 2);
  const rest = text.slice(2);
  switch (prefix) {
    case 'f:':
      return { kind: 'field', name: rest };
    case 'k:': {
      const fields = parseJson(text, rest);
      if (fields === null || typeof fields !== 'object' || Array.isArray(fields)) {
        throw new InvalidManagedFieldsError(`path element ${text}: key must be a JSON object`);
      }
      const entries = Object.entries(fields).sort(([a], [b]) => compareStrings(a, b));
      return { kind: 'key', fields: entries };
    }
    case 'v:':
      return { kind: 'value', value: parseJson(text, rest) };
    case 'i:': {
      const index = Number(rest);
      if (!Number.isInteger(index) || index < 0 || rest.trim() !== rest || rest === '') {
        throw new InvalidManagedFieldsError(`path element ${text}: index must be a non-negative integer`);
      }
      return { kind: 'index', index };
    }
    default:
      throw new InvalidManagedFieldsError(`path element ${JSON.stringify(text)}: unknown prefix`);
  }
}

function parseJson(text: string, json: string): unknown {
  try {
    return JSON.parse(json);
  } catch (cause) {
    throw new InvalidManagedFieldsError(`path element ${text}: invalid JSON`, { cause });
  }
}

/**
 * Orders path elements as structured-merge-diff does (fields, then keys, then values, then
 * indexes), which is the order the apiserver writes FieldsV1 in.
 */
export function compareElements(a: PathElementText, b: PathElementText): number {
  if (a === b) return 0;
  const pa = parseElement(a);
  const pb = parseElement(b);
  const rank = KIND_RANK[pa.kind] - KIND_RANK[pb.kind];
  if (rank !== 0) return Math.sign(rank);
  if (pa.kind === 'field' && pb.kind === 'field') return compareStrings(pa.name, pb.name);
  if (pa.kind === 'key' && pb.kind === 'key') return compareFieldLists(pa.fields, pb.fields);
  if (pa.kind === 'value' && pb.kind === 'value') return compareValues(pa.value, pb.value);
  if (pa.kind === 'index' && pb.kind === 'index') return Math.sign(pa.index - pb.index);
  return 0;
}

const KIND_RANK = { field: 0, key: 1, value: 2, index: 3 } as const;

/**
 * Renders a path as the apiserver does in conflict messages:
 * `.spec.containers[name="nginx"].image`, `.metadata.finalizers[="x"]`, `.spec.args[0]`.
 */
export function formatPath(path: FieldPath): string {
  return path.map(formatElement).join('');
}

function formatElement(text: PathElementText): string {
  const pe = parseElement(text);
  switch (pe.kind) {
    case 'field':
      return `.${pe.name}`;
    case 'key':
      return `[${pe.fields.map(([name, value]) => `${name}=${formatValue(value)}`).join(',')}]`;
    case 'value':
      return `[=${formatValue(pe.value)}]`;
    case 'index':
      return `[${pe.index}]`;
  }
}

function formatValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === null || typeof value !== 'object') return String(value);
  return JSON.stringify(value);
}

/** Byte-wise string order as Go's strings.Compare (identical to UTF-16 order outside surrogates). */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareFieldLists(
  a: readonly (readonly [string, unknown])[],
  b: readonly (readonly [string, unknown])[],
) {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    const byName = compareStrings(x[0], y[0]);
    if (byName !== 0) return byName;
    const byValue = compareValues(x[1], y[1]);
    if (byValue !== 0) return byValue;
  }
  return 0;
}

/** Total order over JSON values as structured-merge-diff's value.Compare: numbers, strings, bools, lists, maps, null. */
function compareValues(a: unknown, b: unknown): number {
  const ra = valueRank(a);
  const rb = valueRank(b);
  if (ra !== rb) return Math.sign(ra - rb);
  if (typeof a === 'number' && typeof b === 'number') return Math.sign(a - b);
  if (typeof a === 'string' && typeof b === 'string') return compareStrings(a, b);
  if (typeof a === 'boolean' && typeof b === 'boolean') return Number(a) - Number(b);
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.min(a.length, b.length); i++) {
      const c = compareValues(a[i], b[i]);
      if (c !== 0) return c;
    }
    return Math.sign(a.length - b.length);
  }
  if (ra === 4) {
    const ea = Object.entries(a as object).sort(([x], [y]) => compareStrings(x, y));
    const eb = Object.entries(b as object).sort(([x], [y]) => compareStrings(x, y));
    return compareFieldLists(ea, eb);
  }
  return 0;
}

function valueRank(v: unknown): number {
  if (typeof v === 'number') return 0;
  if (typeof v === 'string') return 1;
  if (typeof v === 'boolean') return 2;
  if (Array.isArray(v)) return 3;
  if (v !== null && typeof v === 'object') return 4;
  return 5;
}
