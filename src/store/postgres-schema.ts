import type pg from 'pg';
import { DELETED } from './engine-common.ts';
import { StoreUnavailableError } from './store.ts';

/** The schema this code writes; a database with a newer one is refused. */
export const POSTGRES_SCHEMA_VERSION = 1;

/** PostgreSQL schema names the store accepts: plain identifiers, short enough to build a channel name. */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,39}$/;

/** Checks a schema name; it is spliced into SQL and into the NOTIFY channel, so it must be a plain identifier. */
export function checkSchemaName(schema: string): string {
  if (!SCHEMA_NAME.test(schema)) {
    throw new Error(
      `invalid PostgreSQL schema name ${JSON.stringify(schema)}: expected [a-z_][a-z0-9_]*, at most 40`,
    );
  }
  return schema;
}

/** The NOTIFY channel writers signal on after each commit (one per schema, so stores in other schemas stay quiet). */
export function channelName(schema: string): string {
  return `outpost_store_${schema}`;
}

/**
 * Creates or migrates the store's tables in `schema`, under an advisory lock
 * so that hubs starting together on an empty database do not race, and
 * refuses a schema newer than this code knows.
 *
 * - `meta`: named counters. `revision` is the global revision counter: every
 *   write transaction locks its row first and holds it until COMMIT, which
 *   makes commit order equal revision order across processes. `compacted` is
 *   the compacted revision, shared by every process.
 * - `log`: every revision of every key (kine's shape); a DELETED row carries
 *   the key's last value.
 * - `objects`: which log row is each live key's current value.
 *
 * Keys use the "C" collation so that PostgreSQL orders them by bytes, as the
 * SQLite engine and the continue tokens do, whatever the database's locale.
 */
