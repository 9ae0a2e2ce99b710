/**
 * Kubernetes strategic merge patch (`application/strategic-merge-patch+json`), the apply half of
 * k8s.io/apimachinery/pkg/util/strategicpatch (StrategicMergeMapPatch) ported to JSON values.
 *
 * Maps merge recursively and `null` deletes a key. Lists follow their field's strategy from the
 * `PatchMeta`: replaced by default; with `merge`, lists of primitives become a union and lists of
 * objects merge item by item on the merge key. Directives: `$patch: replace | delete | merge` in
 * maps and list items, `$retainKeys`, `$setElementOrder/<field>` and
 * `$deleteFromPrimitiveList/<field>`, which `kubectl apply` sends.
 *
 * Deliberate differences from the Go code, where it would answer 500 or store garbage:
 * `$patch: merge` is accepted as the default behaviour; an unknown `$…` key, a
 * `$deleteFromPrimitiveList` on a list that does not merge or holds objects, and a malformed
 * directive are errors;
 * values added without a counterpart are cleaned of nulls and directives (as newer apimachinery
 * does with removeDirectives / discardNullValuesFromPatch).
 */

import {
  cloneJson,
  describe,
  hasOwn,
  isJsonObject,
  type JsonObject,
  jsonKindOf,
  setOwn,
} from './json-value.ts';
import { at, dedupe, elementKind, itemKey, normalizeOrder, partition } from './list-order.ts';
import { InvalidPatchError, MalformedPatchError } from './patch-error.ts';
import { fieldPatchMeta, mergeStrategy, type PatchMeta } from './patch-meta.ts';

const DIRECTIVE = '$patch';
const RETAIN_KEYS = '$retainKeys';
const SET_ELEMENT_ORDER = '$setElementOrder';
const DELETE_FROM_PRIMITIVE_LIST = '$deleteFromPrimitiveList';

/**
 * Applies a strategic merge patch to `original` (an object, or null/undefined for none) and
 * returns the result. `meta` describes the kind (see `patchMetaFor`).
 * Neither input is mutated and the result shares no object with them.
 *
 * @throws MalformedPatchError when the patch is not an object or a directive is malformed (400).
 * @throws InvalidPatchError when the patch cannot be applied: a merge list item without its merge
 *   key, list elements of mixed kinds, lists of lists, a target that is not an object (422).
 */
export function applyStrategicMergePatch(original: unknown, patch: unknown, meta: PatchMeta): unknown {
  if (!isJsonObject(patch)) {
    throw new MalformedPatchError(`strategic merge patch must be a JSON object, got ${describe(patch)}`);
  }
  if (original !== undefined && original !== null && !isJsonObject(original)) {
    throw new InvalidPatchError(`the object to patch must be a JSON object, got ${jsonKindOf(original)}`);
  }
  // Private copies: the merge below follows the Go code, which mutates both sides freely.
  return mergeMap(isJsonObject(original) ? cloneJson(original) : {}, cloneJson(patch), meta, '');
}

/** Merges `patch` into `original` (both private copies, changed in place) and returns the result. */
function mergeMap(
  original: JsonObject,
  patch: JsonObject,
  meta: PatchMeta | undefined,
  path: string,
): JsonObject {
  if (hasOwn(patch, DIRECTIVE)) {
    const directive = patch[DIRECTIVE];
    delete patch[DIRECTIVE];
    // `replace` drops everything the original held; what the patch holds is still cleaned.
    if (directive === 'replace') return mergeMap({}, patch, meta, path);
    if (directive === 'delete') return {};
    if (directive !== 'merge') {
      throw new MalformedPatchError(`${at(path)}unknown patch type: ${describe(directive)} in map`);
    }
  }
  applyRetainKeys(original, patch, path);
  applySetElementOrder(original, patch, meta, path);
  for (const key of Object.keys(patch)) {
    const value = patch[key];
    if (!key.startsWith('$')) {
      mergeField(original, key, value, fieldPatchMeta(meta, key), false, join(path, key));
      continue;
    }
    if (!key.startsWith(DELETE_FROM_PRIMITIVE_LIST)) {
      throw new MalformedPatchError(`${at(path)}unknown strategic merge patch directive ${describe(key)}`);
    }
    const field = directiveField(key, DELETE_FROM_PRIMITIVE_LIST, path);
    if (!Array.isArray(value)) {
      throw new MalformedPatchError(
        `${at(path)}invalid patch format of primitive list: ${key} must be a list`,
      );
    }
    mergeField(original, field, value, fieldPatchMeta(meta, field), true, join(path, field));
  }
  return original;
}

