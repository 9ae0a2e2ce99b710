/**
 * The copies a write works on and the fields it drops: a borrowed body is
 * never changed (what must change is copied), and fields the schema does not
 * know are removed before field ownership is recorded, answered per the
 * write's `fieldValidation`.
 */
import {
  hasPrunableFields,
  type KindDefinition,
  type KubeObject,
  pruneUnknownFields,
} from '../../../api/index.ts';
import type { ClientWriteOptions as WriteOptions } from '../../../controller/index.ts';
import { errors } from '../errors.ts';
import { isRecord } from './request-checks.ts';

/**
 * The body to work on: with `borrowBody` (and a body that is an object) a copy of its top
 * level and metadata, sharing everything below with the caller's (see {@link ownCopy}
 * before changing anything there); otherwise a deep copy.
 */
export function borrowOrCopy(body: KubeObject, options: Pick<WriteOptions, 'borrowBody'>): KubeObject {
  if (!options.borrowBody || !isRecord(body)) return structuredClone(body);
  return isRecord(body.metadata) ? { ...body, metadata: { ...body.metadata } } : { ...body };
}

/**
 * `object` without unknown fields and nulls, ready to be changed below its top level and
 * metadata: itself when it holds none and its kind has no `normalize` (nothing of a
 * borrowed body is changed then), else, with `borrowBody` (parts of the object are not the
 * service's: the body's, or a cached stored object's status), a deep copy with them
 * dropped, without it the object itself with them dropped (see {@link dropUnknownFields}).
 */
export function ownCopy(def: KindDefinition, object: KubeObject, options: WriteOptions): KubeObject {
  if (!def.normalize && !hasPrunableFields(def, object)) return object;
  const owned = options.borrowBody ? structuredClone(object) : object;
  dropUnknownFields(def, owned, options);
  return owned;
}

/** Unknown fields a strict refusal names one by one (a hostile body may hold thousands). */
const MAX_NAMED_FIELDS = 100;

/**
 * Removes fields the schema does not know before field ownership is
 * recorded (so managedFields never name them), answering per
 * `fieldValidation`: Strict refuses, Warn warns, Ignore drops silently.
 */
export function dropUnknownFields(def: KindDefinition, object: KubeObject, options: WriteOptions): void {
  const unknownFields = pruneUnknownFields(def, object);
  if (unknownFields.length === 0) return;
  const mode = options.fieldValidation ?? 'Warn';
  if (mode === 'Strict') {
    const named = unknownFields.slice(0, MAX_NAMED_FIELDS).map((field) => `unknown field "${field}"`);
    if (unknownFields.length > MAX_NAMED_FIELDS)
      named.push(`${unknownFields.length - MAX_NAMED_FIELDS} more`);
    throw errors.badRequest(
      `${def.kind} in version "${def.version}" cannot be handled as a ${def.kind}: strict decoding error: ${named.join(', ')}`,
    );
  }
  if (mode === 'Warn' && options.warnings) {
    // A set, not `includes` per field: a body with 30,000 unknown keys took seconds of the loop.
    const told = new Set(options.warnings);
    for (const field of unknownFields) {
      const warning = `unknown field "${field}"`;
      if (told.has(warning)) continue;
      told.add(warning);
      options.warnings.push(warning);
    }
  }
}
