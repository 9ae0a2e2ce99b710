import type pg from 'pg';
import { ADDED } from './engine-common.ts';
import { translate } from './postgres-schema.ts';
import { type StoredObject, StoreError } from './store.ts';

/** `outpost store migrate` without `--merge` found data in the target. */
export class TargetNotEmptyError extends StoreError {
  constructor(
    readonly objects: number,
    readonly revision: number,
  ) {
    super(
      `the target store is not empty (${objects} objects, revision ${revision}); pass --merge to copy only the objects it lacks`,
    );
  }
}

export interface ImportOptions {
  /** The source's head revision: the target's revision counter continues from it (or from its own head, if higher). */
  readonly revision: number;
  /**
   * Accept a target that already has data: copy only the keys it lacks. A key
   * present in the target keeps the target's value; a key whose revision is
   * already taken in the target's log is not copied either. Both are reported.
   * @default false
   */
  readonly merge?: boolean;
  /** Called after each page with the number of objects examined so far. */
  readonly onProgress?: (examined: number) => void;
}

export interface ImportResult {
  /** Objects written to the target. */
  readonly copied: number;
  /** Keys left out by a merge because the target already had them. */
  readonly existing: readonly string[];
  /** Keys left out by a merge because their revision is already used in the target's log. */
  readonly revisionTaken: readonly string[];
  /** The target's revision (and compacted revision) afterwards. */
  readonly revision: number;
}

/**
 * Copies objects into a PostgreSQL store with their revisions (so every
 * resourceVersion stays the same), in one transaction: all or nothing. The
 * revision lock is held throughout, so hubs running on the target wait
 * rather than interleave. History is not copied: the target's compacted
 * revision becomes its new head, so watches and paginated lists from older
 * resourceVersions get 410 and relist. A NOTIFY at the end lets running hubs
 * catch up (their watches end with 410).
 */
export async function importObjects(
  pool: pg.Pool,
  channel: string,
  pages: AsyncIterable<readonly StoredObject[]>,
  options: ImportOptions,
): Promise<ImportResult> {
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (error) {
    throw translate(error, 'import into the PostgreSQL store');
  }
  let broken = false;
  try {
    await client.query('BEGIN');
    const head = Number(
      (await client.query(`SELECT value FROM meta WHERE name = 'revision' FOR UPDATE`)).rows[0]!.value,
    );
    const objects = Number((await client.query(`SELECT count(*)::bigint AS n FROM objects`)).rows[0]!.n);
    if (!options.merge && (head > 0 || objects > 0)) throw new TargetNotEmptyError(objects, head);
    const existing: string[] = [];
    const revisionTaken: string[] = [];
    let examined = 0;
    let copied = 0;
    for await (const page of pages) {
      examined += page.length;
      let rows = page;
      if (options.merge && page.length > 0) {
        const present = await client.query<{ key: string }>(
          `SELECT key FROM objects WHERE key = ANY($1::text[])`,
          [page.map((object) => object.key)],
        );
        const taken = await client.query<{ rev: string }>(
          `SELECT rev FROM log WHERE rev = ANY($1::bigint[])`,
          [page.map((object) => object.revision)],
        );
        const presentKeys = new Set(present.rows.map((row) => row.key));
        const takenRevisions = new Set(taken.rows.map((row) => Number(row.rev)));
        rows = page.filter((object) => {
          if (presentKeys.has(object.key)) existing.push(object.key);
          else if (takenRevisions.has(object.revision)) revisionTaken.push(object.key);
          else return true;
          return false;
        });
      }
      if (rows.length > 0) {
        await client.query(
          `WITH ins AS (
             INSERT INTO log (rev, key, type, prev_rev, value)
             SELECT r, k, ${ADDED}, NULL, v FROM unnest($1::bigint[], $2::text[], $3::text[]) AS t(r, k, v)
           )
           INSERT INTO objects (key, rev) SELECT * FROM unnest($2::text[], $1::bigint[])`,
          [
            rows.map((object) => object.revision),
            rows.map((object) => object.key),
            rows.map((object) => object.value),
          ],
        );
        copied += rows.length;
      }
      options.onProgress?.(examined);
    }
    const revision = Math.max(head, options.revision);
    await client.query(`UPDATE meta SET value = $1 WHERE name IN ('revision', 'compacted')`, [revision]);
    await client.query(`SELECT pg_notify($1, $2)`, [channel, String(revision)]);
    await client.query('COMMIT');
    return { copied, existing, revisionTaken, revision };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {
      broken = true;
    });
    if (error instanceof StoreError) throw error;
    throw translate(error, 'import into the PostgreSQL store');
  } finally {
    client.release(broken ? true : undefined);
  }
}
