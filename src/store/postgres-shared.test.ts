/**
 * What only the PostgreSQL engine has to get right: several stores (hub
 * processes) on one database, a schema from the future, and a database that
 * restarts, crashes or drops the LISTEN connection.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { type PostgresCluster, startPostgres } from '../../test/support/index.ts';
import { assertIncreasing, doc, parseDoc, Recorder } from './conformance-support.ts';
import { POSTGRES_SCHEMA_VERSION, PostgresStore, type PostgresStoreOptions } from './postgres.ts';
import {
  ConflictError,
  ExpiredError,
  type Store,
  type StoredObject,
  StoreUnavailableError,
  type WatchEvent,
} from './store.ts';

let cluster: PostgresCluster;
let schemas = 0;

before(async () => {
  cluster = await startPostgres();
});

after(async () => {
  await cluster?.stop();
});

/** Runs `body` with a fresh schema and opens stores on it; closes them and drops the schema after. */
async function withSchema(
  body: (
    open: (options?: Partial<PostgresStoreOptions>) => Promise<PostgresStore>,
    schema: string,
  ) => Promise<void>,
): Promise<void> {
  const schema = `shared_${++schemas}`;
  const stores: PostgresStore[] = [];
  const open = async (options: Partial<PostgresStoreOptions> = {}) => {
    const store = await PostgresStore.open({ url: cluster.url, schema, ...options });
    stores.push(store);
    return store;
  };
  try {
    await body(open, schema);
  } finally {
    for (const store of stores) await store.close();
    await sql(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  }
}

/** One statement on a connection of its own (the cluster may have restarted since the last one). */
async function sql(text: string, values: unknown[] = []): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: cluster.url });
  await client.connect();
  try {
    return await client.query(text, values);
  } finally {
    await client.end();
  }
}

/** Starts a watch of everything from `afterRevision` into a fresh recorder. */
async function watchAll(store: Store, afterRevision: number) {
  const recorder = new Recorder();
  const controller = new AbortController();
  const watch = await store.watch({ prefix: '', afterRevision, signal: controller.signal }, recorder.sink);
  return { recorder, controller, done: watch.done };
}

