import Database from 'better-sqlite3';
import { ADDED, DELETED, MODIFIED, type PendingWrite, TYPE_NAMES } from './engine-common.ts';
import type { LogRowTuple, WriterJob, WriterResult } from './sqlite-commit.ts';
import { inlineWriter, type SqliteWriter, threadWriter } from './sqlite-writer.ts';
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
  /** Path of the database file (created when missing), or `:memory:`. */
  readonly path: string;
  /**
   * SQLite's `synchronous` setting. FULL makes every acknowledged write
   * durable on power loss; NORMAL only on process crash.
   * @default 'FULL'
   */
  readonly synchronous?: 'FULL' | 'NORMAL';
  /** Told of every group commit (the hub's store metrics). @default none */
  readonly onCommit?: CommitObserver;
  /**
   * Commit on a worker thread with its own connection, so that the transaction and its fsync do
   * not block the event loop. An in-memory database always commits on the store's connection.
   * @default true
   */
  readonly writerThread?: boolean;
}

interface LogRow {
  key: string;
  rev: number;
  type: number;
  value: string;
  prev_value: string | null;
}

/** A key's newest written state that is not acknowledged yet; `value` undefined: deleted. */
interface PendingState {
  readonly revision: number;
  readonly value: string | undefined;
}

/** Writes prepared together: preconditions checked, values rendered, rows ready for the writer. */
interface Batch {
  readonly writes: PendingWrite[];
  readonly outcomes: Array<StoredObject | Error>;
  readonly events: WatchEvent[];
  readonly rows: LogRowTuple[];
  /** The revision of its last row (the counter once it has committed). */
  lastRevision: number;
  /** Bytes of values written, for the checkpoint (`CHECKPOINT_BYTES`). */
  bytes: number;
  /** Some of its writes were prepared while the batch before it was committing. */
  pipelined: boolean;
}

type Job =
  | { readonly kind: 'commit'; readonly batch: Batch }
  | {
      readonly kind: 'compact';
      readonly revision: number;
      resolve(revision: number): void;
      reject(error: unknown): void;
    }
  | { readonly kind: 'checkpoint' };

/**
 * After about this many bytes committed, the writer checkpoints the WAL while no read is pinned
 * to a snapshot, so that the next commit starts the WAL over: with a read always pinned, the WAL
 * could never be reset and would grow for as long as writes go on.
 */
const CHECKPOINT_BYTES = 4 * 1024 * 1024;

/**
 * The embedded store: one SQLite file in WAL mode.
 *
 * Writes are group-committed: every write requested during one turn of the event loop joins a
 * batch, each checked against its precondition on its own (against the acknowledged state plus
 * the writes still pending), so a failed precondition fails that write only. The batch's rows
 * are committed by the writer (`sqlite-writer.ts`: a worker thread with its own connection), one
 * batch at a time; while one commits, the next is being prepared. Revisions become visible (to
 * reads, which stay pinned to the acknowledged snapshot meanwhile, and to watchers) and writes
 * are acknowledged only once their batch has committed, so no one sees a write that could still
 * be lost.
 */
export class SqliteStore implements Store {
  readonly #db: Database.Database;
  readonly #writer: SqliteWriter;
  readonly #fanout = new WatchFanout();
  readonly #statements;
  /** The revision of the last acknowledged (committed and published) write. */
  #revision: number;
  /** The revision of the last prepared write (committed or not). */
  #assigned: number;
  #compacted: number;
  /** Writes requested in this turn of the event loop, not prepared yet. */
  #queue: PendingWrite[] = [];
  #prepareScheduled = false;
  /** Prepared writes waiting for the writer (to be sent once the job in flight is done). */
  #next: Batch | undefined;
  /** Compactions and checkpoints waiting for the writer; they go before the next batch. */
  readonly #chores: Job[] = [];
  #inFlight: Job | undefined;
  /** Every key with a prepared write not yet acknowledged: its newest state. */
  readonly #pending = new Map<string, PendingState>();
  #bytesSinceCheckpoint = 0;
  readonly #idleWaiters: Array<() => void> = [];
  #closing: Promise<void> | undefined;
  #closed = false;
  readonly #watchers = new Set<() => void>();
  readonly #onCommit: CommitObserver | undefined;

