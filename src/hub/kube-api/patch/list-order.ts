/**
 * Identity and ordering of list items for strategic merge patch, after
 * k8s.io/apimachinery/pkg/util/strategicpatch (normalizeElementOrder, mergeSortedSlice and the
 * partition helpers). Items are identified by their merge key's value for lists of objects, by
 * their value for lists of primitives.
 */
import { canonicalJson } from '../../../util/index.ts';
import { describe, hasOwn, isJsonObject, type JsonKind, jsonKindOf } from './json-value.ts';
import { InvalidPatchError } from './patch-error.ts';

/**
 * The common kind of the elements of `lists`, or `undefined` when they are all empty.
 * @throws InvalidPatchError for lists of lists or elements of different kinds.
 */
export function elementKind(lists: readonly (readonly unknown[])[], path: string): JsonKind | undefined {
  let kind: JsonKind | undefined;
  for (const list of lists) {
    for (const item of list) {
      const itemKind = jsonKindOf(item);
      if (itemKind === 'array') throw new InvalidPatchError(`${at(path)}lists of lists are not supported`);
      if (kind !== undefined && itemKind !== kind) {
        throw new InvalidPatchError(
          `${at(path)}list element types are not identical: ${kind} and ${itemKind}`,
        );
      }
      kind = itemKind;
    }
  }
  return kind;
}

/**
 * The identity of a list item as a string: the JSON of its merge key's value when `mergeKey` is
 * set (the item must then be an object holding that key), otherwise the canonical JSON of the item.
 */
export function itemKey(item: unknown, mergeKey: string, path: string): string {
  if (mergeKey === '') return canonicalJson(item);
  if (!isJsonObject(item)) {
    throw new InvalidPatchError(
      `${at(path)}expected an object with merge key ${mergeKey}, got ${describe(item)}`,
    );
  }
  if (!hasOwn(item, mergeKey)) {
    throw new InvalidPatchError(
      `${at(path)}map: ${describe(item)} does not contain declared merge key: ${mergeKey}`,
    );
  }
  return canonicalJson(item[mergeKey]);
}

/** Position of each key's first occurrence in `list`. */
function positions(list: readonly unknown[], mergeKey: string, path: string): Map<string, number> {
  const index = new Map<string, number>();
  list.forEach((item, i) => {
    const key = itemKey(item, mergeKey, path);
    if (!index.has(key)) index.set(key, i);
  });
  return index;
}

/** `list` without repeated values, keeping the first occurrence of each. */
export function dedupe(list: readonly unknown[]): unknown[] {
  const seen = new Set<string>();
  return list.filter((item) => {
    const key = canonicalJson(item);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Splits `list` into the items whose key appears in `by` and the others, keeping their order. */
export function partition(
  list: readonly unknown[],
  by: readonly unknown[],
  mergeKey: string,
  path: string,
): [unknown[], unknown[]] {
  const wanted = positions(by, mergeKey, path);
  const inside: unknown[] = [];
  const outside: unknown[] = [];
  for (const item of list) (wanted.has(itemKey(item, mergeKey, path)) ? inside : outside).push(item);
  return [inside, outside];
}

/**
 * Orders the merged items of a list: `patchItems` follow `patchOrder`, `serverOnly` follow
 * `serverOrder`, then the two runs are interleaved so that a server-only item goes before a patch
 * item only when both appear in `serverOrder` and it comes first there. This is the rule of
 * strategicpatch's mergeSortedSlice, including its effect that a new item (unknown to the server)
 * goes before the server-only items that have not been placed yet.
 */
export function normalizeOrder(
  patchItems: readonly unknown[],
  serverOnly: readonly unknown[],
  patchOrder: readonly unknown[],
  serverOrder: readonly unknown[],
  mergeKey: string,
  path: string,
): unknown[] {
  const right = sortByPositions(patchItems, positions(patchOrder, mergeKey, path), mergeKey, path);
  const serverPositions = positions(serverOrder, mergeKey, path);
  const left = sortByPositions(serverOnly, serverPositions, mergeKey, path);
  const result: unknown[] = [];
  let i = 0;
  let j = 0;
  while (i < left.length || j < right.length) {
    if (j >= right.length) {
      result.push(left[i++]);
    } else if (i >= left.length) {
      result.push(right[j++]);
    } else {
      const l = serverPositions.get(itemKey(left[i], mergeKey, path));
      const r = serverPositions.get(itemKey(right[j], mergeKey, path));
      result.push(l !== undefined && r !== undefined && l < r ? left[i++] : right[j++]);
    }
  }
  return result;
}

/** A stable sort by position in an order list; items missing from it keep their order, last. */
function sortByPositions(
  items: readonly unknown[],
  order: Map<string, number>,
  mergeKey: string,
  path: string,
): unknown[] {
  const keyed = items.map((item, i) => ({ item, i, at: order.get(itemKey(item, mergeKey, path)) }));
  keyed.sort((a, b) => {
    if (a.at !== undefined && b.at !== undefined && a.at !== b.at) return a.at - b.at;
    if (a.at === undefined && b.at !== undefined) return 1;
    if (a.at !== undefined && b.at === undefined) return -1;
    return a.i - b.i;
  });
  return keyed.map(({ item }) => item);
}

/** Prefix for error messages: the field path, when there is one. */
export function at(path: string): string {
  return path === '' ? '' : `${path}: `;
}
