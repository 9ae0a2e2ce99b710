import pg from 'pg';
import type { PendingWrite } from './engine-common.ts';
import { type ImportOptions, type ImportResult, importObjects } from './postgres-import.ts';
import {
  channelName,
  checkSchemaName,
  migrate,
  POSTGRES_SCHEMA_VERSION,
  SQL,
  translate,
} from './postgres-schema.ts';
import { type EventRow, LogTail, toEvents } from './postgres-tail.ts';
import { GroupCommitter } from './postgres-writer.ts';
import {
  type CommitObserver,
  ExpiredError,
  type ListOptions,
  type ListResult,
  prefixEnd,
  type Render,
  type Store,
  StoreClosedError,
  type StoredObject,
  type Watch,
  type WatchEvent,
  type WatchOptions,
  type WatchSink,
} from './store.ts';

export { type ImportOptions, type ImportResult, TargetNotEmptyError } from './postgres-import.ts';
export { POSTGRES_SCHEMA_VERSION };

export interface PostgresStoreOptions {
  /**
   * A libpq-style URL, `postgres://USER[:PASSWORD]@HOST:PORT/DB`. A `schema`
   * query parameter (`?schema=NAME`) overrides {@link schema}.
   */
  readonly url: string;
  /**
   * The PostgreSQL schema holding the store's tables (created when missing).
   * Stores in different schemas of one database are independent.
   * @default 'outpost'
   */
  readonly schema?: string;
  /**
   * How often the store reads the log even without a NOTIFY: the fallback
   * that bounds how late a missed notification can make an event.
   * @default 1_000
   */
  readonly pollIntervalMs?: number;
  /** Connections for reads and writes (the LISTEN connection comes on top). @default 10 */
  readonly poolSize?: number;
  /** How long a read or write waits for a connection before failing as unavailable. @default 5_000 */
  readonly connectTimeoutMs?: number;
  /** Told of every group commit (the hub's store metrics). @default none */
  readonly onCommit?: CommitObserver;
}

/** Rows fetched per query when a list filters in JavaScript and so cannot know its page size in rows. */
const FILTER_CHUNK = 500;

/** Keys per batched get query. */
const GET_CHUNK = 500;

interface WatchEntry {
  readonly from: number;
  end(error?: unknown): void;
}

/** Splits `?schema=` off a URL: `pg` would pass unknown parameters to the server. */
function parseUrl(url: string, fallback: string): { connectionString: string; schema: string } {
  const parsed = new URL(url);
  const schema = parsed.searchParams.get('schema') ?? fallback;
  parsed.searchParams.delete('schema');
  return { connectionString: parsed.toString(), schema: checkSchemaName(schema) };
}

/**
 * The store on PostgreSQL: the SQLite engine's tables (a `log` whose primary
 * key is the global revision, an `objects` table of heads, a `meta` table of
 * counters), shared by any number of hub processes on one database.
 *
 * - Writes are group-committed ({@link GroupCommitter}); every transaction
 *   holds the revision counter's row lock until COMMIT, so commit order is
 *   revision order in every process, and a reader of `rev > n` can never see
 *   a revision whose predecessors are still to commit (the trap that makes a
 *   kine watcher skip events).
 * - Every process follows the log ({@link LogTail}): woken by NOTIFY, by its
 *   own commits and by a periodic poll, it publishes each committed event
 *   once, in order, to its watchers. `currentRevision()` is the revision up
 *   to which this process has published: a safe bookmark for its watchers.
 * - Lists and gets read the database directly; a list's revision is the head
 *   of the snapshot it read.
 * - The compacted revision lives in the database; a process whose tail falls
 *   behind it ends its watches with {@link ExpiredError}.
 * - A dropped connection or a restart of PostgreSQL: the pool reconnects on
 *   the next query, the LISTEN client reconnects and catches up by revision.
 *   Meanwhile reads and writes fail with `StoreUnavailableError`.
 */
export class PostgresStore implements Store {
  readonly #pool: pg.Pool;
  readonly #tail: LogTail;
  readonly #writer: GroupCommitter;
  readonly #channel: string;
  readonly #watchers = new Set<WatchEntry>();
  /** Gets waiting for the next batched read, by key. */
  #gets = new Map<
    string,
    Array<{ resolve(object: StoredObject | undefined): void; reject(error: unknown): void }>
  >();
  #getsScheduled = false;
  #closing = false;
  #closed = false;
  #compactions: Promise<void> = Promise.resolve();