/** Polls `check` until it holds (a deadline, not a sleep to pass). */
async function eventually(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The events a watcher must see for these acknowledged writes, in revision order. */
function expectedEvents(written: readonly StoredObject[]): Array<[number, string, string]> {
  return [...written]
    .sort((a, b) => a.revision - b.revision)
    .map((object) => [object.revision, object.key, parseDoc(object.value).data]);
}

const brief = (events: readonly WatchEvent[]) =>
  events.map((event): [number, string, string] => [event.revision, event.key, parseDoc(event.value).data]);

describe('PostgresStore on a shared database', () => {
  it('shows every write of two stores to the watches of both, once and in revision order, under concurrent writers', () =>
    withSchema(async (open) => {
      const a = await open();
      const b = await open();
      const start = await a.currentRevision();
      const watches = [await watchAll(a, start), await watchAll(b, start)];
      const written: StoredObject[] = [];
      // Eight writers per store, each on its own keys: creates then updates, so that the
      // transactions of both processes interleave on every commit.
      const writer = async (store: Store, name: string) => {
        for (let round = 0; round < 12; round++) {
          const key = `/k/${name}/${round % 4}`;
          const current = await store.get(key);
          const object = current
            ? await store.update(key, current.revision, doc(`${name}#${round}`))
            : await store.create(key, doc(`${name}#${round}`));
          written.push(object);
        }
      };
      await Promise.all([
        ...Array.from({ length: 8 }, (_, index) => writer(a, `a${index}`)),
        ...Array.from({ length: 8 }, (_, index) => writer(b, `b${index}`)),
      ]);
      const head = Math.max(...written.map((object) => object.revision));
      assert.equal(head - start, written.length, 'revisions are dense: one per acknowledged write');
      // A watch started late on either store gets the same history from its backlog.
      watches.push(await watchAll(b, start), await watchAll(a, start + 50));
      for (const [index, watch] of watches.entries()) {
        await watch.recorder.untilRevision(head);
        const from = index === 3 ? start + 50 : start;
        assert.deepEqual(
          brief(watch.recorder.events),
          expectedEvents(written.filter((object) => object.revision > from)),
          `watch ${index}`,
        );
        watch.controller.abort();
      }
      assert.equal(await b.currentRevision(), head);
    }));

  it('lets exactly one of two stores win a race to update the same revision; the other gets ConflictError', () =>
    withSchema(async (open) => {
      const a = await open();
      const b = await open();
      let current = await a.create('/race', doc('0'));
      for (let round = 1; round <= 20; round++) {
        const outcomes = await Promise.allSettled([
          a.update('/race', current.revision, doc(`a${round}`)),
          b.update('/race', current.revision, doc(`b${round}`)),
        ]);
        const won = outcomes.filter((outcome) => outcome.status === 'fulfilled');
        const lost = outcomes.filter((outcome) => outcome.status === 'rejected');
        assert.equal(won.length, 1, `round ${round}: one winner`);
        assert.ok(lost[0]!.reason instanceof ConflictError, `round ${round}: the loser gets a conflict`);
        current = (won[0] as PromiseFulfilledResult<StoredObject>).value;
        assert.deepEqual(await b.get('/race'), current);
      }
    }));

  it('stores keys and values holding quotes, backslashes, dollar signs and non-ASCII text unchanged (writes inline them as literals)', () =>
    withSchema(async (open) => {
      const store = await open();
      const awkward = [
        `it's`,
        `back\\slash \\' \\\\`,
        `$1 $$ $10::text`,
        `ünïcödé ✓ 🚀`,
        `'); DROP TABLE log; --`,
      ];
      const written = await Promise.all(
        awkward.map((text, index) =>
          store.create(`/test/awkward/${index}-${text}`, (revision) => text + revision),
        ),
      );
      const seen = new Map(written.map((object) => [object.key, object.value]));
      for (const [index, text] of awkward.entries()) {
        const key = `/test/awkward/${index}-${text}`;
        const expected = text + written[index]!.revision;
        assert.equal(seen.get(key), expected);
        assert.equal((await store.get(key))?.value, expected);
      }
      const listed = await store.list({ prefix: '/test/awkward/' });
      assert.deepEqual(
        Object.fromEntries(listed.items.map((object) => [object.key, object.value])),
        Object.fromEntries(seen),
      );
      const updated = await store.update(written[1]!.key, written[1]!.revision, () => `'\\'`);
      assert.equal((await store.get(updated.key))?.value, `'\\'`);
    }));

  it('refuses to open a schema newer than it knows, naming both versions', () =>
    withSchema(async (open, schema) => {
      const store = await open();
      await store.close();
      await sql(`UPDATE "${schema}".meta SET value = $1 WHERE name = 'schema'`, [
        POSTGRES_SCHEMA_VERSION + 1,
      ]);
      await assert.rejects(
        PostgresStore.open({ url: cluster.url, schema }),
        new RegExp(
          `schema version ${POSTGRES_SCHEMA_VERSION + 1} is newer .*\\(${POSTGRES_SCHEMA_VERSION}\\); upgrade Outpost`,
        ),
      );
    }));

  it('catches up after its LISTEN connection is killed, with no gap, without waiting for the poll', () =>
    withSchema(async (open) => {
      // A poll this slow would fail the deadline: only re-LISTEN and catch-up can deliver in time.
      const a = await open({ pollIntervalMs: 600_000 });
      const b = await open();
      const start = await a.currentRevision();
      const watch = await watchAll(a, start);
      const first = await b.create('/l/1', doc('1'));
      await watch.recorder.untilRevision(first.revision);
      const listeners = await sql(
        `SELECT pid FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid()`,
      );
      assert.ok(listeners.rows.length >= 2, 'both stores listen');
      await sql(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%'`);
      const written = [first];
      for (let index = 2; index <= 6; index++)
        written.push(await b.create(`/l/${index}`, doc(String(index))));
      await watch.recorder.untilRevision(written.at(-1)!.revision);
      assert.deepEqual(brief(watch.recorder.events), expectedEvents(written));
      assert.equal(await a.currentRevision(), written.at(-1)!.revision);
      watch.controller.abort();
    }));

  it('ends the watches of a store whose unread history another store compacted, with ExpiredError', async () => {
    // The scenario needs A not to have read the writes before B compacts them. A catch-up read of
    // A's already on its way (started by its watch) can still see them on a loaded machine; then
    // A has no gap and rightly ends nothing, so the scenario runs again (at most five times).
    for (let attempt = 1; ; attempt++) {
      let missed = true;
      await withSchema(async (open, schema) => {
        const a = await open({ pollIntervalMs: 600_000 });
        const b = await open();
        const first = await a.create('/c/1', doc('1'));
        const watch = await watchAll(a, first.revision - 1);
        await watch.recorder.untilRevision(first.revision);
        // Writes that A is never told about (as if their notifications were lost), then compacted by B.
        const client = new pg.Client({ connectionString: cluster.url, options: `-c search_path=${schema}` });
        await client.connect();
        try {
          await client.query(`BEGIN; SELECT value FROM meta WHERE name = 'revision' FOR UPDATE`);
          const head = first.revision;
          await client.query(
            `INSERT INTO log (rev, key, type, prev_rev, value) VALUES ($1, '/c/1', 1, $2, $3), ($4, '/c/1', 1, $1, $5)`,
            [head + 1, head, doc('2')(head + 1), head + 2, doc('3')(head + 2)],
          );
          await client.query(`UPDATE objects SET rev = $1 WHERE key = '/c/1'`, [head + 2]);
          await client.query(`UPDATE meta SET value = $1 WHERE name = 'revision'`, [head + 2]);
          await client.query('COMMIT');
        } finally {
          await client.end();
        }
        assert.equal(await b.compact(first.revision + 2), first.revision + 2);
        // A's next write reads what it missed, sees the compaction, and ends the watch.
        const ending = watch.done.then(
          () => 'ended without error',
          (error: unknown) => error,
        );
        const next = await a.create('/c/2', doc('x'));
        const outcome = await Promise.race([
          ending,
          watch.recorder.untilRevision(next.revision).then(
            () => 'saw everything',
            () => 'saw neither the end nor every write',
          ),
        ]);
        if (
          outcome === 'saw everything' &&
          watch.recorder.events.some((e) => e.revision === first.revision + 1)
        ) {
          assert.ok(attempt < 5, 'A read the writes before their compaction five times in a row');
          missed = false;
          watch.controller.abort();
          return;
        }
        assert.ok(outcome instanceof ExpiredError, String(outcome));
        assert.equal(outcome.compacted, first.revision + 2);
        await assert.rejects(
          a.watch({ prefix: '', afterRevision: first.revision, signal: AbortSignal.abort() }, () => {}),
          ExpiredError,
        );
        const fresh = await watchAll(a, first.revision + 2);
        await fresh.recorder.untilRevision(next.revision);
        assert.deepEqual(brief(fresh.recorder.events), [[next.revision, '/c/2', 'x']]);
        fresh.controller.abort();
      });
      if (!missed) continue;
      return;
    }
  });
});

describe('PostgresStore when PostgreSQL goes away', () => {
  /**
   * Writes on two stores while `outage` takes the database down and up,
   * then checks: failures are StoreUnavailableError, every acknowledged
   * write is there, and the watch opened before saw each of them once, in
   * order (or ended with 410).
   */
  async function writeThrough(outage: () => Promise<void>): Promise<void> {
    await withSchema(async (open, schema) => {
      const a = await open({ pollIntervalMs: 200 });
      const b = await open({ pollIntervalMs: 200 });
      const start = await a.currentRevision();
      const watch = await watchAll(b, start);
      let ended: unknown;
      watch.done.catch((error: unknown) => {
        ended = error;
      });
      const acknowledged: StoredObject[] = [];
      const failures: unknown[] = [];
      let stop = false;
      let next = 0;
      const writer = async (store: Store) => {
        while (!stop) {
          const index = next++;
          try {
            acknowledged.push(await store.create(`/w/${index}`, doc(String(index))));
          } catch (error) {
            failures.push(error);
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
        }
      };
      const writers = [a, b, a, b, a, b].map(writer);
      await eventually(() => acknowledged.length >= 50, 'writes before the outage');
      await outage();
      const before = acknowledged.length;
      await eventually(() => acknowledged.length >= before + 50, 'writes after the outage', 30_000);
      stop = true;
      await Promise.all(writers);
      assert.ok(failures.length > 0, 'some writes failed while the database was down');
      for (const failure of failures)
        assert.ok(failure instanceof StoreUnavailableError, `failed with ${String(failure)}`);
      for (const object of acknowledged) assert.deepEqual(await a.get(object.key), object);
      assertIncreasing(
        watch.recorder.events.map((event) => event.revision),
        'watch revisions',
      );
      if (ended === undefined) {
        const head = Math.max(...acknowledged.map((object) => object.revision));
        await watch.recorder.untilRevision(head);
        // Writes whose COMMIT was cut off may have happened: they are in the log and the watch, unacknowledged.
        const seen = new Set(watch.recorder.events.map((event) => event.revision));
        for (const object of acknowledged) assert.ok(seen.has(object.revision), `watch saw ${object.key}`);
        const logged = await sql(`SELECT count(*)::int AS n FROM "${schema}".log WHERE rev > $1`, [start]);
        assert.equal(
          watch.recorder.events.length,
          logged.rows[0].n,
          'the watch saw every committed write once',
        );
      } else {
        assert.ok(ended instanceof ExpiredError, `the watch ended with ${String(ended)}`);
      }
      watch.controller.abort();
    });
  }

  it('keeps every acknowledged write and resumes watches across a PostgreSQL restart under write load', () =>
    writeThrough(() => cluster.restart()));

  it('keeps every acknowledged write and resumes watches across a PostgreSQL crash under write load', () =>
    writeThrough(async () => {
      await cluster.kill();
      await new Promise((resolve) => setTimeout(resolve, 300)); // the outage itself, not a wait for a result
      await cluster.start();
    }));
});
