/**
 * Arbitraries that break valid objects: random edits at random depths (delete, replace, retype,
 * unknown fields, huge strings, nulls, arrays for objects, invalid names and labels) and random
 * JSON patches whose pointers are chosen against the object they patch.
 */
import fc from 'fast-check';

/** Keys worth injecting: prototype names, patch directives, empty and dotted keys, and anything. */
const keyArb = fc.oneof(
  fc.constantFrom(
    '__proto__',
    'constructor',
    'toString',
    'hasOwnProperty',
    'valueOf',
    '$patch',
    '$retainKeys',
    '$setElementOrder/data',
    '$deleteFromPrimitiveList/finalizers',
    '',
    'a.b',
    'spec',
    'status',
    'metadata',
    'x-unknown',
  ),
  fc.string({ maxLength: 12 }),
);

const specialValueArb = fc.constantFrom<unknown>(
  {},
  [],
  '',
  0,
  -1,
  1.5,
  1e308,
  true,
  false,
  '\u0000',
  '\u{1F4A5}',
  'null',
  '2024-13-45T99:99:99Z',
  { $patch: 'delete' },
  { $patch: 'replace' },
  [null],
  [{}],
);

/** A random JSON value, small or special. */
export const valueArb: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
  { weight: 2, arbitrary: specialValueArb },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
);

/** Invalid names, and valid ones that differ from the URL's (a rename). */
const badNameArb = fc.oneof(
  fc.constantFrom('other', 'target-configmap', 'fuzz', 'a.b-c'),
  fc.constantFrom(
    '',
    'UPPER',
    '-lead',
    'trail-',
    'a_b',
    'a b',
    'a/b',
    '..',
    '.',
    'a..b',
    'x'.repeat(254),
    '\u00e9',
    '%2F',
    'a%20b',
    '__proto__',
    'constructor',
  ),
  fc.string({ maxLength: 20 }),
);
const badLabelKeyArb = fc.oneof(
  fc.constantFrom(
    '',
    '/x',
    'a/',
    'UP/x',
    'a'.repeat(64),
    'a b',
    '-x',
    'x-',
    'example.com/',
    'a/b/c',
    '__proto__',
    'constructor',
  ),
  fc.string({ maxLength: 20 }),
);
const badLabelValueArb = fc.oneof(
  fc.constantFrom<unknown>('-x', 'x'.repeat(64), 'a b', 5, null, true, {}, []),
  fc.string({ maxLength: 20 }),
);

/** One edit of an object; `at` picks the node (modulo the number of nodes). */
export type Mutation =
  | { readonly op: 'delete' | 'retype' | 'null' | 'wrap'; readonly at: number }
  | { readonly op: 'replace'; readonly at: number; readonly value: unknown }
  | { readonly op: 'inject'; readonly at: number; readonly key: string; readonly value: unknown }
  | { readonly op: 'huge'; readonly at: number; readonly length: number }
  | { readonly op: 'name'; readonly value: string }
  | { readonly op: 'label'; readonly key: string; readonly value: unknown }
  | { readonly op: 'root'; readonly value: unknown };

const at = fc.nat();
/** One random edit. */
export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ op: fc.constant('delete' as const), at }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('replace' as const), at, value: valueArb }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('retype' as const), at }) },
  {
    weight: 3,
    arbitrary: fc.record({ op: fc.constant('inject' as const), at, key: keyArb, value: valueArb }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('huge' as const),
      at,
      length: fc.integer({ min: 300, max: 300_000 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('null' as const), at }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('wrap' as const), at }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('name' as const), value: badNameArb }) },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant('label' as const), key: badLabelKeyArb, value: badLabelValueArb }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('root' as const), value: valueArb }) },
);

/** Zero to four edits (zero keeps the valid object, so valid writes are exercised too). */
export const mutationsArb = fc.array(mutationArb, { maxLength: 4 });

type Container = Record<string, unknown> | unknown[];
interface Slot {
  readonly parent: Container;
  readonly key: string | number;
}

const isContainer = (value: unknown): value is Container => typeof value === 'object' && value !== null;

/** Every node below `root` as the slot holding it, depth first. */
function slotsOf(root: unknown): Slot[] {
  const slots: Slot[] = [];
  const walk = (value: unknown) => {
    if (!isContainer(value)) return;
    const keys: Array<string | number> = Array.isArray(value)
      ? value.map((_, index) => index)
      : Object.keys(value);
    for (const key of keys) {
      slots.push({ parent: value, key });
      walk((value as Record<string | number, unknown>)[key]);
    }
  };
  walk(root);
  return slots;
}

/** Sets an own property, even `__proto__`, the way JSON.parse would. */
function setOwn(parent: Container, key: string | number, value: unknown): void {
  Object.defineProperty(parent, key, { value, writable: true, enumerable: true, configurable: true });
}

function remove(slot: Slot): void {
  if (Array.isArray(slot.parent)) slot.parent.splice(slot.key as number, 1);
  else delete slot.parent[slot.key as string];
}

/** The same value with another JSON type. */
function retyped(value: unknown): unknown {
  if (typeof value === 'string') return value.length % 2 === 0 ? value.length : value.length > 0;
  if (typeof value === 'number') return String(value);
  if (typeof value === 'boolean') return value ? 'true' : 1;
  if (Array.isArray(value)) return Object.fromEntries(value.map((item, index) => [String(index), item]));
  if (value === null) return {};
  return Object.values(value as object);
}

