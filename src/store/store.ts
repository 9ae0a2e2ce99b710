/**
 * The object store every hub component writes through: one append-only log of
 * revisions (kine's shape) with a table of current keys beside it.
 *
 * - Every write gets the next value of one global, monotonically increasing
 *   revision; that number is the object's resourceVersion.
 * - Values are JSON text. The writer renders the text once it knows the
 *   revision (`render(revision)`), so the stored text already carries its own
 *   resourceVersion and reads can hand it out without parsing.
 * - Every committed write is a watch event; watchers see each event once, in
 *   revision order, and a watch from below the compacted revision fails with
 *   {@link ExpiredError} (HTTP 410).
 */

/** One key's value at one revision. */
export interface StoredObject {
  readonly key: string;
  /** The revision of the write that produced this value (the resourceVersion). */
  readonly revision: number;
  /** JSON text of the object, rendered by the writer with this revision. */
  readonly value: string;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** A committed write as watchers see it. */
export interface WatchEvent {
  readonly type: WatchEventType;
  readonly key: string;
  readonly revision: number;
  /** The new value; for DELETED the last value, re-rendered with the delete's revision. */
  readonly value: string;
  /** The value before this write, when the store still has it (absent for ADDED). */
  readonly prevValue?: string;
}

export interface ListOptions {
  /** Only keys starting with this prefix. */
  readonly prefix: string;
  /** At most this many items (after `filter`); unlimited when absent or 0. */
  readonly limit?: number;
  /** Continue after this key (exclusive), as a `continue` token carries it. */
  readonly afterKey?: string;
  /** Read the state as of this revision (a consistent snapshot across pages); the head when absent. */
  readonly revision?: number;
  /** Keeps only the items it accepts; applied before `limit`. */
  readonly filter?: (object: StoredObject) => boolean;
}

export interface ListResult {
  readonly items: StoredObject[];
  /** The revision the list was read at (the list's resourceVersion). */
  readonly revision: number;
  /** The last key examined when the list stopped at `limit` with more keys left; undefined when complete. */
  readonly continueAfter?: string;
}

export interface WatchOptions {
  /**
   * What to watch: every key when empty, the keys starting with it when it
   * ends with `/`, otherwise exactly the key it names.
   */
  readonly prefix: string;
  /** Deliver every event with a revision greater than this one. */
  readonly afterRevision: number;
  /** Ends the watch. */
  readonly signal: AbortSignal;
}

/** Receives batches of events in revision order. Must not throw; a sink that throws ends its watch (`done` rejects). */
export type WatchSink = (events: readonly WatchEvent[]) => void;

export interface Watch {
  /** Settles when the watch ends: resolves on abort, rejects when the store ends it (e.g. {@link WatcherTooSlowError}). */
  readonly done: Promise<void>;
}

/** Renders an object's JSON text for the revision its write will get. */
export type Render = (revision: number) => string;

/** The narrow interface both engines (SQLite, PostgreSQL) implement; see the conformance suite. */
/** One group commit (one transaction holding every write queued meanwhile), as an engine reports it. */
export interface CommitStats {
  /** Writes in the transaction, refused preconditions included. */
  readonly writes: number;
  /** From the transaction's start to COMMIT returning (PostgreSQL: from taking a connection). */
  readonly seconds: number;
  /** The transaction failed: none of its writes happened. */
  readonly failed: boolean;
  /** Some of its writes were prepared while the batch before it was committing (SQLite's writer thread). */
  readonly pipelined?: boolean;
}

/** Told of every group commit (metrics); must not throw. */
export type CommitObserver = (commit: CommitStats) => void;

export interface Store {
  /** The revision of the last committed write. */
  currentRevision(): Promise<number>;
  /** Revisions at or below this one have been compacted; watches and snapshot reads below it expire. */
  compactedRevision(): Promise<number>;
  get(key: string): Promise<StoredObject | undefined>;
  list(options: ListOptions): Promise<ListResult>;
  /** Counts the current keys under a prefix. */
  count(prefix: string): Promise<number>;
  /** Creates `key`; throws {@link KeyExistsError} when it exists. */
  create(key: string, render: Render): Promise<StoredObject>;
  /**
   * Replaces `key` if its current revision is `expectedRevision`.
   * Throws {@link NotFoundError} when absent and {@link ConflictError} when the revision differs.
   */
  update(key: string, expectedRevision: number, render: Render): Promise<StoredObject>;
  /**
   * Deletes `key` if its current revision is `expectedRevision`; `render` gives the
   * tombstone's value (the last state, with the delete's revision).
   */
  delete(key: string, expectedRevision: number, render: Render): Promise<StoredObject>;
  /** Starts a watch; rejects with {@link ExpiredError} when `afterRevision` is below the compacted revision. */
  watch(options: WatchOptions, sink: WatchSink): Promise<Watch>;
  /** Forgets history at or below `revision` (never beyond the head); returns the new compacted revision. */
  compact(revision: number): Promise<number>;
  close(): Promise<void>;
}

/** Base class of every store failure callers are expected to handle. */
export class StoreError extends Error {}

export class KeyExistsError extends StoreError {
  constructor(readonly key: string) {
    super(`key ${key} already exists`);
  }
}

export class NotFoundError extends StoreError {
  constructor(readonly key: string) {
    super(`key ${key} not found`);
  }
}

/** The key's revision is not the one the write expected (optimistic concurrency). */
export class ConflictError extends StoreError {
  constructor(
    readonly key: string,
    readonly expected: number,
    readonly actual: number,
  ) {
    super(`key ${key} is at revision ${actual}, not ${expected}`);
  }
}

/** A watch or snapshot read asked for history that compaction removed. */
export class ExpiredError extends StoreError {
  constructor(
    readonly requested: number,
    readonly compacted: number,
  ) {
    super(`revision ${requested} is older than the compacted revision ${compacted}`);
  }
}

/** The watcher fell too far behind and was dropped; it should watch again from its last revision. */
export class WatcherTooSlowError extends StoreError {
  constructor() {
    super('watcher fell too far behind');
  }
}

/** The store was closed while the operation was pending. */
export class StoreClosedError extends StoreError {
  constructor() {
    super('store is closed');
  }
}

/**
 * The database behind the store cannot be reached (down, restarting, the
 * connection dropped). Reads and writes fail with it until the store has
 * reconnected by itself; a write that fails with it may or may not have been
 * committed (as a request whose connection dropped), and nothing acknowledged
 * is lost. The API answers it with 503.
 */
export class StoreUnavailableError extends StoreError {
  constructor(message = 'the store database is unavailable', options?: ErrorOptions) {
    super(message, options);
  }
}

/** The smallest key greater than every key starting with `prefix`. */
export function prefixEnd(prefix: string): string {
  return prefix.length === 0
    ? '\u{10FFFF}'
    : prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
}
