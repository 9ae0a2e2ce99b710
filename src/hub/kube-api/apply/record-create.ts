/**
 * Field ownership for a create: the object has no previous version and no previous owner, so
 * its one entry holds every field it sets. The same entries {@link recordUpdate} gives with
 * `before` undefined (record-create.test.ts compares them), in one walk of the object that
 * writes the FieldsV1 document directly instead of comparing it with nothing, building field
 * sets, subtracting and encoding them: this runs on every create.
 */
import type { FieldsV1 } from './fieldset.ts';
import { formatTime, type ManagedFieldsEntry } from './managed-fields.ts';
import { UNOWNED_FIELDS } from './ownership.ts';
import { compareElements, fieldElement, type PathElementText } from './path.ts';
import type { SchemaInfo } from './schema-info.ts';
import { type JsonObject, shapeOf } from './shape.ts';

/** Input of {@link recordCreate}: a write through the main resource (status is not owned). */
export interface RecordCreateOptions {
  /** The object as it will be stored (its own managedFields are ignored). */
  readonly after: JsonObject;
  readonly manager: string;
  readonly schema: SchemaInfo;
  readonly now: Date;
}

/** Fields never owned (ownership.ts): at the top level, and within `metadata`. */
const UNOWNED_META = UNOWNED_FIELDS.child(fieldElement('metadata'));

/** The managedFields of a newly created object: one Update entry of `manager`, or none when it sets nothing owned. */
export function recordCreate(opts: RecordCreateOptions): ManagedFieldsEntry[] {
  const fieldsV1 = rootFields(opts.after, opts.schema);
  if (Object.keys(fieldsV1).length === 0) return [];
  return [
    {
      manager: opts.manager,
      operation: 'Update',
      apiVersion: typeof opts.after.apiVersion === 'string' ? opts.after.apiVersion : '',
      time: formatTime(opts.now),
      fieldsType: 'FieldsV1',
      fieldsV1,
    },
  ];
}

/** The root is not a member (it existed before: `{}`), `status` is ignored, unowned elements are not members. */
function rootFields(obj: JsonObject, info: SchemaInfo): FieldsV1 {
  const shape = shapeOf(info, obj);
  if (shape.kind !== 'map') return {};
  const children: [PathElementText, FieldsV1][] = [];
  for (const key of Object.keys(obj)) {
    if (key === 'status') continue;
    const el = fieldElement(key);
    const childInfo = shape.map.field(key).info;
    const value = obj[key];
    if (el === 'f:metadata') {
      const meta = metadataFields(value, childInfo);
      if (meta) children.push([el, meta]);
      continue;
    }
    const doc = UNOWNED_FIELDS.hasMember(el) ? childrenOf(value, childInfo) : memberFields(value, childInfo);
    if (doc) children.push([el, doc]);
  }
  return sorted(children, false);
}

/** `metadata`: not a member itself; its server-set fields are not members; managedFields is not compared. */
function metadataFields(meta: unknown, info: SchemaInfo): FieldsV1 | undefined {
  const shape = shapeOf(info, meta);
  if (shape.kind !== 'map') return undefined;
  const obj = meta as JsonObject;
  const children: [PathElementText, FieldsV1][] = [];
  for (const key of Object.keys(obj)) {
    if (key === 'managedFields') continue;
    const el = fieldElement(key);
    const childInfo = shape.map.field(key).info;
    const doc = UNOWNED_META?.hasMember(el)
      ? childrenOf(obj[key], childInfo)
      : memberFields(obj[key], childInfo);
    if (doc) children.push([el, doc]);
  }
  return children.length === 0 ? undefined : sorted(children, false);
}

/** A value that appeared: a member, with `"."` beside what it holds when it is a granular container. */
function memberFields(value: unknown, info: SchemaInfo): FieldsV1 {
  return childrenOf(value, info, true) ?? {};
}

/**
 * What a value that appeared holds, as FieldsV1 (every leaf and granular container in it is a
 * member); `member` adds `"."` when there are children. Undefined when it holds nothing.
 */
function childrenOf(value: unknown, info: SchemaInfo, member = false): FieldsV1 | undefined {
  const shape = shapeOf(info, value);
  const children: [PathElementText, FieldsV1][] = [];
  if (shape.kind === 'map') {
    const obj = value as JsonObject;
    for (const key of Object.keys(obj)) {
      children.push([fieldElement(key), memberFields(obj[key], shape.map.field(key).info)]);
    }
  } else if (shape.kind === 'list') {
    const indexed = shape.sides[0];
    for (const el of indexed?.order ?? []) {
      children.push([el, memberFields(indexed?.items.get(el), shape.list.item)]);
    }
  }
  if (children.length === 0) return undefined;
  return sorted(children, member);
}

/** FieldsV1 of `children` in the apiserver's element order, `"."` first for a member. */
function sorted(children: [PathElementText, FieldsV1][], member: boolean): FieldsV1 {
  children.sort(([a], [b]) => compareElements(a, b));
  const out: FieldsV1 = member ? { '.': {} } : {};
  for (const [el, doc] of children) out[el] = doc;
  return out;
}