  private constructor(pool: pg.Pool, tail: LogTail, channel: string, onCommit?: CommitObserver) {
    this.#pool = pool;
    this.#tail = tail;
    this.#channel = channel;
    this.#writer = new GroupCommitter(pool, tail, channel, onCommit);
    tail.onExpired = (error) => {
      for (const watcher of [...this.#watchers]) {
        if (watcher.from < error.compacted) watcher.end(new ExpiredError(watcher.from, error.compacted));
      }
    };
  }

  /** Connects, creates or migrates the schema (refusing a newer one), and starts following the log. */
  static async open(options: PostgresStoreOptions): Promise<PostgresStore> {
    const { connectionString, schema } = parseUrl(options.url, options.schema ?? 'outpost');
    const clientConfig: pg.ClientConfig = {
      connectionString,
      // Every connection resolves the unqualified table names in the store's schema.
      options: `-c search_path=${schema}`,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 5_000,
      keepAlive: true,
    };
    const pool = new pg.Pool({ ...clientConfig, max: options.poolSize ?? 10, idleTimeoutMillis: 30_000 });
    // An idle connection that drops is removed from the pool; the next query opens a new one.
    pool.on('error', () => {});
    // A checked-out connection that drops between two statements emits 'error' too: its next
    // statement fails (as unavailable) instead, and it is discarded on release.
    pool.on('connect', (client) => client.on('error', () => {}));
    let tail: LogTail | undefined;
    try {
      const client = await pool.connect().catch((error: unknown) => {
        throw translate(error, 'open the PostgreSQL store');
      });
      try {
        await migrate(client, schema);
      } finally {
        client.release();
      }
      const meta = await pool.query<{ head: string; compacted: string }>(SQL.meta);
      tail = new LogTail({
        pool,
        clientConfig,
        channel: channelName(schema),
        position: Number(meta.rows[0]!.head),
        compacted: Number(meta.rows[0]!.compacted),
        pollIntervalMs: options.pollIntervalMs ?? 1_000,
      });
      await tail.listen();
      return new PostgresStore(pool, tail, channelName(schema), options.onCommit);
    } catch (error) {
      await tail?.close();
      await pool.end().catch(() => {});
      throw error instanceof Error && /newer than this hub/.test(error.message)
        ? error
        : translate(error, 'open the PostgreSQL store');
    }
  }

  /** The revision up to which this process has published every event (of every process) to its watchers. */
  async currentRevision(): Promise<number> {
    return this.#tail.position;
  }

  /** The compacted revision in the database, once this instance's own compactions have finished. */
  async compactedRevision(): Promise<number> {
    await this.#compactions;
    const meta = await this.#query<{ head: string; compacted: string }>(
      SQL.meta,
      [],
      'read the compacted revision',
    );
    this.#tail.noteCompacted(Number(meta.rows[0]!.compacted));
    return this.#tail.compacted;
  }

