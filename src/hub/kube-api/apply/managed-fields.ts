/**
 * `metadata.managedFields` as the apiserver writes it: one entry per (manager, operation,
 * subresource), each with the FieldsV1 of what that manager owns, sorted as the apiserver
 * sorts them, and the cap on the number of Update entries.
 */
import { InvalidManagedFieldsError } from './errors.ts';
import { FieldSet, type FieldsV1 } from './fieldset.ts';

/** One entry of `metadata.managedFields`, field for field as the apiserver writes it. */
export interface ManagedFieldsEntry {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion: string;
  /** RFC 3339, seconds precision, UTC: when the manager last changed the object. */
  time?: string;
  fieldsType: 'FieldsV1';
  fieldsV1: FieldsV1;
  subresource?: string;
}

/** Who wrote fields: one entry's identity. */
export interface ManagerId {
  readonly manager: string;
  readonly operation: 'Apply' | 'Update';
  /** `status` etc.; undefined for the main resource. */
  readonly subresource?: string | undefined;
}

/** A decoded entry: a manager and the fields it owns. */
export interface ManagerFields extends ManagerId {
  readonly apiVersion: string;
  readonly time: string | undefined;
  readonly fields: FieldSet;
}

/** The name under which the oldest Update entries are merged once there are too many. */
export const ANCIENT_CHANGES_MANAGER = 'ancient-changes';

/** The apiserver keeps at most this many Update entries. */
export const MAX_UPDATE_MANAGERS = 10;

/** Map key of a manager identity. */
export function managerKey(id: ManagerId): string {
  return JSON.stringify([id.manager, id.operation, id.subresource ?? '']);
}

/**
 * Decodes `metadata.managedFields` (undefined or null: none).
 * @throws InvalidManagedFieldsError for anything the apiserver would not have written: not a
 * list, an unknown operation or fieldsType, undecodable FieldsV1, two entries for one manager.
 */
export function decodeManagedFields(entries: unknown): ManagerFields[] {
  if (entries === undefined || entries === null) return [];
  if (!Array.isArray(entries)) throw new InvalidManagedFieldsError('managedFields must be a list');
  const seen = new Set<string>();
  return entries.map((raw, i) => {
    const e = decodeEntry(raw, i);
    const key = managerKey(e);
    if (seen.has(key)) {
      throw new InvalidManagedFieldsError(`managedFields[${i}]: duplicate entry for manager ${e.manager}`);
    }
    seen.add(key);
    return e;
  });
}

function decodeEntry(raw: unknown, i: number): ManagerFields {
  const where = `managedFields[${i}]`;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new InvalidManagedFieldsError(`${where}: must be an object`);
  }
  const e = raw as Record<string, unknown>;
  const optionalString = (name: string): string | undefined => {
    const v = e[name];
    if (v === undefined || v === null || v === '') return undefined;
    if (typeof v !== 'string') throw new InvalidManagedFieldsError(`${where}.${name}: must be a string`);
    return v;
  };
  if (typeof e.manager !== 'string')
    throw new InvalidManagedFieldsError(`${where}.manager: must be a string`);
  if (e.operation !== 'Apply' && e.operation !== 'Update') {
    throw new InvalidManagedFieldsError(`${where}.operation: must be "Apply" or "Update"`);
  }
  if (e.fieldsType !== undefined && e.fieldsType !== 'FieldsV1') {
    throw new InvalidManagedFieldsError(`${where}.fieldsType: must be "FieldsV1"`);
  }
  let fields: FieldSet;
  try {
    fields = e.fieldsV1 === undefined || e.fieldsV1 === null ? new FieldSet() : decodeFields(e.fieldsV1);
  } catch (cause) {
    throw new InvalidManagedFieldsError(`${where}.fieldsV1: ${(cause as Error).message}`, { cause });
  }
  return {
    manager: e.manager,
    operation: e.operation,
    subresource: optionalString('subresource'),
    apiVersion: optionalString('apiVersion') ?? '',
    time: optionalString('time'),
    fields,
  };
}

/**
 * FieldSets decoded lately, by the JSON text of their FieldsV1: a write decodes the entries
 * of the object it changes, and most writes are by the same few managers of the same fields.
 * Sharing them is safe: a FieldSet is never changed once built.
 */
const decoded = new Map<string, FieldSet>();
const MAX_DECODED = 1024;

/** Their FieldsV1, for FieldSets encoded before (frozen: they may end up in several objects). */
const encoded = new WeakMap<FieldSet, FieldsV1>();

/**
 * Every object owned through a keyed list (ownerReferences by uid) has its own field set, so
 * the text cache above (1,024 sets) misses for a controller rewriting 10,000 objects, and each
 * write encoded the same set again. A deep-frozen document (an informer's copy, or one encoded
 * here) cannot change and is its set's encoding (what this process stores is always its own
 * encoding, from {@link encodeFields} or `recordCreate`), so the set decoded from it is encoded
 * as that same document. Only the set points at the document (a WeakMap keyed by the set): a
 * map from documents to their sets would keep a set alive per cached object (1.7 kB for a
 * Mailbox), which in placement-fanout looked to cost more in garbage collection than the
 * decode it saved.
 */
