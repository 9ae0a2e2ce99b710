/**
 * The object store: an append-only log of revisions with watch, behind one
 * narrow interface that the SQLite and PostgreSQL engines implement.
 */

export { type CompactorOptions, startCompactor } from './compactor.ts';
export {
  DecryptionError,
  ENVELOPE_PREFIX,
  EncryptingStore,
  type EncryptingStoreOptions,
  type EncryptionKey,
} from './encrypting-store.ts';
export {
  EncryptionKeyFileError,
  loadOrCreateEncryptionKeys,
  parseEncryptionKeys,
  readEncryptionKeys,
} from './encryption-key.ts';
export {
  type ImportOptions,
  type ImportResult,
  POSTGRES_SCHEMA_VERSION,
  PostgresStore,
  type PostgresStoreOptions,
  TargetNotEmptyError,
} from './postgres.ts';
export { SQLITE_SCHEMA_VERSION, SqliteStore, type SqliteStoreOptions } from './sqlite.ts';
export * from './store.ts';