export async function migrate(client: pg.ClientBase, schema: string): Promise<void> {
  const q = `"${schema}"`;
  await client.query('BEGIN');
  try {
    await client.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [`outpost-store:${schema}`]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${q}`);
    const exists = await client.query(`SELECT to_regclass($1) AS meta`, [`${q}.meta`]);
    let version: number | undefined;
    if (exists.rows[0]?.meta) {
      const row = await client.query(`SELECT value FROM ${q}.meta WHERE name = 'schema'`);
      version = row.rows[0] ? Number(row.rows[0].value) : undefined;
    }
    if (version !== undefined && version > POSTGRES_SCHEMA_VERSION) {
      throw new Error(
        `database schema version ${version} is newer than this hub understands (${POSTGRES_SCHEMA_VERSION}); upgrade Outpost`,
      );
    }
    if (version === undefined) {
      await client.query(`CREATE TABLE ${q}.meta (name text PRIMARY KEY, value bigint NOT NULL)`);
      await client.query(`CREATE TABLE ${q}.log (
        rev bigint PRIMARY KEY,
        key text COLLATE "C" NOT NULL,
        type smallint NOT NULL,
        prev_rev bigint,
        value text NOT NULL
      )`);
      await client.query(`CREATE INDEX log_key_rev ON ${q}.log (key, rev)`);
      await client.query(`CREATE TABLE ${q}.objects (key text COLLATE "C" PRIMARY KEY, rev bigint NOT NULL)`);
      await client.query(
        `INSERT INTO ${q}.meta (name, value) VALUES ('schema', $1), ('revision', 0), ('compacted', 0)`,
        [POSTGRES_SCHEMA_VERSION],
      );
    }
    // Later versions add their steps here: `if (version < 2) { ... }`, each bumping `schema`.
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
}

/** Both counters, read in the same statement (hence the same snapshot) as whatever they are joined to. */
const META = `(SELECT (SELECT value FROM meta WHERE name = 'revision') AS head,
  (SELECT value FROM meta WHERE name = 'compacted') AS compacted) m`;

/** Log rows as events, with the value they replaced (absent for creates). */
const EVENTS = `SELECT l.rev, l.key, l.type, l.value, p.value AS prev_value
  FROM log l LEFT JOIN log p ON p.rev = l.prev_rev`;

/** Events after `$1`, up to `$2`, at most `$3`, with both counters of the same snapshot; `where` narrows the keys. */
function eventsSince(where: string): string {
  return `SELECT m.head, m.compacted, e.* FROM ${META} LEFT JOIN LATERAL (
    ${EVENTS} WHERE l.rev > $1 AND l.rev <= $2 ${where} ORDER BY l.rev LIMIT $3
  ) e ON true ORDER BY e.rev`;
}

/**
 * The statements the store runs. Tables are unqualified: every connection's
 * `search_path` is the store's schema.
 */
export const SQL = {
  /** Takes the revision counter's lock (held until COMMIT) and reads it: the first statement of every write. */
  lockHead: `BEGIN; SELECT value FROM meta WHERE name = 'revision' FOR UPDATE`,
  readKeys: `SELECT o.key, o.rev, l.value FROM objects o JOIN log l ON l.rev = o.rev WHERE o.key = ANY($1::text[])`,
  /**
   * Writes a batch in one statement: log rows, head rows, deletes, the new
   * counter, and a NOTIFY that PostgreSQL delivers at COMMIT, in commit order.
   * Keys in `$6` (upserts) and `$8` (deletes) are disjoint: one final state per key.
   */
  writeBatch: `WITH ins AS (
      INSERT INTO log (rev, key, type, prev_rev, value)
      SELECT * FROM unnest($1::bigint[], $2::text[], $3::smallint[], $4::bigint[], $5::text[])
    ), up AS (
      INSERT INTO objects (key, rev) SELECT * FROM unnest($6::text[], $7::bigint[])
      ON CONFLICT (key) DO UPDATE SET rev = excluded.rev
    ), del AS (
      DELETE FROM objects WHERE key = ANY($8::text[])
    )
    UPDATE meta SET value = $9::bigint FROM (SELECT pg_notify($10, $9::bigint::text)) AS n WHERE meta.name = 'revision'`,
  events: eventsSince(''),
  /** Events as `events`, less those in ($4, $5]: the revisions of a batch still committing, which publishes them itself. */
  eventsOutside: eventsSince('AND (l.rev <= $4 OR l.rev > $5)'),
  eventsInRange: eventsSince('AND l.key >= $4 AND l.key < $5'),
  eventsOfKey: eventsSince('AND l.key = $4'),
  count: `SELECT count(*)::bigint AS n FROM objects WHERE key >= $1 AND key < $2`,
  meta: `SELECT m.head, m.compacted FROM ${META}`,
  /** The head: keys in [$1, $2) other than $3, from the objects table; $4 is the page size (NULL: all). */
  listHead: `SELECT m.head, m.compacted, r.* FROM ${META} LEFT JOIN LATERAL (
      SELECT o.key, l.rev, l.value FROM objects o JOIN log l ON l.rev = o.rev
      WHERE o.key >= $1 AND o.key < $2 AND o.key IS DISTINCT FROM $3
      ORDER BY o.key LIMIT $4
    ) r ON true ORDER BY r.key`,
  /**
   * The state as of revision $5 (clamped to the head): for every key, its
   * newest row at or below it, unless that row is a delete. Walks the
   * (key, rev) index in key order, so a page costs about its limit.
   */
  listAt: `SELECT m.head, m.compacted, r.* FROM ${META} LEFT JOIN LATERAL (
      SELECT l.key, l.rev, l.value FROM log l
      WHERE l.key >= $1 AND l.key < $2 AND l.key IS DISTINCT FROM $3
        AND l.rev <= LEAST($5::bigint, m.head) AND l.type <> ${DELETED}
        AND NOT EXISTS (SELECT 1 FROM log n WHERE n.key = l.key AND n.rev > l.rev AND n.rev <= LEAST($5::bigint, m.head))
      ORDER BY l.key LIMIT $4
    ) r ON true ORDER BY r.key`,
  lockCompacted: `BEGIN; SELECT value FROM meta WHERE name = 'compacted' FOR UPDATE`,
  head: `SELECT value FROM meta WHERE name = 'revision'`,
  /** Drops rows at or below $1 that a newer row at or below it supersedes, and deletes: as the SQLite engine. */
  compact: `DELETE FROM log WHERE rev <= $1 AND (
      type = ${DELETED}
      OR rev < (SELECT max(rev) FROM log l2 WHERE l2.key = log.key AND l2.rev <= $1)
    )`,
  setCompacted: `UPDATE meta SET value = $1 WHERE name = 'compacted'`,
} as const;

/** SQLSTATE classes and codes that mean "the server is not reachable or went away", not "the request was wrong". */
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up, shutting down)
  '53300', // too_many_connections
]);

/** Whether an error from `pg` means the database could not be reached (as opposed to a bad statement). */
export function isUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && (UNAVAILABLE_CODES.has(code) || code.startsWith('08'))) return true;
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection ended|not queryable/i.test(
    error.message,
  );
}

/** Translates a `pg` failure at the store's edge: unreachable database → {@link StoreUnavailableError}. */
export function translate(error: unknown, what: string): Error {
  if (error instanceof StoreUnavailableError) return error;
  if (isUnavailable(error))
    return new StoreUnavailableError(`${what}: the database is unavailable`, { cause: error });
  return new Error(what, { cause: error });
}
