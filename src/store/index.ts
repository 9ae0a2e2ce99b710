/**
 * The object store: an append-only log of revisions with watch, behind one
 * narrow interface that the SQLite and PostgreSQL engines implement.
 */
export * from './store.ts';
export { SqliteStore, type SqliteStoreOptions, SQLITE_SCHEMA_VERSION } from './sqlite.ts';
export { startCompactor, type CompactorOptions } from './compactor.ts';
