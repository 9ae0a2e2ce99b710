import pg from 'pg';
import { TYPE_NAMES } from './engine-common.ts';
import { SQL } from './postgres-schema.ts';
import { ExpiredError, type WatchEvent } from './store.ts';
import { WatchFanout } from './watch-fanout.ts';

/** One row of an events query: both counters of its snapshot, then the event (absent when none matched). */
export interface EventRow {
  head: string;
  compacted: string;
  rev: string | null;
  key: string | null;
  type: number | null;
  value: string | null;
  prev_value: string | null;
}

/** Events read in one statement, with the counters of the same snapshot. */
export interface EventsRead {
  readonly head: number;
  readonly compacted: number;
  readonly events: WatchEvent[];
}

/** Turns the rows of an events query into events and the snapshot's counters. */
export function toEvents(rows: readonly EventRow[]): EventsRead {
  const first = rows[0];
  const events: WatchEvent[] = [];
  for (const row of rows) {
    if (row.rev === null) continue;
    const base = {
      type: TYPE_NAMES[row.type as 0 | 1 | 2],
      key: row.key!,
      revision: Number(row.rev),
      value: row.value!,
    };
    events.push(row.prev_value === null ? base : { ...base, prevValue: row.prev_value });
  }
  return { head: Number(first?.head ?? 0), compacted: Number(first?.compacted ?? 0), events };
}

export interface LogTailOptions {
  readonly pool: pg.Pool;
  /** Connection settings of the dedicated LISTEN client. */
  readonly clientConfig: pg.ClientConfig;
  readonly channel: string;
  /** The head when the store opened: the tail starts there. */
  readonly position: number;
  readonly compacted: number;
  readonly pollIntervalMs: number;
  /** Rows per catch-up query. */
  readonly batchSize?: number;
}

/** The largest revision a query bound accepts (revisions are bigint; JavaScript numbers are exact below this). */
export const MAX_REVISION = Number.MAX_SAFE_INTEGER;

/**
 * Follows the log of one database and publishes every committed event, of
 * every process, to this process's watchers: once, in revision order.
 *
 * `position` is the revision up to which every event has been handed to the
 * fanout. Anything that read a run of the log starting at or below it (the
 * catch-up query, or a write transaction that read what it had not seen
 * while holding the revision lock) calls {@link apply}, which publishes only
 * what lies beyond it; since commit order equals revision order, a read of
 * `rev > p` never misses a revision that later commits below a row it saw.
 *
 * Wake-ups: a NOTIFY on a dedicated connection (re-LISTENed after any drop,
 * then caught up), local commits, and a periodic poll as the fallback.
 */
export class LogTail {
  readonly fanout = new WatchFanout();
  #position: number;
  #compacted: number;
  readonly #options: LogTailOptions;
  readonly #batchSize: number;
  #fetching: Promise<void> | undefined;
  #again = false;
  #closed = false;
  #listener: pg.Client | undefined;
  #reconnectDelay = 100;
  #reconnectTimer: NodeJS.Timeout | undefined;
  readonly #poll: NodeJS.Timeout;
  readonly #waiters = new Set<{ revision: number; wake: () => void }>();
  /** Ends every open watch with an error (compaction overtook the tail); set by the store. */
  onExpired: (error: ExpiredError) => void = () => {};

  constructor(options: LogTailOptions) {
    this.#options = options;
    this.#position = options.position;
    this.#compacted = options.compacted;
    this.#batchSize = options.batchSize ?? 1000;
    this.#poll = setInterval(() => this.request(), options.pollIntervalMs);
    this.#poll.unref();
  }

  /**
   * A local batch is committing up to this revision and will publish everything up to it, or
   * call {@link settled} (which catches up) if it could not.
   */
  #committing = 0;

  /** Every event up to this revision has been published. */
  get position(): number {
    return this.#position;
  }

  /** The compacted revision as last seen. */
  get compacted(): number {
    return this.#compacted;
  }

