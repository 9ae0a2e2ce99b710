/**
 * Merging an applied configuration into a live object, and removing fields from an object
 * (what an applier gave up, what it set to null). Semantics of structured-merge-diff:
 * granular maps merge key by key, map lists by their keys, sets by value; leaves, atomic maps
 * and atomic lists take the applied value whole.
 */
import type { FieldSet } from './fieldset.ts';
import { fieldElement, type PathElementText } from './path.ts';
import type { SchemaInfo } from './schema-info.ts';
import { entry, type IndexedList, isEmptyContainer, type JsonObject, put, shapeOf } from './shape.ts';

/**
 * `applied` merged into `live`; either may be undefined (absent). Neither input is modified;
 * the result may share unchanged parts with them.
 */
export function mergeValues(live: unknown, applied: unknown, info: SchemaInfo): unknown {
  if (applied === undefined) return live;
  if (live === undefined) return applied;
  const shape = shapeOf(info, live, applied);
  if (shape.kind === 'map') {
    const l = live as JsonObject;
    const r = applied as JsonObject;
    const out: JsonObject = {};
    for (const key of Object.keys(l)) {
      put(out, key, mergeValues(l[key], entry(r, key), shape.map.field(key).info));
    }
    for (const key of Object.keys(r)) if (!Object.hasOwn(l, key)) put(out, key, r[key]);
    return out;
  }
  if (shape.kind === 'list') {
    const [lhs, rhs] = shape.sides;
    if (!lhs || !rhs) return applied;
    return mergedOrder(lhs, rhs).map((el) =>
      mergeValues(lhs.items.get(el), rhs.items.get(el), shape.list.item),
    );
  }
  return applied;
}

/**
 * The order of a merged list, as structured-merge-diff orders it: items of `applied` in its
 * order; items only in `live` stay where they were relative to the items both lists share.
 * Merging the same configuration again keeps the order, so applies are idempotent.
 */
export function mergedOrder(live: IndexedList, applied: IndexedList): PathElementText[] {
  const shared = applied.order.filter((el) => live.items.has(el));
  let nextShared = 0;
  const out: PathElementText[] = [];
  const l = live.order;
  const r = applied.order;
  let li = 0;
  let ri = 0;
  while (li < l.length || ri < r.length) {
    const le = l[li];
    const re = r[ri];
    if (le !== undefined && re !== undefined) {
      if (le === re) {
        out.push(le);
        li++;
        ri++;
        nextShared++;
        continue;
      }
      // A shared item that comes later in the applied order: it is emitted from that side.
      if (applied.items.has(le) && shared[nextShared] !== le) {
        li++;
        continue;
      }
    }
    if (le !== undefined && !applied.items.has(le)) {
      out.push(le);
      li++;
      continue;
    }
    if (re === undefined) {
      // Only shared items remain on the live side; they were all emitted from the applied side.
      li++;
      continue;
    }
    out.push(re);
    ri++;
    if (shared[nextShared] === re) nextShared++;
  }
  return out;
}

/**
 * `value` without the members of `remove` (each with everything below it), except what `keep`
 * (the union of every manager's fields) still holds: a kept member stays, and a struct field
 * with kept fields below it stays with only those removed that nobody keeps. A list item or map
 * entry that is itself not kept goes with all it holds, as in structured-merge-diff.
 * A container emptied by the removal goes too, unless kept or required by the schema.
 */
export function removeFields(value: unknown, info: SchemaInfo, remove: FieldSet, keep?: FieldSet): unknown {
  const shape = shapeOf(info, value);
  if (shape.kind === 'map') {
    const out: JsonObject = {};
    for (const [key, child] of Object.entries(value as JsonObject)) {
      const field = shape.map.field(key);
      const result = removeBelow(
        fieldElement(key),
        child,
        field.info,
        field.named,
        field.required,
        remove,
        keep,
      );
      if (result !== REMOVED) put(out, key, result);
    }
    return out;
  }
  if (shape.kind === 'list') {
    const [indexed] = shape.sides;
    const out: unknown[] = [];
    for (const el of indexed?.order ?? []) {
      const item = indexed?.items.get(el);
      const result = removeBelow(el, item, shape.list.item, false, false, remove, keep);
      if (result !== REMOVED) out.push(result);
    }
    return out;
  }
  return value;
}

const REMOVED = Symbol('removed');

function removeBelow(
  el: PathElementText,
  child: unknown,
  info: SchemaInfo,
  named: boolean,
  required: boolean,
  remove: FieldSet,
  keep: FieldSet | undefined,
): unknown {
  if (!remove.touches(el)) return child;
  const kept = keep?.hasMember(el) ?? false;
  const keptBelow = keep?.child(el);
  if (remove.hasMember(el) && !kept && !(named && keptBelow)) return REMOVED;
  const below = remove.child(el);
  if (!below) return child;
  const pruned = removeFields(child, info, below, keptBelow);
  if (!kept && !required && isEmptyContainer(pruned) && !isEmptyContainer(child)) return REMOVED;
  return pruned;
}
