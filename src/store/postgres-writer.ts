import type pg from 'pg';
import { ADDED, DELETED, MODIFIED, type PendingWrite, TYPE_NAMES } from './engine-common.ts';
import { isUnavailable, SQL, translate } from './postgres-schema.ts';
import { type EventRow, type EventsRead, type LogTail, toEvents } from './postgres-tail.ts';
import {
  type CommitObserver,
  ConflictError,
  KeyExistsError,
  NotFoundError,
  type StoredObject,
  type WatchEvent,
} from './store.ts';

/** At most this many writes per transaction, so that the revision lock is never held for long. */
const MAX_BATCH = 2_000;
/** A write transaction reads the events it has not published yet, up to this many; beyond, the tail catches up. */
const MAX_GAP = 2_000;
/** How long an acknowledgement waits for the tail when the write could not publish its own events. */
const PUBLISH_WAIT_MS = 10_000;

/** What one batch does, computed in memory while the revision lock is held. */
interface Plan {
  readonly revision: number;
  readonly outcomes: Array<StoredObject | Error>;
  readonly events: WatchEvent[];
  readonly log: { rev: number[]; key: string[]; type: number[]; prev: Array<number | null>; value: string[] };
  /** Each key's final state after the batch: its new head revision, or null when deleted. */
  readonly finals: Map<string, number | null>;
}

/**
 * Group commit on PostgreSQL: every write requested while the previous batch
 * waits for its lock joins the next transaction, each checked against its own
 * precondition. The transaction first locks the revision counter row and
 * keeps it until COMMIT, so batches of every process commit one after the
 * other in revision order; a write is acknowledged only after COMMIT.
 *
 * Batches are pipelined: as soon as batch n has sent its write and COMMIT,
 * batch n+1 sends its lock on another connection, where PostgreSQL holds it
 * until n commits; its reads then see n's rows. So the lock passes from one
 * batch to the next inside the server, without a round trip to this process
 * in between. Batches settle (publish, acknowledge) in the order they were formed.
 */
export class GroupCommitter {
  readonly #pool: pg.Pool;
  readonly #tail: LogTail;
  readonly #channel: string;
  #queue: PendingWrite[] = [];
  #scheduled = false;
  /** Whether a batch is between taking its connection and sending its COMMIT: the next waits for that. */
  #locking = false;
  /** The revisions of the batch that sent its COMMIT and has not settled yet. */
  #ahead: Revisions | undefined;
  /** The newest batch's whole run (commit and settling); each batch settles after the one before it. */
  #last: Promise<void> = Promise.resolve();
  readonly #onCommit: CommitObserver | undefined;

  constructor(pool: pg.Pool, tail: LogTail, channel: string, onCommit?: CommitObserver) {
    this.#pool = pool;
    this.#tail = tail;
    this.#channel = channel;
    this.#onCommit = onCommit;
  }

