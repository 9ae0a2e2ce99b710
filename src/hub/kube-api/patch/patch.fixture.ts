/**
 * Fixtures of the patch functions' tests (`*.fixture.ts`: imported by tests only): inputs frozen so
 * that a mutation throws, the proof that a result shares nothing with them, and the patch metadata
 * of a test type shaped like strategicpatch's own.
 */
import assert from 'node:assert/strict';
import type { PatchMeta } from './patch-meta.ts';

/** Deep-freezes a JSON value and returns it: a patch function that mutates it throws. */
export function frozen<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) frozen(child);
    Object.freeze(value);
  }
  return value;
}

/**
 * Asserts no object or array inside `result` is frozen. With frozen inputs this proves the result
 * shares no node with them, so changing it later cannot change the inputs.
 */
export function assertUnshared(result: unknown, path = '$'): void {
  if (typeof result !== 'object' || result === null) return;
  assert.equal(Object.isFrozen(result), false, `${path} is shared with an input`);
  for (const [key, child] of Object.entries(result)) assertUnshared(child, `${path}.${key}`);
}

/**
 * A recursive test type shaped like strategicpatch's own test struct: every list flavour and
 * strategy, nested in itself.
 */
const item: { fields: Record<string, PatchMeta> } = { fields: {} };
const retainKeysItem: PatchMeta = {
  strategy: 'retainKeys',
  fields: {
    mergingIntList: { strategy: 'merge' },
    mergingList: { strategy: 'merge', mergeKey: 'name', items: item },
  },
};
Object.assign(item.fields, {
  mergingList: { strategy: 'merge', mergeKey: 'name', items: item },
  nonMergingList: { items: item },
  mergingIntList: { strategy: 'merge' },
  nonMergingIntList: {},
  simpleMap: {},
  replacingItem: { strategy: 'replace' },
  retainKeysMap: retainKeysItem,
  retainKeysMergingList: { strategy: 'merge,retainKeys', mergeKey: 'name', items: item },
} satisfies Record<string, PatchMeta>);
/** Patch metadata of that test type. */
export const mergeItemMeta: PatchMeta = item;
