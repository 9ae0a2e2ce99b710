/**
 * What changed between two versions of an object, field by field, as structured-merge-diff's
 * Compare: leaves (scalars, atomic values, empty containers) are added, removed or modified;
 * granular containers that appear or disappear are added or removed themselves too.
 */
import { isDeepStrictEqual } from 'node:util';
import { FieldSet } from './fieldset.ts';
import { fieldElement, type PathElementText } from './path.ts';
import type { SchemaInfo } from './schema-info.ts';
import { entry, type JsonObject, shapeOf } from './shape.ts';

/** Fields that differ between two objects. */
export interface Comparison {
  readonly added: FieldSet;
  readonly modified: FieldSet;
  readonly removed: FieldSet;
}

/**
 * Compares `before` with `after` (either may be undefined: created or deleted). Fields of
 * `ignored`, and everything below them, are not compared (as {@link excludeFields} would
 * drop them, without walking them first).
 */
export function compareObjects(
  before: unknown,
  after: unknown,
  info: SchemaInfo,
  ignored?: FieldSet,
): Comparison {
  const c = { added: new FieldSet(), modified: new FieldSet(), removed: new FieldSet() };
  walk(before, after, info, [], c, ignored);
  return c;
}

/** The comparison without the fields of `ignored` and everything below them. */
export function excludeFields(c: Comparison, ignored: FieldSet): Comparison {
  return {
    added: c.added.recursiveDifference(ignored),
    modified: c.modified.recursiveDifference(ignored),
    removed: c.removed.recursiveDifference(ignored),
  };
}

function walk(
  l: unknown,
  r: unknown,
  info: SchemaInfo,
  path: PathElementText[],
  c: Comparison,
  ignored: FieldSet | undefined,
): void {
  const shape = shapeOf(info, l, r);
  if (shape.kind === 'leaf') {
    if (l === undefined) c.added.insert(path);
    else if (r === undefined) c.removed.insert(path);
    else if (!deepStrictEqualJson(l, r)) c.modified.insert(path);
    return;
  }
  if (shape.kind === 'map') {
    const lo = l as JsonObject | undefined;
    const ro = r as JsonObject | undefined;
    const keys = new Set([...Object.keys(lo ?? {}), ...Object.keys(ro ?? {})]);
    for (const key of keys) {
      const el = fieldElement(key);
      if (ignored?.hasMember(el)) continue;
      const left = lo && entry(lo, key);
      const right = ro && entry(ro, key);
      walk(left, right, shape.map.field(key).info, [...path, el], c, ignored?.child(el));
    }
  } else {
    const [lhs, rhs] = shape.sides;
    const elements = new Set([...(lhs?.order ?? []), ...(rhs?.order ?? [])]);
    for (const el of elements) {
      if (ignored?.hasMember(el)) continue;
      walk(lhs?.items.get(el), rhs?.items.get(el), shape.list.item, [...path, el], c, ignored?.child(el));
    }
  }
  if (l === undefined) c.added.insert(path);
  else if (r === undefined) c.removed.insert(path);
}

/**
 * `isDeepStrictEqual` for the JSON values the engine compares (plain objects and arrays of
 * primitives), without its generality: the same answer for them (`Object.is` for
 * primitives, a key present with `undefined` differs from a missing one, prototypes must
 * agree), several times faster; anything else is handed to `isDeepStrictEqual` itself.
 */
export function deepStrictEqualJson(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  const proto = Object.getPrototypeOf(a);
  if (proto !== Object.getPrototypeOf(b)) return false;
  if (proto === Array.prototype) {
    const left = a as unknown[];
    const right = b as unknown[];
    if (left.length !== right.length) return false;
    for (let i = 0; i < left.length; i++) {
      if (!(i in left) || !(i in right)) return isDeepStrictEqual(a, b);
      if (!deepStrictEqualJson(left[i], right[i])) return false;
    }
    return true;
  }
  if (proto !== Object.prototype && proto !== null) return isDeepStrictEqual(a, b);
  const left = a as JsonObject;
  const right = b as JsonObject;
  const keys = Object.keys(left);
  if (keys.length !== Object.keys(right).length) return false;
  for (const key of keys) {
    if (!Object.hasOwn(right, key) || !deepStrictEqualJson(left[key], right[key])) return false;
  }
  return true;
}
