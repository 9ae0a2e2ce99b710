/**
 * How the walkers (field sets, merge, compare, prune) see a value at one position: as a leaf,
 * as a granular map, or as a granular list whose items are identified by path elements.
 * All walkers decide through {@link shapeOf}, so they always agree on what a field is.
 */
import { keyElement, type PathElementText, valueElement } from './path.ts';
import type { ListInfo, MapInfo, SchemaInfo } from './schema-info.ts';

/** A JSON object. */
export type JsonObject = Record<string, unknown>;

/** The items of a granular list, by element, in list order. */
export interface IndexedList {
  readonly order: readonly PathElementText[];
  readonly items: ReadonlyMap<PathElementText, unknown>;
}

export type Shape =
  | { readonly kind: 'leaf' }
  | { readonly kind: 'map'; readonly map: MapInfo }
  | { readonly kind: 'list'; readonly list: ListInfo; readonly sides: readonly (IndexedList | undefined)[] };

const LEAF: Shape = { kind: 'leaf' };

/**
 * The shape of the values found at one position (undefined values are absent sides).
 * Granular only when every present side is a container of the same kind, the schema makes it
 * granular, and one side is non-empty (two empty sides are a leaf, as structured-merge-diff
 * keeps the empty/null distinction). A list that cannot be keyed (duplicates, missing keys,
 * objects in a set) is a leaf: it is then owned and replaced as a whole.
 */
export function shapeOf(info: SchemaInfo, ...values: unknown[]): Shape {
  // One pass without allocating: this runs at every position of every object compared.
  let present = 0;
  let objects = 0;
  let arrays = 0;
  let filled = false;
  for (const v of values) {
    if (v === undefined) continue;
    present++;
    if (Array.isArray(v)) {
      arrays++;
      filled ||= v.length > 0;
    } else if (isJsonObject(v)) {
      objects++;
      filled ||= hasOwnEnumerable(v);
    }
  }
  if (present === 0) return LEAF;
  if (objects === present) {
    const map = info.map;
    if (!map || map.atomic || !filled) return LEAF;
    return { kind: 'map', map };
  }
  if (arrays === present) {
    const list = info.list;
    if (!list || list.type === 'atomic' || !filled) return LEAF;
    const sides = values.map((v) => (Array.isArray(v) ? indexList(list, v) : undefined));
    if (sides.some((s, i) => s === undefined && values[i] !== undefined)) return LEAF;
    return { kind: 'list', list, sides };
  }
  return LEAF;
}

function hasOwnEnumerable(obj: JsonObject): boolean {
  for (const key in obj) if (Object.hasOwn(obj, key)) return true;
  return false;
}

/** Items of a set or map list by element; undefined when an item has no valid element or repeats one. */
export function indexList(list: ListInfo, values: readonly unknown[]): IndexedList | undefined {
  const items = new Map<PathElementText, unknown>();
  const order: PathElementText[] = [];
  for (const item of values) {
    const el = itemElement(list, item);
    if (el === undefined || items.has(el)) return undefined;
    items.set(el, item);
    order.push(el);
  }
  return { order, items };
}

/** Why an item of a set or map list has no element, or undefined when it has one. */
export function itemProblem(list: ListInfo, item: unknown): string | undefined {
  if (list.type === 'set') {
    return item !== null && typeof item === 'object'
      ? `associative list without keys has an element that's a ${Array.isArray(item) ? 'list' : 'map'} type`
      : undefined;
  }
  if (!isJsonObject(item)) return 'associative list with keys has an element that is not a map type';
  for (const key of list.keys) {
    const value = item[key] ?? list.keyDefault(key);
    if (value === undefined || value === null) {
      return `associative list with keys has an element that omits key field ${JSON.stringify(key)} (and doesn't have default value)`;
    }
  }
  return undefined;
}

/** The path element of an item of a set (`v:`) or map (`k:`) list, undefined if it has none. */
export function itemElement(list: ListInfo, item: unknown): PathElementText | undefined {
  if (itemProblem(list, item) !== undefined) return undefined;
  if (list.type === 'set') return valueElement(item);
  const obj = item as JsonObject;
  return keyElement(list.keys.map((k) => [k, obj[k] ?? list.keyDefault(k)] as const));
}

/** The value under `key` if `obj` has it as its own property (never an inherited one). */
export function entry(obj: JsonObject, key: string): unknown {
  return Object.hasOwn(obj, key) ? obj[key] : undefined;
}

/** Sets `obj[key]` as an own enumerable property, even for `__proto__`. */
export function put(obj: JsonObject, key: string, value: unknown): void {
  if (key === '__proto__') {
    Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    obj[key] = value;
  }
}

export function isJsonObject(v: unknown): v is JsonObject {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Whether `v` is an object or array with nothing in it. */
export function isEmptyContainer(v: unknown): boolean {
  if (Array.isArray(v)) return v.length === 0;
  return isJsonObject(v) && Object.keys(v).length === 0;
}
