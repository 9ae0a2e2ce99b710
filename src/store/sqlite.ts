import Database from 'better-sqlite3';
import { ADDED, DELETED, MODIFIED, type PendingWrite, TYPE_NAMES } from './engine-common.ts';
import {
  type CommitObserver,
  ConflictError,
  ExpiredError,
  KeyExistsError,
  type ListOptions,
  type ListResult,
  NotFoundError,
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
import { WatchFanout } from './watch-fanout.ts';

/** The schema this code writes; a database with a newer one is refused. */
export const SQLITE_SCHEMA_VERSION = 1;

export interface SqliteStoreOptions {
  /** Path of the database file (created when missing). */
  readonly path: string;
  /**
   * SQLite's `synchronous` setting. FULL makes every acknowledged write
   * durable on power loss; NORMAL only on process crash.
   * @default 'FULL'
   */
  readonly synchronous?: 'FULL' | 'NORMAL';
  /** Told of every group commit (the hub's store metrics). @default none */
  readonly onCommit?: CommitObserver;
}

/** Event types as stored in the log's `type` column. */

interface LogRow {
  key: string;
  rev: number;
  type: number;
  value: string;
  prev_value: string | null;
}

/**
 * The embedded store: one SQLite file in WAL mode.
 *
 * Writes are group-committed: every write requested during one turn of the
 * event loop goes into one transaction (one fsync), each checked against its
 * precondition on its own, so a failed precondition fails that write only.
 * Revisions are assigned inside the transaction and become visible (to reads
 * and watchers) only after COMMIT returns, so no one sees a write that could
 * still be lost.
 */
export class SqliteStore implements Store {
  readonly #db: Database.Database;
  readonly #fanout = new WatchFanout();
  readonly #statements;
  #revision: number;
  #compacted: number;
  #queue: PendingWrite[] = [];
  #flushScheduled = false;
  #closed = false;
  readonly #watchers = new Set<() => void>();
  readonly #onCommit: CommitObserver | undefined;

  constructor(options: SqliteStoreOptions) {
    this.#onCommit = options.onCommit;
    this.#db = new Database(options.path);
    try {
      this.#db.pragma('journal_mode = WAL');
      this.#db.pragma(`synchronous = ${options.synchronous ?? 'FULL'}`);
      this.#db.pragma('busy_timeout = 5000');
      migrate(this.#db);
      this.#statements = prepare(this.#db);
    } catch (error) {
      // A refused (e.g. newer) schema must not leave the file open behind the thrown error.
      this.#db.close();
      throw error;
    }
    this.#revision = Number(this.#statements.getMeta.pluck().get('revision') ?? 0);
    this.#compacted = Number(this.#statements.getMeta.pluck().get('compacted') ?? 0);
  }

  async currentRevision(): Promise<number> {
    return this.#revision;
  }

  async compactedRevision(): Promise<number> {
    return this.#compacted;
  }

  async get(key: string): Promise<StoredObject | undefined> {
    this.#assertOpen();
    const row = this.#statements.get.get(key) as { rev: number; value: string } | undefined;
    return row ? { key, revision: row.rev, value: row.value } : undefined;
  }

  async count(prefix: string): Promise<number> {
    this.#assertOpen();
    return this.#statements.count.pluck().get(prefix, prefixEnd(prefix)) as number;
  }

  async list(options: ListOptions): Promise<ListResult> {
    this.#assertOpen();
    const head = this.#revision;
    const revision = options.revision !== undefined && options.revision < head ? options.revision : head;
    if (revision < this.#compacted) throw new ExpiredError(revision, this.#compacted);
    // Keys in [lo, end), minus `skip`: the prefix range, or from `afterKey` (exclusive) when it lies
    // inside it. A key equal to the prefix itself belongs to the range.
    const resume = options.afterKey !== undefined && options.afterKey >= options.prefix;
    const range = {
      lo: resume ? options.afterKey : options.prefix,
      skip: resume ? options.afterKey : null,
      end: prefixEnd(options.prefix),
    };
    const rows =
      revision === head
        ? this.#statements.listHead.iterate(range)
        : this.#statements.listAt.iterate({ ...range, rev: revision });
    const limit = options.limit && options.limit > 0 ? options.limit : Number.POSITIVE_INFINITY;
    const items: StoredObject[] = [];
    let continueAfter: string | undefined;
    for (const raw of rows) {
      const row = raw as { key: string; rev: number; value: string };
      if (items.length >= limit) {
        continueAfter = items[items.length - 1]?.key;
        break;
      }
      const object = { key: row.key, revision: row.rev, value: row.value };
      if (!options.filter || options.filter(object)) items.push(object);
    }
    // Breaking out of the loop closes the iterator (and frees the statement).
    return { items, revision, continueAfter };
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
    if (options.afterRevision < this.#compacted) {
      throw new ExpiredError(options.afterRevision, this.#compacted);
    }
    if (options.signal.aborted) return { done: Promise.resolve() };
    let settle: (error?: unknown) => void = () => {};
    const done = new Promise<void>((resolve, reject) => {
      settle = (error) => (error === undefined ? resolve() : reject(error));
    });
    let ended = false;
    const end = (error?: unknown) => {
      if (ended) return;
      ended = true;
      unsubscribe();
      this.#watchers.delete(end);
      options.signal.removeEventListener('abort', onAbort);
      settle(error);
    };
    const onAbort = () => end();
    // A watch from beyond the head must not get the revisions up to its start.
    const from = options.afterRevision;
    const deliver: WatchSink = from > this.#revision ? (events) => deliverAfter(from, events, sink) : sink;
    // Reading the backlog and subscribing happen in one synchronous step: no
    // commit can be published in between, so there is neither gap nor overlap.
    const backlog = from < this.#revision ? this.#readEvents(options.prefix, from) : [];
    const unsubscribe = this.#fanout.subscribe(options.prefix, deliver, (error) =>
      end(new Error('watch sink threw', { cause: error })),
    );
    this.#watchers.add(end);
    options.signal.addEventListener('abort', onAbort, { once: true });
    if (backlog.length > 0) {
      try {
        sink(backlog);
      } catch (error) {
        end(new Error('watch sink threw', { cause: error }));
      }
    }
    return { done };
  }

  async compact(revision: number): Promise<number> {
    this.#assertOpen();
    const target = Math.min(revision, this.#revision);
    if (target <= this.#compacted) return this.#compacted;
    this.#db.transaction(() => {
      this.#statements.compact.run({ rev: target });
      this.#statements.setMeta.run('compacted', target);
    })();
    this.#compacted = target;
    return target;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#flush();
    this.#closed = true;
    for (const end of [...this.#watchers]) end();
    this.#db.close();
  }

  #assertOpen(): void {
    if (this.#closed) throw new StoreClosedError();
  }

  #enqueue(
    op: PendingWrite['op'],
    key: string,
    expectedRevision: number,
    render: Render,
  ): Promise<StoredObject> {
    if (this.#closed) return Promise.reject(new StoreClosedError());
    return new Promise((resolve, reject) => {
      this.#queue.push({ op, key, expectedRevision, render, resolve, reject });
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  /** Commits every queued write in one transaction, then acknowledges and publishes them. */
  #flush(): void {
    this.#flushScheduled = false;
    const batch = this.#queue;
    if (batch.length === 0) return;
    this.#queue = [];
    const outcomes: Array<StoredObject | Error> = [];
    const events: WatchEvent[] = [];
    let revision = this.#revision;
    const started = performance.now();
    try {
      this.#db.transaction(() => {
        for (const write of batch) {
          const outcome = this.#apply(write, revision + 1);
          outcomes.push(outcome.result);
          if (outcome.event) {
            revision++;
            events.push(outcome.event);
          }
        }
        if (revision !== this.#revision) this.#statements.setMeta.run('revision', revision);
      })();
    } catch (cause) {
      this.#onCommit?.({ writes: batch.length, seconds: (performance.now() - started) / 1000, failed: true });
      const error = new Error('store commit failed', { cause });
      for (const write of batch) write.reject(error);
      return;
    }
    this.#onCommit?.({ writes: batch.length, seconds: (performance.now() - started) / 1000, failed: false });
    this.#revision = revision;
    this.#fanout.publish(events);
    batch.forEach((write, index) => {
      const outcome = outcomes[index];
      if (outcome instanceof Error) write.reject(outcome);
      else if (outcome) write.resolve(outcome);
    });
  }

  /** Checks one write's precondition and writes it at `revision`; runs inside the batch transaction. */
  #apply(write: PendingWrite, revision: number): { result: StoredObject | Error; event?: WatchEvent } {
    const current = this.#statements.get.get(write.key) as { rev: number; value: string } | undefined;
    if (write.op === 'create' && current) return { result: new KeyExistsError(write.key) };
    if (write.op !== 'create') {
      if (!current) return { result: new NotFoundError(write.key) };
      if (current.rev !== write.expectedRevision) {
        return { result: new ConflictError(write.key, write.expectedRevision, current.rev) };
      }
    }
    let value: string;
    try {
      value = write.render(revision);
    } catch (error) {
      return { result: error instanceof Error ? error : new Error(String(error)) };
    }
    const type = write.op === 'create' ? ADDED : write.op === 'update' ? MODIFIED : DELETED;
    this.#statements.insertLog.run(revision, write.key, type, current?.rev ?? null, value);
    if (type === DELETED) this.#statements.deleteObject.run(write.key);
    else this.#statements.upsertObject.run(write.key, revision);
    const result = { key: write.key, revision, value };
    const event: WatchEvent = current
      ? { type: TYPE_NAMES[type], key: write.key, revision, value, prevValue: current.value }
      : { type: TYPE_NAMES[type], key: write.key, revision, value };
    return { result, event };
  }

  #readEvents(prefix: string, afterRevision: number): WatchEvent[] {
    const rows = (
      prefix === '' || prefix.endsWith('/')
        ? this.#statements.eventsInRange.all(afterRevision, this.#revision, prefix, prefixEnd(prefix))
        : this.#statements.eventsOfKey.all(prefix, afterRevision, this.#revision)
    ) as LogRow[];
    return rows.map((row) => {
      const base = {
        type: TYPE_NAMES[row.type as 0 | 1 | 2],
        key: row.key,
        revision: row.rev,
        value: row.value,
      };
      return row.prev_value === null ? base : { ...base, prevValue: row.prev_value };
    });
  }
}

/** Hands a watch that starts beyond the head only the events after its start. */
function deliverAfter(afterRevision: number, events: readonly WatchEvent[], sink: WatchSink): void {
  const later = events.filter((event) => event.revision > afterRevision);
  if (later.length > 0) sink(later);
}

function migrate(db: Database.Database): void {
  db.exec(`CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID`);
  const version = db.prepare(`SELECT value FROM meta WHERE name = 'schema'`).pluck().get() as
    | number
    | undefined;
  if (version !== undefined && version > SQLITE_SCHEMA_VERSION) {
    throw new Error(
      `database schema version ${version} is newer than this hub understands (${SQLITE_SCHEMA_VERSION}); upgrade Outpost`,
    );
  }
  if (version === SQLITE_SCHEMA_VERSION) return;
  db.transaction(() => {
    // The log: every revision of every key. A DELETED row carries the key's last value.
    db.exec(`CREATE TABLE log (
      rev INTEGER PRIMARY KEY,
      key TEXT NOT NULL,
      type INTEGER NOT NULL,
      prev_rev INTEGER,
      value TEXT NOT NULL
    )`);
    db.exec(`CREATE INDEX log_key_rev ON log (key, rev)`);
    // The head: which log row is each live key's current value.
    db.exec(`CREATE TABLE objects (key TEXT PRIMARY KEY, rev INTEGER NOT NULL) WITHOUT ROWID`);
    db.prepare(`INSERT INTO meta (name, value) VALUES ('schema', ?)`).run(SQLITE_SCHEMA_VERSION);
    db.exec(`INSERT INTO meta (name, value) VALUES ('revision', 0), ('compacted', 0)`);
  })();
}

function prepare(db: Database.Database) {
  return {
    getMeta: db.prepare(`SELECT value FROM meta WHERE name = ?`),
    setMeta: db.prepare(
      `INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value`,
    ),
    get: db.prepare(`SELECT l.rev, l.value FROM objects o JOIN log l ON l.rev = o.rev WHERE o.key = ?`),
    count: db.prepare(`SELECT count(*) FROM objects WHERE key >= ? AND key < ?`),
    listHead: db.prepare(
      `SELECT o.key, l.rev, l.value FROM objects o JOIN log l ON l.rev = o.rev
       WHERE o.key >= :lo AND o.key < :end AND o.key IS NOT :skip ORDER BY o.key`,
    ),
    // The state at an older revision: for every key, its newest row at or
    // below the revision, unless that row is a delete. Walking the (key, rev)
    // index in key order streams, so a page costs its limit (plus the history
    // kept in its key range), not the whole range.
    listAt: db.prepare(
      `SELECT l.key, l.rev, l.value FROM log l
       WHERE l.key >= :lo AND l.key < :end AND l.key IS NOT :skip AND l.rev <= :rev AND l.type != ${DELETED}
         AND NOT EXISTS (SELECT 1 FROM log n WHERE n.key = l.key AND n.rev > l.rev AND n.rev <= :rev)
       ORDER BY l.key`,
    ),
    insertLog: db.prepare(`INSERT INTO log (rev, key, type, prev_rev, value) VALUES (?, ?, ?, ?, ?)`),
    upsertObject: db.prepare(
      `INSERT INTO objects (key, rev) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET rev = excluded.rev`,
    ),
    deleteObject: db.prepare(`DELETE FROM objects WHERE key = ?`),
    eventsInRange: db.prepare(
      `SELECT l.key, l.rev, l.type, l.value, p.value AS prev_value FROM log l LEFT JOIN log p ON p.rev = l.prev_rev
       WHERE l.rev > ? AND l.rev <= ? AND l.key >= ? AND l.key < ? ORDER BY l.rev`,
    ),
    eventsOfKey: db.prepare(
      `SELECT l.key, l.rev, l.type, l.value, p.value AS prev_value FROM log l LEFT JOIN log p ON p.rev = l.prev_rev
       WHERE l.key = ? AND l.rev > ? AND l.rev <= ? ORDER BY l.rev`,
    ),
    // Drops rows at or below the revision that a newer row at or below it
    // supersedes, and deletes (with what they superseded): what is left is
    // enough to answer reads at any revision from the compacted one on.
    compact: db.prepare(
      `DELETE FROM log WHERE rev <= :rev AND (
         type = ${DELETED}
         OR rev < (SELECT max(rev) FROM log l2 WHERE l2.key = log.key AND l2.rev <= :rev)
       )`,
    ),
  };
}