  /** Records a compacted revision learnt elsewhere (a local compact, a read). */
  noteCompacted(compacted: number): void {
    if (compacted > this.#compacted) this.#compacted = compacted;
  }

  /** Connects the LISTEN client; resolves once it listens (the catch-up after it is under way). */
  async listen(): Promise<void> {
    const client = new pg.Client(this.#options.clientConfig);
    // A dropped connection emits 'error' and then 'end': reconnect once, on 'end'.
    client.on('error', () => {});
    client.on('end', () => {
      if (this.#listener !== client) return;
      this.#listener = undefined;
      this.#scheduleReconnect();
    });
    client.on('notification', (message) => {
      const revision = Number(message.payload);
      // A local batch's own NOTIFY (or an earlier commit, whose events that batch read under its
      // lock) is published by that batch: reading it back here would parse every row twice.
      if (revision > this.#position && revision > this.#committing) this.request();
    });
    try {
      await client.connect();
      await client.query(`LISTEN "${this.#options.channel}"`);
    } catch (error) {
      client.removeAllListeners('end');
      await client.end().catch(() => {});
      throw error;
    }
    if (this.#closed) {
      await client.end().catch(() => {});
      return;
    }
    this.#listener = client;
    this.#reconnectDelay = 100;
    // Whatever was committed while no one listened.
    this.request();
  }

  /** Publishes `events`, read as the run of the log after `after` in a snapshot whose compacted revision is `compacted`. */
  apply(after: number, compacted: number, events: readonly WatchEvent[]): boolean {
    if (this.#closed) return false;
    this.noteCompacted(compacted);
    if (compacted > this.#position) {
      // Compaction may have removed events this process never published:
      // watchers cannot be served without a gap, so they end with 410 and
      // relist; the tail carries on from the compacted revision.
      const error = new ExpiredError(this.#position, compacted);
      this.#position = compacted;
      this.onExpired(error);
      this.#wake();
      this.request();
      return false;
    }
    if (after > this.#position) return false;
    const fresh = events.filter((event) => event.revision > this.#position);
    if (fresh.length === 0) return true;
    this.#position = fresh[fresh.length - 1]!.revision;
    this.fanout.publish(fresh);
    this.#wake();
    return true;
  }

  /** A local batch sent its COMMIT, to publish every event up to `revision` itself. */
  committing(revision: number): void {
    if (revision > this.#committing) this.#committing = revision;
  }

  /** The local batch that called {@link committing} has settled: a NOTIFY it masked is caught up now. */
  settled(revision: number): void {
    if (revision === this.#committing) this.#committing = 0;
    if (this.#position < revision) this.request();
  }

  /** Asks for a catch-up read (coalesced: one query in flight, one more queued at most). */
  request(): void {
    if (this.#closed) return;
    if (this.#fetching) {
      this.#again = true;
      return;
    }
    this.#fetching = this.#catchUp()
      .catch(() => {
        // The database is unreachable: the poll or the re-LISTEN retries.
      })
      .finally(() => {
        this.#fetching = undefined;
      });
  }

  /** Resolves once the tail has published `revision` (or moved past it), or after `timeoutMs`. */
  until(revision: number, timeoutMs: number): Promise<void> {
    if (this.#position >= revision || this.#closed) return Promise.resolve();
    return new Promise((resolve) => {
      const waiter = {
        revision,
        wake: () => {
          clearTimeout(timer);
          this.#waiters.delete(waiter);
          resolve();
        },
      };
      const timer = setTimeout(waiter.wake, timeoutMs);
      this.#waiters.add(waiter);
      this.request();
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#poll);
    clearTimeout(this.#reconnectTimer);
    for (const waiter of [...this.#waiters]) waiter.wake();
    const listener = this.#listener;
    this.#listener = undefined;
    await listener?.end().catch(() => {});
    await this.#fetching;
  }

  async #catchUp(): Promise<void> {
    do {
      this.#again = false;
      const after = this.#position;
      const result = await this.#options.pool.query<EventRow>(SQL.events, [
        after,
        MAX_REVISION,
        this.#batchSize,
      ]);
      const read = toEvents(result.rows);
      this.apply(after, read.compacted, read.events);
      if (read.events.length === this.#batchSize) this.#again = true;
    } while (this.#again && !this.#closed);
  }

  #wake(): void {
    for (const waiter of [...this.#waiters]) if (waiter.revision <= this.#position) waiter.wake();
  }

  #scheduleReconnect(): void {
    if (this.#closed || this.#reconnectTimer) return;
    const delay = this.#reconnectDelay;
    this.#reconnectDelay = Math.min(this.#reconnectDelay * 2, 2_000);
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      this.listen().catch(() => this.#scheduleReconnect());
    }, delay);
    this.#reconnectTimer.unref();
  }
}
