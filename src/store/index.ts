/**
 * The object store: an append-only log of revisions with watch, behind one
 * narrow interface that the SQLite and PostgreSQL engines implement.
 */

export { type CompactorOptions, startCompactor } from './compactor.ts';
export { SQLITE_SCHEMA_VERSION, SqliteStore, type SqliteStoreOptions } from './sqlite.ts';
export * from './store.ts';