/** Merges one patch entry into `original[key]`; `deleteList` marks a `$deleteFromPrimitiveList`. */
function mergeField(
  original: JsonObject,
  key: string,
  value: unknown,
  meta: PatchMeta | undefined,
  deleteList: boolean,
  path: string,
): void {
  if (value === null) {
    delete original[key];
    return;
  }
  const current = hasOwn(original, key) ? original[key] : undefined;
  if (current === undefined || jsonKindOf(current) !== jsonKindOf(value)) {
    // Nothing to merge with: a deletion list has nothing to delete, anything else is taken as is.
    if (!deleteList) setOrDelete(original, key, materialize(value, meta, path));
    return;
  }
  const strategy = mergeStrategy(meta);
  if (Array.isArray(current) && Array.isArray(value)) {
    if (strategy === 'merge') {
      setOwn(original, key, mergeList(current, value, meta, deleteList, path).merged);
    } else if (deleteList) {
      throw new MalformedPatchError(
        `${at(path)}${DELETE_FROM_PRIMITIVE_LIST} applies only to lists that merge`,
      );
    } else {
      setOwn(original, key, materializeItems(value, meta, path));
    }
  } else if (isJsonObject(current) && isJsonObject(value)) {
    if (strategy === 'replace') setOrDelete(original, key, materialize(value, meta, path));
    else setOwn(original, key, mergeMap(current, value, meta, path));
  } else {
    setOwn(original, key, value);
  }
}

/**
 * `$retainKeys: [...]`: keys of the original not listed are cleared before merging; every
 * non-null key of the patch must be listed.
 */
function applyRetainKeys(original: JsonObject, patch: JsonObject, path: string): void {
  if (!hasOwn(patch, RETAIN_KEYS)) return;
  const retained = patch[RETAIN_KEYS];
  delete patch[RETAIN_KEYS];
  if (!Array.isArray(retained)) {
    throw new MalformedPatchError(
      `${at(path)}invalid patch format of retainKeys: ${RETAIN_KEYS} must be a list`,
    );
  }
  const keep = new Set<unknown>(retained);
  for (const key of Object.keys(patch)) {
    if (
      patch[key] === null ||
      key.startsWith(DELETE_FROM_PRIMITIVE_LIST) ||
      key.startsWith(SET_ELEMENT_ORDER)
    ) {
      continue;
    }
    if (!keep.has(key)) {
      throw new MalformedPatchError(
        `${at(path)}invalid patch format of retainKeys: ${describe(key)} is patched but not in ${RETAIN_KEYS}`,
      );
    }
  }
  for (const key of Object.keys(original)) if (!keep.has(key)) delete original[key];
}

/**
 * `$setElementOrder/<field>: [...]`: merges the patch list of `<field>` (if any) into the
 * original and orders the result: listed items in the directive's order, server-only items
 * interleaved by their position on the server. The patch list is consumed here.
 */