  get(key: string): Promise<StoredObject | undefined> {
    if (this.#closed || this.#closing) return Promise.reject(new StoreClosedError());
    return new Promise((resolve, reject) => {
      const waiting = this.#gets.get(key);
      if (waiting) waiting.push({ resolve, reject });
      else this.#gets.set(key, [{ resolve, reject }]);
      if (this.#getsScheduled) return;
      this.#getsScheduled = true;
      // Gets asked in the same turn of the event loop (requests arriving together) share one
      // query: a round trip to PostgreSQL costs far more than reading a few more rows.
      setImmediate(() => this.#readGets());
    });
  }

  #readGets(): void {
    this.#getsScheduled = false;
    const gets = this.#gets;
    this.#gets = new Map();
    const keys = [...gets.keys()];
    for (let start = 0; start < keys.length; start += GET_CHUNK) {
      const chunk = keys.slice(start, start + GET_CHUNK);
      this.#query<{ key: string; rev: string; value: string }>(SQL.readKeys, [chunk], 'get').then(
        (result) => {
          const found = new Map(result.rows.map((row) => [row.key, row]));
          for (const key of chunk) {
            const row = found.get(key);
            const object = row ? { key, revision: Number(row.rev), value: row.value } : undefined;
            for (const waiter of gets.get(key)!) waiter.resolve(object);
          }
        },
        (error: unknown) => {
          for (const key of chunk) for (const waiter of gets.get(key)!) waiter.reject(error);
        },
      );
    }
  }

  async count(prefix: string): Promise<number> {
    const result = await this.#query<{ n: string }>(SQL.count, [prefix, prefixEnd(prefix)], 'count');
    return Number(result.rows[0]!.n);
  }

  async list(options: ListOptions): Promise<ListResult> {
    if (options.revision !== undefined && options.revision < this.#tail.compacted) {
      throw new ExpiredError(options.revision, this.#tail.compacted);
    }
    const limit = options.limit && options.limit > 0 ? options.limit : undefined;
    // Without a filter a page is `limit` rows (one more tells whether more follow); with one, rows come in chunks.
    const chunk = limit === undefined ? null : options.filter ? Math.max(limit + 1, FILTER_CHUNK) : limit + 1;
    const end = prefixEnd(options.prefix);
    const resume = options.afterKey !== undefined && options.afterKey >= options.prefix;
    let lo = resume ? options.afterKey! : options.prefix;
    let skip: string | null = resume ? options.afterKey! : null;
    let revision = options.revision;
    const items: StoredObject[] = [];
    for (;;) {
      // Later chunks read the snapshot of the first (by revision), so every chunk agrees.
      const result = await this.#query<{
        head: string;
        compacted: string;
        key: string | null;
        rev: string;
        value: string;
      }>(
        revision === undefined ? SQL.listHead : SQL.listAt,
        revision === undefined ? [lo, end, skip, chunk] : [lo, end, skip, chunk, revision],
        'list',
      );
      const first = result.rows[0]!;
      const head = Number(first.head);
      const compacted = Number(first.compacted);
      this.#tail.noteCompacted(compacted);
      const at = revision === undefined ? head : Math.min(revision, head);
      if (at < compacted) throw new ExpiredError(at, compacted);
      revision = at;
      const rows = result.rows.filter((row) => row.key !== null);
      for (const row of rows) {
        if (limit !== undefined && items.length >= limit) {
          return { items, revision, continueAfter: items[items.length - 1]?.key };
        }
        const object = { key: row.key!, revision: Number(row.rev), value: row.value };
        if (!options.filter || options.filter(object)) items.push(object);
      }
      if (chunk === null || rows.length < chunk) return { items, revision };
      lo = rows[rows.length - 1]!.key!;
      skip = lo;
    }
  }

  create(key: string, render: Render): Promise<StoredObject> {
    return this.#enqueue('create', key, 0, render);
  }

  update(key: string, expectedRevision: number, render: Render): Promise<StoredObject> {
    return this.#enqueue('update', key, expectedRevision, render);
  }

  delete(key: string, expectedRevision: number, render: Render): Promise<StoredObject> {
    return this.#enqueue('delete', key, expectedRevision, render);
  }

  async watch(options: WatchOptions, sink: WatchSink): Promise<Watch> {
    this.#assertOpen();
    const from = options.afterRevision;
    if (from < this.#tail.compacted) throw new ExpiredError(from, this.#tail.compacted);
    if (options.signal.aborted) return { done: Promise.resolve() };
    let settle: (error?: unknown) => void = () => {};
    const done = new Promise<void>((resolve, reject) => {
      settle = (error) => (error === undefined ? resolve() : reject(error));
    });
    // Until the backlog is delivered, live events wait in `buffered`.
    let buffered: WatchEvent[] | undefined;
    let ended = false;
    const entry: WatchEntry = {
      from,
      end: (error?: unknown) => {
        if (ended) return;
        ended = true;
        unsubscribe();
        this.#watchers.delete(entry);
        options.signal.removeEventListener('abort', onAbort);
        settle(error);
      },
    };
    const onAbort = () => entry.end();
    const position = this.#tail.position;
    // Subscribing and noting the tail's position happen in one synchronous step: every
    // event after `position` comes live, every event up to it from the backlog read below.
    const unsubscribe = this.#tail.fanout.subscribe(
      options.prefix,
      (events) => {
        const later = from > position ? events.filter((event) => event.revision > from) : events;
        if (later.length === 0) return;
        if (buffered) buffered.push(...later);
        else sink(later);
      },
      (error) => entry.end(new Error('watch sink threw', { cause: error })),
    );
    this.#watchers.add(entry);
    options.signal.addEventListener('abort', onAbort, { once: true });
    {
      // Also when nothing is missing (`from` at or past the position): the read checks the
      // database's compacted revision, which another process may have moved.
      buffered = [];
      let backlog: WatchEvent[];
      try {
        backlog =
          from < position
            ? await this.#readBacklog(options.prefix, from, position)
            : await this.#checkCompacted(from);
      } catch (error) {
        entry.end();
        throw error;
      }
      if (ended) return { done };
      const pending = [...backlog, ...buffered];
      buffered = undefined;
      if (pending.length > 0) {
        try {
          sink(pending);
        } catch (error) {
          entry.end(new Error('watch sink threw', { cause: error }));
        }
      }
    }
    return { done };
  }

  compact(revision: number): Promise<number> {
    // One at a time, so that compactedRevision() can wait for those this instance asked for.
    const run = this.#compactions.then(() => this.#compact(revision));
    this.#compactions = run.then(
      () => {},
      () => {},
    );
    return run;
  }

