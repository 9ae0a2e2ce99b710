/**
 * Where committed objects live. A backend stores whole objects under keys
 * that {@link objectKey} built (already validated: relative, no traversal);
 * it never sees a half-uploaded object, because sessions assemble and verify
 * content beside it first (sessions.ts).
 */
import type { Readable } from 'node:stream';

/** What a backend knows of one committed object. */
export interface ObjectInfo {
  readonly key: string;
  readonly size: number;
  /** Lower-case hex SHA-256 of the content, verified at commit. */
  readonly sha256: string;
  /** When it was committed (RFC 3339). */
  readonly modified: string;
}

/** Thrown when a key cannot be stored because of the keys already there (a file where a folder must go). */
export class ObjectKeyConflictError extends Error {
  constructor(readonly key: string) {
    super(`object key "${key}" collides with an existing object (one is a prefix folder of the other)`);
    this.name = 'ObjectKeyConflictError';
  }
}

/** A storage backend of committed objects. Every method is safe to call concurrently on distinct keys. */
export interface ObjectStorage {
  /** Where the objects are kept, as an operator names it (`s3://BUCKET/PREFIX/`, `file:///...`). */
  readonly location: string;
  /** What is stored at `key`, or undefined. */
  head(key: string): Promise<ObjectInfo | undefined>;
  /**
   * Stores the verified content of local file `file` at `key`, replacing what
   * was there, atomically: readers see the old object or the new one. The
   * file is consumed (moved or deleted).
   */
  put(key: string, file: string, info: { size: number; sha256: string }): Promise<ObjectInfo>;
  /** Stores a copy of the object at `from` at `to` (content the backend already holds: not sent again). */
  copy(from: string, to: string): Promise<ObjectInfo | undefined>;
  /** The object's content and info, or undefined. */
  get(key: string): Promise<{ info: ObjectInfo; body: Readable } | undefined>;
  /** The objects whose keys start with `prefix` (a folder prefix ending in `/`), sorted by key. */
  list(prefix: string): Promise<ObjectInfo[]>;
  /** Removes the object; false when there was none. */
  delete(key: string): Promise<boolean>;
}