function applySetElementOrder(
  original: JsonObject,
  patch: JsonObject,
  meta: PatchMeta | undefined,
  path: string,
): void {
  for (const key of Object.keys(patch)) {
    if (!key.startsWith(SET_ELEMENT_ORDER)) continue;
    const order = patch[key];
    delete patch[key];
    const field = directiveField(key, SET_ELEMENT_ORDER, path);
    if (!Array.isArray(order)) {
      throw new MalformedPatchError(
        `${at(path)}invalid patch format of setElementOrder list: ${key} must be a list`,
      );
    }
    const fieldPath = join(path, field);
    const fieldMeta = fieldPatchMeta(meta, field);
    const originalList = hasOwn(original, field) ? original[field] : undefined;
    const patchList = hasOwn(patch, field) ? patch[field] : undefined;
    if (originalList !== undefined && !Array.isArray(originalList)) {
      throw new InvalidPatchError(`${at(fieldPath)}${key} orders a field that is not a list`);
    }
    if (patchList !== undefined && !Array.isArray(patchList)) {
      throw new MalformedPatchError(`${at(fieldPath)}${key} comes with a patch value that is not a list`);
    }
    delete patch[field];
    if (originalList === undefined && patchList === undefined) continue;
    const mergeKey = fieldMeta?.mergeKey ?? '';
    checkOrderMatchesPatch(patchList ?? [], order, mergeKey, fieldPath);

    let merged: unknown[];
    let serverOrder: unknown[];
    if (patchList === undefined) {
      merged = originalList as unknown[];
      serverOrder = merged;
    } else if (originalList === undefined) {
      merged = materializeItems(patchList, fieldMeta, fieldPath);
      serverOrder = [];
    } else if (mergeStrategy(fieldMeta) === 'merge') {
      ({ merged, serverView: serverOrder } = mergeList(originalList, patchList, fieldMeta, false, fieldPath));
    } else {
      merged = materializeItems(patchList, fieldMeta, fieldPath);
      serverOrder = originalList;
    }
    const kind = elementKind([originalList ?? [], patchList ?? []], fieldPath);
    if (kind !== undefined && merged.length > 0) {
      const key = kind === 'object' ? mergeKey : '';
      const [listed, serverOnly] = partition(merged, order, key, fieldPath);
      merged = normalizeOrder(listed, serverOnly, order, serverOrder, key, fieldPath);
    }
    setOwn(original, field, merged);
  }
}

/**
 * The items of the patch list must appear in the `$setElementOrder` list, in the same relative
 * order (deletions and directive items excepted).
 */
function checkOrderMatchesPatch(
  patchList: unknown[],
  order: unknown[],
  mergeKey: string,
  path: string,
): void {
  if (order.length === 0 || patchList.length === 0) return;
  const items = patchList.filter((item) => !(isJsonObject(item) && hasOwn(item, DIRECTIVE)));
  let p = 0;
  for (let o = 0; p < items.length && o < order.length; o++) {
    if (itemKey(items[p], mergeKey, path) === itemKey(order[o], mergeKey, path)) p++;
  }
  if (p < items.length) {
    throw new MalformedPatchError(
      `${at(path)}the order in patch list ${describe(patchList)} doesn't match ${SET_ELEMENT_ORDER} list ${describe(order)}`,
    );
  }
}

/**
 * Merges a list with the `merge` strategy. `merged` is the result; `serverView` is the order the
 * Go code ends up comparing against when a `$setElementOrder` follows: it edits the server's list
 * in place (deletions shift it, new items are appended into its spare room), so the directive sees
 * the first `original.length` items of "server list minus deletions plus additions".
 */