function decodeFields(doc: unknown): FieldSet {
  const text = JSON.stringify(doc);
  let fields = decoded.get(text);
  if (!fields) {
    fields = FieldSet.fromFieldsV1(doc);
    if (decoded.size >= MAX_DECODED) decoded.clear();
    decoded.set(text, fields);
  }
  if (!encoded.has(fields) && isDeepFrozen(doc)) encoded.set(fields, doc as FieldsV1);
  return fields;
}

function encodeFields(fields: FieldSet): FieldsV1 {
  let doc = encoded.get(fields);
  if (!doc) {
    doc = deepFreeze(fields.toFieldsV1());
    encoded.set(fields, doc);
  }
  return doc;
}

/** Whether a FieldsV1 document is frozen all the way down (as encoded here, or cached by an informer). */
function isDeepFrozen(doc: unknown): boolean {
  if (doc === null || typeof doc !== 'object' || !Object.isFrozen(doc)) return false;
  for (const child of Object.values(doc)) if (!isDeepFrozen(child)) return false;
  return true;
}

function deepFreeze(doc: FieldsV1): FieldsV1 {
  for (const child of Object.values(doc)) deepFreeze(child);
  return Object.freeze(doc);
}

/**
 * Encodes managers as `metadata.managedFields`, dropping those that own nothing, in the
 * apiserver's order: Apply before Update, then by time, manager, apiVersion, subresource.
 */
export function encodeManagedFields(managers: Iterable<ManagerFields>): ManagedFieldsEntry[] {
  const kept = [...managers].filter((m) => !m.fields.isEmpty());
  kept.sort(
    (a, b) =>
      cmp(a.operation, b.operation) ||
      seconds(a.time) - seconds(b.time) ||
      cmp(a.manager, b.manager) ||
      cmp(a.apiVersion, b.apiVersion) ||
      cmp(a.subresource ?? '', b.subresource ?? ''),
  );
  return kept.map((m) => ({
    manager: m.manager,
    operation: m.operation,
    apiVersion: m.apiVersion,
    ...(m.time === undefined ? {} : { time: m.time }),
    fieldsType: 'FieldsV1',
    fieldsV1: encodeFields(m.fields),
    ...(m.subresource ? { subresource: m.subresource } : {}),
  }));
}

/**
 * Merges the oldest Update entries into one `ancient-changes` entry until at most `max` Update
 * entries remain, as the apiserver does so managedFields cannot grow without bound.
 */
export function capUpdateManagers(
  managers: readonly ManagerFields[],
  max = MAX_UPDATE_MANAGERS,
): ManagerFields[] {
  const isBucket = (m: ManagerFields) =>
    m.operation === 'Update' && m.manager === ANCIENT_CHANGES_MANAGER && !m.subresource;
  let updates = managers.filter((m) => m.operation === 'Update').length;
  if (updates <= max) return [...managers];
  const oldestFirst = managers
    .filter((m) => m.operation === 'Update' && !isBucket(m))
    .sort((a, b) => seconds(a.time) - seconds(b.time) || cmp(managerKey(a), managerKey(b)));
  const merged = new Set<ManagerFields>();
  let bucket = managers.find(isBucket);
  for (const m of oldestFirst) {
    if (updates <= max) break;
    if (bucket) updates--;
    bucket = {
      manager: ANCIENT_CHANGES_MANAGER,
      operation: 'Update',
      subresource: undefined,
      apiVersion: m.apiVersion,
      time: later(bucket?.time, m.time),
      fields: bucket ? bucket.fields.union(m.fields) : m.fields,
    };
    merged.add(m);
  }
  const rest = managers.filter((m) => !merged.has(m) && !isBucket(m));
  return bucket ? [...rest, bucket] : rest;
}

/**
 * Which managedFields an update (create, update, non-apply patch) starts from, as the apiserver
 * decides: a subresource write always keeps the live ones; a client that sends `[]` or `[{}]`
 * resets them; a client that sends a valid non-empty list replaces them; otherwise the live ones.
 */
export function managedFieldsBase(opts: {
  live: readonly ManagedFieldsEntry[] | undefined;
  incoming: unknown;
  subresource?: string | undefined;
}): readonly ManagedFieldsEntry[] {
  const live = opts.live ?? [];
  const incoming = opts.incoming;
  if (opts.subresource || !Array.isArray(incoming)) return live;
  if (incoming.length === 0) return [];
  const [first] = incoming;
  if (
    incoming.length === 1 &&
    first !== null &&
    typeof first === 'object' &&
    Object.keys(first).length === 0
  ) {
    return [];
  }
  try {
    decodeManagedFields(incoming);
    return incoming as ManagedFieldsEntry[];
  } catch {
    return live;
  }
}

/** `now` as the apiserver writes managedFields times: RFC 3339 in UTC, whole seconds. */
export function formatTime(now: Date): string {
  return `${now.toISOString().slice(0, 19)}Z`;
}

function seconds(time: string | undefined): number {
  if (time === undefined) return 0;
  const ms = Date.parse(time);
  return Number.isNaN(ms) ? 0 : Math.floor(ms / 1000);
}

function later(a: string | undefined, b: string | undefined): string | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return seconds(a) >= seconds(b) ? a : b;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