  enqueue(write: PendingWrite): void {
    this.#queue.push(write);
    if (this.#scheduled || this.#locking) return;
    this.#scheduled = true;
    // Let the rest of this turn of the event loop queue its writes too.
    setImmediate(() => {
      this.#scheduled = false;
      this.#kick();
    });
  }

  /** Resolves once every queued write has been committed or refused. */
  async drain(): Promise<void> {
    do {
      this.#kick();
      await this.#last;
    } while (this.#locking || this.#queue.length > 0);
  }

  #kick(): void {
    if (this.#locking || this.#queue.length === 0) return;
    const batch = this.#queue.splice(0, MAX_BATCH);
    const started = performance.now();
    this.#locking = true;
    let sent = false;
    let writing: Revisions | undefined;
    // Called once the batch has sent its COMMIT (with the revisions it writes) or failed before:
    // the next batch may lock.
    const onSent = (revisions?: Revisions) => {
      if (sent) return;
      sent = true;
      this.#locking = false;
      writing = revisions;
      if (revisions) this.#ahead = revisions;
      this.#kick();
    };
    const previous = this.#last.catch(() => {});
    this.#last = this.#commit(batch, onSent, previous, this.#ahead)
      .then((failed) =>
        this.#onCommit?.({ writes: batch.length, seconds: (performance.now() - started) / 1000, failed }),
      )
      .finally(() => {
        onSent();
        // Settled: a batch formed from now on reads this one's events back if it needs them.
        if (writing && this.#ahead === writing) this.#ahead = undefined;
      });
  }

  /** Commits one batch and settles its writes; resolves with whether the transaction failed. */
  async #commit(
    batch: PendingWrite[],
    onSent: (writing?: Revisions) => void,
    previous: Promise<void>,
    before: Revisions | undefined,
  ): Promise<boolean> {
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (error) {
      onSent();
      await previous;
      const failure = translate(error, 'store commit failed');
      for (const write of batch) write.reject(failure);
      return true;
    }
    let plan: Plan | undefined;
    let unseen: { after: number; publishedUpTo: number; read: EventsRead } | undefined;
    let failure: unknown;
    let discard = false;
    let committing = 0;
    try {
      // Two round trips per batch, whatever its size: PostgreSQL runs the statements of one
      // simple query one after the other, each with its own snapshot, so the reads below see
      // everything committed before the lock was granted (the extended protocol, which takes
      // parameters, allows one statement per round trip). The values are inlined as literals.
      const keys = [...new Set(batch.map((write) => write.key))];
      // What this process has not published yet is read while no one can commit, so the
      // events of this batch can be published right after COMMIT with nothing missing before them.
      // The batch committing ahead of this one publishes its own events: they are not read back.
      const seen = this.#tail.position;
      const skip = before ?? { after: 0, upTo: 0 };
      const results = (await client.query(
        `${SQL.lockHead}; ${inline(SQL.eventsOutside, [String(seen), MAX_REVISION, String(MAX_GAP), String(skip.after), String(skip.upTo)])}; ${inline(SQL.readKeys, [textArray(keys)])}`,
      )) as unknown as [pg.QueryResult, pg.QueryResult, pg.QueryResult<EventRow>, pg.QueryResult<KeyRow>];
      const head = Number(results[1].rows[0]!.value);
      const skipped = Math.max(0, Math.min(skip.upTo, head) - Math.max(skip.after, seen));
      if (seen < head && head - seen - skipped <= MAX_GAP)
        unseen = { after: seen, publishedUpTo: skip.upTo, read: toEvents(results[2].rows) };
      else if (seen >= head)
        unseen = {
          after: head,
          publishedUpTo: 0,
          read: { head, compacted: this.#tail.compacted, events: [] },
        };
      plan = planBatch(batch, head, results[3].rows);
      if (plan.events.length > 0) {
        const upserts = [...plan.finals].filter(([, rev]) => rev !== null) as Array<[string, number]>;
        const deletes = [...plan.finals].filter(([, rev]) => rev === null).map(([key]) => key);
        const write = inline(SQL.writeBatch, [
          numberArray(plan.log.rev, 'bigint'),
          textArray(plan.log.key),
          numberArray(plan.log.type, 'smallint'),
          numberArray(plan.log.prev, 'bigint'),
          textArray(plan.log.value),
          textArray(upserts.map(([key]) => key)),
          numberArray(
            upserts.map(([, rev]) => rev),
            'bigint',
          ),
          textArray(deletes),
          String(plan.revision),
          literal(this.#channel),
        ]);
        const committed = client.query(`${write}; COMMIT`);
        committing = plan.revision;
        this.#tail.committing(committing);
        onSent({ after: head, upTo: plan.revision });
        await committed;
      } else {
        const committed = client.query('COMMIT');
        onSent();
        await committed;
      }
    } catch (error) {
      failure = error;
      discard = isUnavailable(error);
      if (!discard) await client.query('ROLLBACK').catch(() => (discard = true));
    }
    client.release(discard ? true : undefined);
    onSent();
    // The batch before this one publishes and acknowledges first (its COMMIT came first).
    await previous;
    if (failure !== undefined || !plan) {
      // Nothing of the batch is acknowledged. Had COMMIT itself been cut off, the
      // writes may have happened: the caller hears "unavailable", as for a dropped request.
      if (committing) this.#tail.settled(committing);
      const error = translate(failure, 'store commit failed');
      for (const write of batch) write.reject(error);
      return true;
    }
    if (plan.events.length > 0) {
      // The events skipped above are the batch before's, published by it unless it failed.
      const published =
        unseen && this.#tail.position >= unseen.publishedUpTo
          ? this.#tail.apply(unseen.after, unseen.read.compacted, [...unseen.read.events, ...plan.events])
          : false;
      // Acknowledge after the events are published, so that this process's watchers and
      // currentRevision() already reflect a write when its writer hears of it.
      if (!published || this.#tail.position < plan.revision)
        await this.#tail.until(plan.revision, PUBLISH_WAIT_MS);
      this.#tail.settled(committing);
    }
    batch.forEach((write, index) => {
      const outcome = plan.outcomes[index];
      if (outcome instanceof Error) write.reject(outcome);
      else if (outcome) write.resolve(outcome);
    });
    return false;
  }
}

type KeyRow = { key: string; rev: string; value: string };

/** The revisions a batch writes: (after, upTo]. */
interface Revisions {
  readonly after: number;
  readonly upTo: number;
}

/** Above any revision: the gap read is bounded by the lock (nothing above the head is committed). */
const MAX_REVISION = '9223372036854775807';

/** A string as a SQL literal, whatever `standard_conforming_strings` says. */
function literal(text: string): string {
  const quoted = text.replaceAll("'", "''");
  return text.includes('\\') ? `E'${quoted.replaceAll('\\', '\\\\')}'` : `'${quoted}'`;
}

function textArray(items: readonly string[]): string {
  return items.length === 0 ? `'{}'::text[]` : `ARRAY[${items.map(literal).join(',')}]::text[]`;
}

function numberArray(items: ReadonlyArray<number | null>, type: 'bigint' | 'smallint'): string {
  return items.length === 0
    ? `'{}'::${type}[]`
    : `ARRAY[${items.map((item) => (item === null ? 'NULL' : String(item))).join(',')}]::${type}[]`;
}

/** Puts literals in the places of a statement's `$n` parameters (one pass: inserted text is not rescanned). */
function inline(sql: string, values: readonly string[]): string {
  return sql.replace(/\$(\d+)/g, (_, n: string) => `(${values[Number(n) - 1]!})`);
}

/** Checks every write's precondition against the heads read under the lock, in order, and assigns revisions. */
function planBatch(batch: readonly PendingWrite[], head: number, rows: readonly KeyRow[]): Plan {
  const heads = new Map<string, { rev: number; value: string } | undefined>(
    rows.map((row) => [row.key, { rev: Number(row.rev), value: row.value }]),
  );
  const plan: Plan = {
    revision: head,
    outcomes: [],
    events: [],
    log: { rev: [], key: [], type: [], prev: [], value: [] },
    finals: new Map(),
  };
  let revision = head;
  for (const write of batch) {
    const current = heads.get(write.key);
    if (write.op === 'create' && current) {
      plan.outcomes.push(new KeyExistsError(write.key));
      continue;
    }
    if (write.op !== 'create') {
      if (!current) {
        plan.outcomes.push(new NotFoundError(write.key));
        continue;
      }
      if (current.rev !== write.expectedRevision) {
        plan.outcomes.push(new ConflictError(write.key, write.expectedRevision, current.rev));
        continue;
      }
    }
    let value: string;
    try {
      value = write.render(revision + 1);
    } catch (error) {
      plan.outcomes.push(error instanceof Error ? error : new Error(String(error)));
      continue;
    }
    revision++;
    const type = write.op === 'create' ? ADDED : write.op === 'update' ? MODIFIED : DELETED;
    plan.log.rev.push(revision);
    plan.log.key.push(write.key);
    plan.log.type.push(type);
    plan.log.prev.push(current?.rev ?? null);
    plan.log.value.push(value);
    heads.set(write.key, type === DELETED ? undefined : { rev: revision, value });
    plan.finals.set(write.key, type === DELETED ? null : revision);
    plan.outcomes.push({ key: write.key, revision, value });
    const event: WatchEvent = { type: TYPE_NAMES[type], key: write.key, revision, value };
    plan.events.push(current ? { ...event, prevValue: current.value } : event);
  }
  return { ...plan, revision };
}