function mergeList(
  original: unknown[],
  patch: unknown[],
  meta: PatchMeta | undefined,
  deleteList: boolean,
  path: string,
): { merged: unknown[]; serverView: unknown[] } {
  const kind = elementKind([original, patch], path);
  if (kind === undefined) return { merged: original, serverView: original };
  if (kind !== 'object') {
    if (deleteList) {
      const doomed = new Set(patch.map((item) => itemKey(item, '', path)));
      return {
        merged: original.filter((item) => !doomed.has(itemKey(item, '', path))),
        serverView: original,
      };
    }
    const [fromPatch, serverOnly] = partition(dedupe([...original, ...patch]), patch, '', path);
    return { merged: normalizeOrder(fromPatch, serverOnly, patch, original, '', path), serverView: original };
  }
  if (deleteList) {
    throw new MalformedPatchError(
      `${at(path)}${DELETE_FROM_PRIMITIVE_LIST} applies only to lists of primitives`,
    );
  }
  const mergeKey = meta?.mergeKey;
  if (mergeKey === undefined || mergeKey === '') {
    throw new InvalidPatchError(`${at(path)}cannot merge a list of objects without a merge key`);
  }
  let base = original;
  const items: JsonObject[] = [];
  let replace = false;
  for (const item of patch as JsonObject[]) {
    if (!hasOwn(item, DIRECTIVE)) {
      items.push(item);
      continue;
    }
    const directive = item[DIRECTIVE];
    if (directive === 'delete') {
      const doomed = itemKey(item, mergeKey, path);
      base = base.filter((entry) => itemKey(entry, mergeKey, path) !== doomed);
    } else if (directive === 'replace') {
      replace = true; // keep scanning: the other directive items are dropped either way
    } else if (directive !== 'merge') {
      throw new MalformedPatchError(`${at(path)}unknown patch type: ${describe(directive)} in list item`);
    }
  }
  if (replace) return { merged: materializeItems(items, meta, path), serverView: original };

  const merged = [...base];
  // The first item with a key is the one a patch item merges into, as findMapInSliceBasedOnKeyValue.
  const position = new Map<string, number>();
  merged.forEach((entry, i) => {
    const key = itemKey(entry, mergeKey, path);
    if (!position.has(key)) position.set(key, i);
  });
  for (const item of items) {
    const key = itemKey(item, mergeKey, path);
    const itemPath = `${path}[${mergeKey}=${key}]`;
    const found = position.get(key);
    if (found === undefined) {
      position.set(key, merged.length);
      merged.push(mergeMap({}, item, meta?.items, itemPath));
    } else {
      merged[found] = mergeMap(merged[found] as JsonObject, item, meta?.items, itemPath);
    }
  }
  const [fromPatch, serverOnly] = partition(merged, items, mergeKey, path);
  return {
    merged: normalizeOrder(fromPatch, serverOnly, items, base, mergeKey, path),
    serverView: merged.slice(0, original.length),
  };
}

/** A patch value with nothing to merge into: nulls and directives resolved, `undefined` to drop. */
function materialize(value: unknown, meta: PatchMeta | undefined, path: string): unknown {
  if (Array.isArray(value)) return materializeItems(value, meta, path);
  if (isJsonObject(value)) return value[DIRECTIVE] === 'delete' ? undefined : mergeMap({}, value, meta, path);
  return value;
}

/** A list taken from the patch as is; items carrying a `$patch` directive are dropped. */
function materializeItems(list: unknown[], meta: PatchMeta | undefined, path: string): unknown[] {
  return list
    .filter((item) => !(isJsonObject(item) && hasOwn(item, DIRECTIVE)))
    .map((item, i) => materialize(item, meta?.items, `${path}[${i}]`));
}

function setOrDelete(object: JsonObject, key: string, value: unknown): void {
  if (value === undefined) delete object[key];
  else setOwn(object, key, value);
}

/** `<prefix>/<field>` → `<field>`. */
function directiveField(key: string, prefix: string, path: string): string {
  const slash = key.indexOf('/');
  if (slash < 0 || key.slice(0, slash) !== prefix) {
    const what = prefix === SET_ELEMENT_ORDER ? 'setElementOrder list' : 'primitive list';
    throw new MalformedPatchError(`${at(path)}invalid patch format of ${what}: ${describe(key)}`);
  }
  return key.slice(slash + 1);
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}
