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

/** Compares `before` with `after` (either may be undefined: created or deleted). */
export function compareObjects(before: unknown, after: unknown, info: SchemaInfo): Comparison {
  const c = { added: new FieldSet(), modified: new FieldSet(), removed: new FieldSet() };
  walk(before, after, info, [], c);
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

function walk(l: unknown, r: unknown, info: SchemaInfo, path: PathElementText[], c: Comparison): void {
  const shape = shapeOf(info, l, r);
  if (shape.kind === 'leaf') {
    if (l === undefined) c.added.insert(path);
    else if (r === undefined) c.removed.insert(path);
    else if (!isDeepStrictEqual(l, r)) c.modified.insert(path);
    return;
  }
  if (shape.kind === 'map') {
    const lo = l as JsonObject | undefined;
    const ro = r as JsonObject | undefined;
    const keys = new Set([...Object.keys(lo ?? {}), ...Object.keys(ro ?? {})]);
    for (const key of keys) {
      const left = lo && entry(lo, key);
      const right = ro && entry(ro, key);
      walk(left, right, shape.map.field(key).info, [...path, fieldElement(key)], c);
    }
  } else {
    const [lhs, rhs] = shape.sides;
    const elements = new Set([...(lhs?.order ?? []), ...(rhs?.order ?? [])]);
    for (const el of elements)
      walk(lhs?.items.get(el), rhs?.items.get(el), shape.list.item, [...path, el], c);
  }
  if (l === undefined) c.added.insert(path);
  else if (r === undefined) c.removed.insert(path);
}
