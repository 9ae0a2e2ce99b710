/**
 * JSON patch (RFC 6902), as `kubectl patch --type json` sends it (`application/json-patch+json`).
 * Operations are checked here first so every failure is a `PatchError` with a readable message;
 * fast-json-patch then applies them to a private copy of the target.
 */

import type { Operation } from 'fast-json-patch';
import jsonpatch from 'fast-json-patch';
import { cloneJson, describe, isJsonObject, type JsonObject } from './json-value.ts';
import { InvalidPatchError, MalformedPatchError } from './patch-error.ts';

const OPS = new Set(['add', 'remove', 'replace', 'move', 'copy', 'test']);
const OPS_WITH_VALUE = new Set(['add', 'replace', 'test']);
const OPS_WITH_FROM = new Set(['move', 'copy']);

/**
 * Checks the structure of a JSON patch without a target: an array of objects, each with a known
 * `op`, a valid JSON pointer `path` (RFC 6901), `from` for move/copy, `value` for add/replace/test,
 * and no move into its own child.
 *
 * @throws MalformedPatchError when `ops` is not an array of objects (the apiserver answers 400).
 * @throws InvalidPatchError naming the operation index and the problem otherwise (422).
 */
export function validateJsonPatch(ops: unknown): asserts ops is readonly Operation[] {
  if (!Array.isArray(ops)) {
    throw new MalformedPatchError(`json patch must be an array of operations, got ${describe(ops)}`);
  }
  ops.forEach((op: unknown, index) => {
    if (!isJsonObject(op)) {
      throw new MalformedPatchError(`json patch operation ${index} must be an object, got ${describe(op)}`);
    }
    validateOperation(op, index);
  });
}

function validateOperation(op: JsonObject, index: number): void {
  const where = `json patch operation ${index}`;
  if (typeof op.op !== 'string' || !OPS.has(op.op)) {
    throw new InvalidPatchError(
      `${where}: unknown op ${describe(op.op)} (expected one of ${[...OPS].join(', ')})`,
    );
  }
  checkPointer(op.path, `${where} (${op.op}): path`);
  if (OPS_WITH_FROM.has(op.op)) {
    checkPointer(op.from, `${where} (${op.op}): from`);
    if (op.op === 'move' && isProperPrefix(op.from as string, op.path as string)) {
      throw new InvalidPatchError(`${where} (move): cannot move ${op.from} into its own child ${op.path}`);
    }
  }
  if (OPS_WITH_VALUE.has(op.op) && op.value === undefined) {
    throw new InvalidPatchError(`${where} (${op.op} ${op.path}): missing value`);
  }
  if (op.op === 'remove' && op.path === '') {
    throw new InvalidPatchError(`${where} (remove): cannot remove the whole document`);
  }
}

function checkPointer(pointer: unknown, what: string): void {
  if (typeof pointer !== 'string') {
    throw new InvalidPatchError(`${what} must be a JSON pointer string, got ${describe(pointer)}`);
  }
  if (pointer !== '' && !pointer.startsWith('/')) {
    throw new InvalidPatchError(
      `${what} ${describe(pointer)} is not a JSON pointer: it must be empty or start with "/"`,
    );
  }
  // RFC 6901: "~" only appears escaped, as "~0" (for "~") or "~1" (for "/").
  if (/~(?![01])/.test(pointer)) {
    throw new InvalidPatchError(`${what} ${describe(pointer)} has a "~" not followed by 0 or 1`);
  }
}

function isProperPrefix(from: string, path: string): boolean {
  return path.startsWith(`${from}/`) || (from === '' && path !== '');
}

/**
 * Applies an RFC 6902 JSON patch to `target` and returns the result.
 *
 * Operations run in order on a private copy; the first failing one aborts the whole patch.
 * Neither input is mutated and the result shares no object with them.
 *
 * @throws MalformedPatchError when `ops` is not an array of objects (the apiserver answers 400).
 * @throws InvalidPatchError for an invalid operation, a failed `test` or a path that does not
 *   exist (the apiserver answers 422).
 */
export function applyJsonPatch(target: unknown, ops: unknown): unknown {
  validateJsonPatch(ops);
  let document = cloneJson(target);
  // Values are inserted by reference, so the operations are copied too: the result must not
  // alias the caller's patch.
  const operations = cloneJson(ops as Operation[]);
  operations.forEach((operation, index) => {
    try {
      document = jsonpatch.applyOperation(document, operation, true, true, true, index).newDocument;
    } catch (error) {
      throw translate(error, operation, index);
    }
  });
  return document;
}

const REASONS: Record<string, string> = {
  TEST_OPERATION_FAILED: 'test failed: the value differs',
  OPERATION_PATH_UNRESOLVABLE: 'path does not exist',
  OPERATION_PATH_CANNOT_ADD: 'the parent of the path does not exist',
  OPERATION_FROM_UNRESOLVABLE: 'from path does not exist',
  OPERATION_VALUE_OUT_OF_BOUNDS: 'array index is past the end of the array',
  OPERATION_PATH_ILLEGAL_ARRAY_INDEX: 'array index is not a number',
};

function translate(error: unknown, operation: Operation, index: number): InvalidPatchError {
  const name = error instanceof Error ? error.name : '';
  const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
  const reason = REASONS[name] ?? message;
  const from = 'from' in operation ? ` from ${operation.from}` : '';
  return new InvalidPatchError(
    `json patch operation ${index} (${operation.op}${from} ${operation.path}): ${reason}`,
    {
      cause: error,
    },
  );
}
