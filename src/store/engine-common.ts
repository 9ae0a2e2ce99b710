/**
 * What the SQLite and PostgreSQL engines share below the Store interface: the event type codes
 * their `log` tables store, and the write each queues for its group commit.
 */
import type { Render, StoredObject } from './store.ts';

/** Event type codes in the `log` tables' `type` column. */
export const ADDED = 0;
export const MODIFIED = 1;
export const DELETED = 2;
/** The watch event type of each code. */
export const TYPE_NAMES = ['ADDED', 'MODIFIED', 'DELETED'] as const;

/** A write waiting for its batch (one transaction per turn of the event loop). */
export interface PendingWrite {
  readonly op: 'create' | 'update' | 'delete';
  readonly key: string;
  readonly expectedRevision: number;
  readonly render: Render;
  resolve(object: StoredObject): void;
  reject(error: unknown): void;
}