  async #compact(revision: number): Promise<number> {
    this.#assertOpen();
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (error) {
      throw translate(error, 'compact');
    }
    let broken = false;
    try {
      // The compacted row's lock serialises compactions of every process; writers are not blocked.
      const [, locked] = (await client.query(SQL.lockCompacted)) as unknown as [
        pg.QueryResult,
        pg.QueryResult,
      ];
      const compacted = Number(locked.rows[0]!.value);
      const head = Number((await client.query(SQL.head)).rows[0]!.value);
      const target = Math.min(revision, head);
      if (target <= compacted) {
        await client.query('COMMIT');
        this.#tail.noteCompacted(compacted);
        return compacted;
      }
      await client.query(SQL.compact, [target]);
      await client.query(SQL.setCompacted, [target]);
      await client.query('COMMIT');
      this.#tail.noteCompacted(target);
      return target;
    } catch (error) {
      broken = true;
      await client.query('ROLLBACK').catch(() => {});
      throw translate(error, 'compact');
    } finally {
      client.release(broken ? true : undefined);
    }
  }

  /** Commits the writes still queued, ends every watch, and disconnects. */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    await this.#writer.drain();
    this.#closed = true;
    for (const watcher of [...this.#watchers]) watcher.end();
    await this.#tail.close();
    await this.#pool.end().catch(() => {});
  }

  /**
   * Bulk copy for `outpost store migrate` (engine-level, not part of {@link Store}): writes
   * objects with their revisions in one transaction; see {@link importObjects}.
   */
  importObjects(
    pages: AsyncIterable<readonly StoredObject[]>,
    options: ImportOptions,
  ): Promise<ImportResult> {
    this.#assertOpen();
    return importObjects(this.#pool, this.#channel, pages, options);
  }

  #assertOpen(): void {
    if (this.#closed || this.#closing) throw new StoreClosedError();
  }

  #enqueue(
    op: PendingWrite['op'],
    key: string,
    expectedRevision: number,
    render: Render,
  ): Promise<StoredObject> {
    if (this.#closing) return Promise.reject(new StoreClosedError());
    return new Promise((resolve, reject) => {
      this.#writer.enqueue({ op, key, expectedRevision, render, resolve, reject });
    });
  }

  async #query<Row extends pg.QueryResultRow>(
    text: string,
    values: unknown[],
    what: string,
  ): Promise<pg.QueryResult<Row>> {
    this.#assertOpen();
    try {
      return await this.#pool.query<Row>(text, values);
    } catch (error) {
      throw translate(error, what);
    }
  }

  /** Refuses a watch from below the database's compacted revision; returns no backlog. */
  async #checkCompacted(from: number): Promise<WatchEvent[]> {
    const meta = await this.#query<{ head: string; compacted: string }>(SQL.meta, [], 'start a watch');
    const compacted = Number(meta.rows[0]!.compacted);
    this.#tail.noteCompacted(compacted);
    if (compacted > from) throw new ExpiredError(from, compacted);
    return [];
  }

  /** The events of a watch's scope in (from, to], refusing history that compaction removed. */
  async #readBacklog(prefix: string, from: number, to: number): Promise<WatchEvent[]> {
    const all = prefix === '' || prefix.endsWith('/');
    const result = await this.#query<EventRow>(
      all ? SQL.eventsInRange : SQL.eventsOfKey,
      all ? [from, to, null, prefix, prefixEnd(prefix)] : [from, to, null, prefix],
      'read watch backlog',
    );
    const read = toEvents(result.rows);
    this.#tail.noteCompacted(read.compacted);
    if (read.compacted > from) throw new ExpiredError(from, read.compacted);
    return read.events;
  }
}
