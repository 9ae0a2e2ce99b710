import type { KindDefinition } from '../../../api/index.ts';
import {
  ConflictError,
  ExpiredError,
  KeyExistsError,
  NotFoundError,
  StoreError,
} from '../../../store/index.ts';
import { errors } from '../errors.ts';

/**
 * The API error a store error means for an object of `def`, named by the key
 * the store names: KeyExists → 409 AlreadyExists, NotFound → 404, Conflict (the
 * revision a write expected moved) → 409 Conflict, Expired (a revision below
 * compaction) → 410 Expired. Anything else is returned as it is (an ApiError
 * already, or a failure the app's error handler answers: 503 for an
 * unavailable database, 500 otherwise). The one place the service translates
 * store errors.
 */
export function apiErrorOf(error: unknown, def: KindDefinition): unknown {
  if (!(error instanceof StoreError)) return error;
  if (error instanceof KeyExistsError) return errors.alreadyExists(def, nameOf(error.key));
  if (error instanceof NotFoundError) return errors.notFound(def, nameOf(error.key));
  if (error instanceof ConflictError) return errors.conflict(def, nameOf(error.key));
  if (error instanceof ExpiredError)
    return errors.expired(`too old resource version: ${error.requested} (${error.compacted})`);
  return error;
}

/** Whether another writer got in between a read and the write based on it (store errors of a key). */
export function isRace(error: unknown): boolean {
  return error instanceof ConflictError || error instanceof NotFoundError;
}

/** The name in a store key `/GROUP/PLURAL/[NAMESPACE/]NAME` (names never contain `/`). */
function nameOf(key: string): string {
  return key.slice(key.lastIndexOf('/') + 1);
}