  constructor(options: SqliteStoreOptions) {
    this.#onCommit = options.onCommit;
    this.#db = new Database(options.path);
    const synchronous = options.synchronous ?? 'FULL';
    try {
      this.#db.pragma('journal_mode = WAL');
      this.#db.pragma(`synchronous = ${synchronous}`);
      this.#db.pragma('busy_timeout = 5000');
      migrate(this.#db);
      this.#statements = prepare(this.#db);
    } catch (error) {
      // A refused (e.g. newer) schema must not leave the file open behind the thrown error.
      this.#db.close();
      throw error;
    }
    this.#revision = Number(this.#statements.getMeta.pluck().get('revision') ?? 0);
    this.#assigned = this.#revision;
    this.#compacted = Number(this.#statements.getMeta.pluck().get('compacted') ?? 0);
    const inMemory = options.path === ':memory:' || options.path === '';
    this.#writer =
      options.writerThread === false || inMemory
        ? inlineWriter(this.#db)
        : threadWriter(options.path, synchronous);
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
    return new Promise((resolve, reject) => {
      this.#chores.push({ kind: 'compact', revision: target, resolve, reject });
      this.#pump();
    });
  }

  close(): Promise<void> {
    this.#closing ??= this.#shutDown();
    return this.#closing;
  }

  async #shutDown(): Promise<void> {
    // Writes already requested are committed and acknowledged first; later ones are refused.
    this.#prepare();
    if (this.#inFlight) await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
    this.#closed = true;
    for (const end of [...this.#watchers]) end();
    await this.#writer.close();
    this.#unpin();
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
    if (this.#closing) return Promise.reject(new StoreClosedError());
    return new Promise((resolve, reject) => {
      this.#queue.push({ op, key, expectedRevision, render, resolve, reject });
      if (!this.#prepareScheduled) {
        this.#prepareScheduled = true;
        setImmediate(() => this.#prepare());
      }
    });
  }

  /** Checks and renders every queued write into the next batch, then hands the writer work if it is idle. */
  #prepare(): void {
    this.#prepareScheduled = false;
    const writes = this.#queue;
    if (writes.length === 0) return;
    this.#queue = [];
    const batch = this.#next ?? {
      writes: [],
      outcomes: [],
      events: [],
      rows: [],
      lastRevision: 0,
      bytes: 0,
      pipelined: false,
    };
    if (this.#inFlight?.kind === 'commit') batch.pipelined = true;
    this.#next = batch;
    for (const write of writes) {
      batch.writes.push(write);
      batch.outcomes.push(this.#apply(write, batch));
    }
    this.#pump();
  }

  /**
   * Checks one write's precondition against the key's newest state (pending or acknowledged) and,
   * when it holds, renders it at the next revision and adds its row and event to the batch.
   */
  #apply(write: PendingWrite, batch: Batch): StoredObject | Error {
    const current = this.#current(write.key);
    if (write.op === 'create' && current) return new KeyExistsError(write.key);
    if (write.op !== 'create') {
      if (!current) return new NotFoundError(write.key);
      if (current.rev !== write.expectedRevision) {
        return new ConflictError(write.key, write.expectedRevision, current.rev);
      }
    }
    const revision = this.#assigned + 1;
    let value: string;
    try {
      value = write.render(revision);
    } catch (error) {
      return error instanceof Error ? error : new Error(String(error));
    }
    this.#assigned = revision;
    const type = write.op === 'create' ? ADDED : write.op === 'update' ? MODIFIED : DELETED;
    batch.rows.push([revision, write.key, type, current?.rev ?? null, value]);
    batch.lastRevision = revision;
    batch.bytes += value.length;
    this.#pending.set(write.key, { revision, value: type === DELETED ? undefined : value });
    batch.events.push(
      current
        ? { type: TYPE_NAMES[type], key: write.key, revision, value, prevValue: current.value }
        : { type: TYPE_NAMES[type], key: write.key, revision, value },
    );
    return { key: write.key, revision, value };
  }

  /** A key's newest state, counting writes prepared but not yet acknowledged. */
  #current(key: string): { rev: number; value: string } | undefined {
    const pending = this.#pending.get(key);
    if (pending)
      return pending.value === undefined ? undefined : { rev: pending.revision, value: pending.value };
    return this.#statements.get.get(key) as { rev: number; value: string } | undefined;
  }

  /** Sends the writer its next job when it is idle: chores first, then the prepared batch. */
  #pump(): void {
    while (!this.#inFlight) {
      let job = this.#chores.shift();
      if (!job && this.#next) {
        job = { kind: 'commit', batch: this.#next };
        this.#next = undefined;
        // Nothing is in flight, so a batch that writes nothing was checked against acknowledged state only.
        if (job.batch.rows.length === 0) {
          settle(job.batch);
          continue;
        }
      }
      if (!job) {
        this.#unpin();
        for (const resolve of this.#idleWaiters.splice(0)) resolve();
        return;
      }
      // Reads stay on the snapshot of what is acknowledged while the job may commit beyond it;
      // a checkpoint runs unpinned so that it can copy the whole WAL.
      if (job.kind === 'checkpoint') this.#unpin();
      else this.#pin();
      const sent = job;
      this.#inFlight = sent;
      this.#writer.send(writerJob(sent), (result) => this.#finished(sent, result));
    }
  }

  #finished(job: Job, result: WriterResult): void {
    this.#inFlight = undefined;
    if (job.kind === 'compact') {
      if (result.ok) {
        this.#compacted = Math.max(this.#compacted, job.revision);
        job.resolve(this.#compacted);
      } else job.reject(new Error('store compaction failed', { cause: new Error(result.message) }));
      this.#pump();
      return;
    }
    if (job.kind === 'checkpoint') {
      this.#pump();
      return;
    }
    const { batch } = job;
    this.#onCommit?.({
      writes: batch.writes.length,
      seconds: result.seconds,
      failed: !result.ok,
      pipelined: batch.pipelined,
    });
    if (!result.ok) {
      this.#commitFailed(batch, new Error('store commit failed', { cause: new Error(result.message) }));
      return;
    }
    this.#revision = batch.lastRevision;
    for (const [, key] of batch.rows) {
      if ((this.#pending.get(key)?.revision ?? 0) <= batch.lastRevision) this.#pending.delete(key);
    }
    this.#bytesSinceCheckpoint += batch.bytes;
    if (this.#bytesSinceCheckpoint >= CHECKPOINT_BYTES && this.#writer.threaded) {
      this.#bytesSinceCheckpoint = 0;
      this.#chores.push({ kind: 'checkpoint' });
    }
    // The writer starts on the next batch while this one is published and acknowledged.
    this.#pump();
    this.#fanout.publish(batch.events);
    settle(batch);
  }

  /**
   * None of the batch happened: its writes fail, and the batch prepared meanwhile (checked against
   * states that never came to be) is prepared again from the acknowledged state.
   */
  #commitFailed(batch: Batch, error: Error): void {
    for (const write of batch.writes) write.reject(error);
    const next = this.#next;
    this.#next = undefined;
    this.#pending.clear();
    this.#assigned = this.#revision;
    if (next) this.#queue = [...next.writes, ...this.#queue];
    this.#prepare();
    this.#pump();
  }

  /** Pins this connection's reads to the snapshot of what is acknowledged (writer thread only). */
  #pin(): void {
    if (!this.#writer.threaded) return;
    if (this.#db.inTransaction) this.#statements.commit.run();
    this.#statements.begin.run();
    // A deferred transaction takes its snapshot at its first read.
    this.#statements.getMeta.get('revision');
  }

  #unpin(): void {
    if (this.#writer.threaded && this.#db.inTransaction) this.#statements.commit.run();
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

/** Acknowledges (or refuses) every write of a committed batch. */
function settle(batch: Batch): void {
  batch.writes.forEach((write, index) => {
    const outcome = batch.outcomes[index];
    if (outcome instanceof Error) write.reject(outcome);
    else if (outcome) write.resolve(outcome);
  });
}

function writerJob(job: Job): WriterJob {
  if (job.kind === 'commit')
    return { kind: 'commit', rows: job.batch.rows, revision: job.batch.lastRevision };
  if (job.kind === 'compact') return { kind: 'compact', revision: job.revision };
  return { kind: 'checkpoint' };
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
    begin: db.prepare('BEGIN'),
    commit: db.prepare('COMMIT'),
    getMeta: db.prepare(`SELECT value FROM meta WHERE name = ?`),
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
    eventsInRange: db.prepare(
      `SELECT l.key, l.rev, l.type, l.value, p.value AS prev_value FROM log l LEFT JOIN log p ON p.rev = l.prev_rev
       WHERE l.rev > ? AND l.rev <= ? AND l.key >= ? AND l.key < ? ORDER BY l.rev`,
    ),
    eventsOfKey: db.prepare(
      `SELECT l.key, l.rev, l.type, l.value, p.value AS prev_value FROM log l LEFT JOIN log p ON p.rev = l.prev_rev
       WHERE l.key = ? AND l.rev > ? AND l.rev <= ? ORDER BY l.rev`,
    ),
  };
}
