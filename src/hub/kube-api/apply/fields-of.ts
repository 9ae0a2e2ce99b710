/**
 * Reading an applied configuration: the set of fields it sets (structured-merge-diff's
 * ToFieldSet), the checks that make it mergeable, and its `null` entries (fields the applier
 * wants absent).
 */
import { InvalidApplyConfigError } from './errors.ts';
import { FieldSet } from './fieldset.ts';
import { type FieldPath, fieldElement, formatPath, type PathElementText } from './path.ts';
import type { SchemaInfo } from './schema-info.ts';
import { isJsonObject, itemElement, itemProblem, put, shapeOf } from './shape.ts';

/**
 * The fields `value` sets. Scalars, atomic values and empty or null struct fields are members;
 * so are list items and the entries of maps that are not struct fields (labels, untyped data),
 * which therefore show `".": {}` when they also have children. Struct fields that hold
 * something are not members themselves: only what they hold is.
 */
export function fieldsOf(value: unknown, info: SchemaInfo): FieldSet {
  const set = new FieldSet();
  collect(value, info, [], set);
  return set;
}

function collect(value: unknown, info: SchemaInfo, path: PathElementText[], set: FieldSet): void {
  // An empty granular list sets nothing, as in structured-merge-diff.
  if (Array.isArray(value) && value.length === 0 && info.list && info.list.type !== 'atomic') return;
  const shape = shapeOf(info, value);
  if (shape.kind === 'map' && isJsonObject(value)) {
    for (const [key, child] of Object.entries(value)) {
      const field = shape.map.field(key);
      const childPath = [...path, fieldElement(key)];
      collect(child, field.info, childPath, set);
      if (child === null || !field.named || (isJsonObject(child) && Object.keys(child).length === 0)) {
        set.insert(childPath);
      }
    }
    return;
  }
  if (shape.kind === 'list') {
    const [indexed] = shape.sides;
    for (const el of indexed?.order ?? []) {
      const childPath = [...path, el];
      collect(indexed?.items.get(el), shape.list.item, childPath, set);
      set.insert(childPath);
    }
    return;
  }
  set.insert(path);
}

/**
 * Checks that every set and map list in an applied configuration can be merged item by item.
 * @throws InvalidApplyConfigError naming the list, as the apiserver words it.
 */
export function checkMergeable(value: unknown, info: SchemaInfo, path: FieldPath = []): void {
  if (isJsonObject(value)) {
    const map = info.map;
    if (!map || map.atomic) return;
    for (const [key, child] of Object.entries(value)) {
      checkMergeable(child, map.field(key).info, [...path, fieldElement(key)]);
    }
    return;
  }
  if (!Array.isArray(value)) return;
  const list = info.list;
  if (!list || list.type === 'atomic') return;
  const seen = new Set<PathElementText>();
  value.forEach((item, i) => {
    const problem = itemProblem(list, item);
    if (problem !== undefined)
      throw new InvalidApplyConfigError(formatPath(path), `element ${i}: ${problem}`);
    const el = itemElement(list, item);
    if (el === undefined) return;
    if (seen.has(el)) {
      throw new InvalidApplyConfigError(formatPath(path), `duplicate entries for key ${formatPath([el])}`);
    }
    seen.add(el);
    checkMergeable(item, list.item, [...path, el]);
  });
}

/**
 * Splits an applied configuration into the value without its `null` map entries and the set of
 * those entries' paths. A `null` asks for the field to be absent: the applier owns it and it is
 * removed from the object. Nulls inside atomic values are data and stay.
 */
export function splitNulls(value: unknown, info: SchemaInfo): { value: unknown; nulls: FieldSet } {
  const nulls = new FieldSet();
  return { value: withoutNulls(value, info, [], nulls), nulls };
}

function withoutNulls(value: unknown, info: SchemaInfo, path: PathElementText[], nulls: FieldSet): unknown {
  const shape = shapeOf(info, value);
  if (shape.kind === 'map' && isJsonObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [key, child] of Object.entries(value)) {
      const childPath = [...path, fieldElement(key)];
      if (child === null) nulls.insert(childPath);
      else put(out, key, withoutNulls(child, shape.map.field(key).info, childPath, nulls));
    }
    return out;
  }
  if (shape.kind === 'list' && Array.isArray(value)) {
    const [indexed] = shape.sides;
    return (indexed?.order ?? []).map((el) =>
      withoutNulls(indexed?.items.get(el), shape.list.item, [...path, el], nulls),
    );
  }
  return value;
}
