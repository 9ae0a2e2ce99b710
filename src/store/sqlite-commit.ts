/**
 * The SQL of the SQLite store's writes, run by whichever connection commits them: the writer
 * thread's (`sqlite-writer-thread.ts`) or, for an in-memory database, the store's own. The store
 * has already checked every precondition and rendered every value; a job only writes rows.
 */
import type Database from 'better-sqlite3';
import { DELETED } from './engine-common.ts';

/** One log row: [revision, key, event type code, previous revision or null, value]. */
export type LogRowTuple = readonly [number, string, number, number | null, string];

/** What the writer is asked to do; one job at a time, in the order sent. */
export type WriterJob =
  /** Append the rows (in revision order) and set the revision counter, in one transaction. */
  | { readonly kind: 'commit'; readonly rows: readonly LogRowTuple[]; readonly revision: number }
  /** Forget history at or below `revision` (see `compactor.ts`). */
  | { readonly kind: 'compact'; readonly revision: number }
  /** Copy the WAL into the database file so that the next commit can start the WAL over. */
  | { readonly kind: 'checkpoint' };

export type WriterResult =
  | { readonly ok: true; readonly seconds: number }
  | { readonly ok: false; readonly message: string; readonly seconds: number };

/** Prepares the write statements on `db` and returns the function running one job on it. */
export function writerFor(db: Database.Database): (job: WriterJob) => WriterResult {
  const insertLog = db.prepare(`INSERT INTO log (rev, key, type, prev_rev, value) VALUES (?, ?, ?, ?, ?)`);
  const upsertObject = db.prepare(
    `INSERT INTO objects (key, rev) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET rev = excluded.rev`,
  );
  const deleteObject = db.prepare(`DELETE FROM objects WHERE key = ?`);
  const setMeta = db.prepare(
    `INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value`,
  );
  // Drops rows at or below the revision that a newer row at or below it supersedes, and deletes
  // (with what they superseded): what is left answers reads at any revision from the compacted one on.
  const compact = db.prepare(
    `DELETE FROM log WHERE rev <= :rev AND (
       type = ${DELETED}
       OR rev < (SELECT max(rev) FROM log l2 WHERE l2.key = log.key AND l2.rev <= :rev)
     )`,
  );
  const commit = db.transaction((rows: readonly LogRowTuple[], revision: number) => {
    for (const row of rows) {
      insertLog.run(row[0], row[1], row[2], row[3], row[4]);
      if (row[2] === DELETED) deleteObject.run(row[1]);
      else upsertObject.run(row[1], row[0]);
    }
    setMeta.run('revision', revision);
  });
  const compactTo = db.transaction((revision: number) => {
    compact.run({ rev: revision });
    setMeta.run('compacted', revision);
  });
  return (job) => {
    const started = performance.now();
    try {
      if (job.kind === 'commit') commit(job.rows, job.revision);
      else if (job.kind === 'compact') compactTo(job.revision);
      else db.pragma('wal_checkpoint(PASSIVE)');
      return { ok: true, seconds: (performance.now() - started) / 1000 };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      return { ok: false, message, seconds: (performance.now() - started) / 1000 };
    }
  };
}
