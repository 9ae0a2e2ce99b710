/**
 * Kinds served over another kind's storage (`KindDefinition.storedAs`), as
 * the apiserver serves `events.k8s.io/v1` Events over the core `v1` Events it
 * stores: requests are translated to the stored kind at the edge (bodies,
 * patches, field selectors) and answers back to the asked-for shape, so
 * ObjectService, the store and watches know one kind only.
 */
import { apiVersionOf, type KindDefinition, type KubeObject } from '../../../api/index.ts';
import type { StoredObject } from '../../../store/index.ts';
import type { PatchType } from '../service/index.ts';

/** The kind whose objects are stored for `def` (itself, unless it is stored as another). */
export function storageOf(def: KindDefinition): KindDefinition {
  return def.storedAs?.kind ?? def;
}

/** An object (or partial object: an apply configuration, a merge patch) in the stored kind's shape. */
export function toStorage(def: KindDefinition, object: KubeObject): KubeObject {
  const storedAs = def.storedAs;
  if (!storedAs || !isObject(object)) return object;
  const renamed = rename(object, storedAs.fields);
  if (renamed.apiVersion !== undefined) renamed.apiVersion = apiVersionOf(storedAs.kind);
  return renamed as KubeObject;
}

/** A stored object in `def`'s shape. */
export function fromStorage(def: KindDefinition, object: KubeObject): KubeObject {
  const storedAs = def.storedAs;
  if (!storedAs) return object;
  const renamed = rename(object, inverse(storedAs.fields)) as KubeObject;
  renamed.apiVersion = apiVersionOf(def);
  renamed.kind = def.kind;
  return renamed;
}

/** A stored object's text in `def`'s shape (the text as is for a kind stored as itself). */
export function presentStored(def: KindDefinition, stored: StoredObject): StoredObject {
  if (!def.storedAs) return stored;
  const object = fromStorage(def, JSON.parse(stored.value) as KubeObject);
  return { ...stored, value: JSON.stringify(object) };
}

/**
 * A field selector in the stored kind's names: the first segment of each
 * field is renamed (`regarding.name=x` → `involvedObject.name=x`).
 */
export function fieldSelectorToStorage(
  def: KindDefinition,
  selector: string | undefined,
): string | undefined {
  const fields = def.storedAs?.fields;
  if (!fields || !selector) return selector;
  return selector
    .split(',')
    .map((term) => {
      const match = /^(\s*)([^.=!\s]+)(.*)$/s.exec(term);
      if (!match) return term;
      const [, space, head, rest] = match as unknown as [string, string, string, string];
      return `${space}${fields[head] ?? head}${rest}`;
    })
    .join(',');
}

/** A patch body in the stored kind's names (JSON patch: its paths; the others: their top-level fields). */
export function patchToStorage(def: KindDefinition, type: PatchType, patch: unknown): unknown {
  const fields = def.storedAs?.fields;
  if (!fields) return patch;
  if (type !== 'json') return isObject(patch) ? toStorage(def, patch as KubeObject) : patch;
  if (!Array.isArray(patch)) return patch;
  const path = (value: unknown) => {
    if (typeof value !== 'string') return value;
    const [, head, ...rest] = value.split('/');
    return head !== undefined && fields[head] ? ['', fields[head], ...rest].join('/') : value;
  };
  return patch.map((operation) =>
    isObject(operation)
      ? {
          ...operation,
          path: path(operation.path),
          ...('from' in operation ? { from: path(operation.from) } : {}),
        }
      : operation,
  );
}

function rename(object: Record<string, unknown>, names: Readonly<Record<string, string>>) {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(object)) out[names[key] ?? key] = value;
  return out;
}

const inverses = new WeakMap<object, Record<string, string>>();

function inverse(fields: Readonly<Record<string, string>>): Record<string, string> {
  let found = inverses.get(fields);
  if (!found) {
    found = Object.fromEntries(Object.entries(fields).map(([view, stored]) => [stored, view]));
    inverses.set(fields, found);
  }
  return found;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