/** Applies edits to a copy of `object`; the result may not even be an object. */
export function mutate(object: unknown, mutations: readonly Mutation[]): unknown {
  let root = structuredClone(object);
  for (const mutation of mutations) {
    if (mutation.op === 'root') {
      root = structuredClone(mutation.value);
      continue;
    }
    if (mutation.op === 'name' || mutation.op === 'label') {
      if (!isContainer(root) || Array.isArray(root)) continue;
      const metadata = isContainer(root.metadata) && !Array.isArray(root.metadata) ? root.metadata : {};
      setOwn(root, 'metadata', metadata);
      if (mutation.op === 'name') setOwn(metadata, 'name', mutation.value);
      else {
        const labels = isContainer(metadata.labels) && !Array.isArray(metadata.labels) ? metadata.labels : {};
        setOwn(labels, mutation.key, structuredClone(mutation.value));
        setOwn(metadata, 'labels', labels);
      }
      continue;
    }
    if (mutation.op === 'inject') {
      const containers = [
        root,
        ...slotsOf(root).map((slot) => (slot.parent as Record<string | number, unknown>)[slot.key]),
      ].filter((value): value is Record<string, unknown> => isContainer(value) && !Array.isArray(value));
      const target = containers[mutation.at % Math.max(containers.length, 1)];
      if (target) setOwn(target, mutation.key, structuredClone(mutation.value));
      continue;
    }
    const slots = slotsOf(root);
    const slot = slots[mutation.at % Math.max(slots.length, 1)];
    if (!slot) continue;
    const current = (slot.parent as Record<string | number, unknown>)[slot.key];
    switch (mutation.op) {
      case 'delete':
        remove(slot);
        break;
      case 'replace':
        setOwn(slot.parent, slot.key, structuredClone(mutation.value));
        break;
      case 'retype':
        setOwn(slot.parent, slot.key, retyped(current));
        break;
      case 'huge':
        setOwn(slot.parent, slot.key, 'x'.repeat(mutation.length));
        break;
      case 'null':
        setOwn(slot.parent, slot.key, null);
        break;
      case 'wrap':
        setOwn(slot.parent, slot.key, [current]);
        break;
    }
  }
  return root;
}

/** One JSON patch operation before its pointers are chosen against the live object. */
export interface PatchOpSeed {
  readonly op: string;
  readonly path: number;
  readonly from: number;
  /** How the path is formed: an existing node, a new child, `-` (append), or random text. */
  readonly shape: 'existing' | 'child' | 'append' | 'random' | 'root';
  readonly randomPath: string;
  readonly childKey: string;
  readonly value: unknown;
  readonly omitValue: boolean;
}

/** Random JSON patches: ops of every kind (and unknown ones), pointers mostly into the object. */
export const jsonPatchSeedArb: fc.Arbitrary<PatchOpSeed[]> = fc.array(
  fc.record({
    op: fc.oneof(
      { weight: 8, arbitrary: fc.constantFrom('add', 'remove', 'replace', 'move', 'copy', 'test') },
      { weight: 1, arbitrary: fc.string({ maxLength: 6 }) },
    ),
    path: fc.nat(),
    from: fc.nat(),
    shape: fc.constantFrom('existing', 'existing', 'child', 'append', 'random', 'root'),
    randomPath: fc.oneof(
      fc.constantFrom(
        '/',
        '//',
        '/~',
        '/~2',
        '/metadata/',
        '/spec/-/x',
        'spec',
        '/0',
        '/metadata/labels/a~1b',
      ),
      fc.string({ maxLength: 10 }),
    ),
    childKey: keyArb,
    value: valueArb,
    omitValue: fc.boolean(),
  }),
  { minLength: 1, maxLength: 4 },
);

const escapePointer = (key: string | number) => String(key).replace(/~/g, '~0').replace(/\//g, '~1');

/** Every JSON pointer of an object's nodes. */
function pointersOf(root: unknown): string[] {
  const pointers: string[] = [];
  const walk = (value: unknown, pointer: string) => {
    if (!isContainer(value)) return;
    const keys: Array<string | number> = Array.isArray(value)
      ? value.map((_, index) => index)
      : Object.keys(value);
    for (const key of keys) {
      const child = `${pointer}/${escapePointer(key)}`;
      pointers.push(child);
      walk((value as Record<string | number, unknown>)[key], child);
    }
  };
  walk(root, '');
  return pointers;
}

/** Turns seeds into a JSON patch against `live`. */
export function jsonPatchFor(live: unknown, seeds: readonly PatchOpSeed[]): unknown[] {
  const pointers = pointersOf(live);
  const pick = (index: number) => pointers[index % Math.max(pointers.length, 1)] ?? '';
  return seeds.map((seed) => {
    const base = pick(seed.path);
    const path =
      seed.shape === 'existing'
        ? base
        : seed.shape === 'child'
          ? `${base}/${escapePointer(seed.childKey)}`
          : seed.shape === 'append'
            ? `${base}/-`
            : seed.shape === 'root'
              ? ''
              : seed.randomPath;
    const op: Record<string, unknown> = { op: seed.op, path };
    if (seed.op === 'move' || seed.op === 'copy') op.from = pick(seed.from);
    if (!seed.omitValue) op.value = structuredClone(seed.value);
    return op;
  });
}
