import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, mock } from 'node:test';
import Database from 'better-sqlite3';
import { describeStoreConformance } from './conformance.ts';
import { doc, withStore } from './conformance-support.ts';
import { SQLITE_SCHEMA_VERSION, SqliteStore, type SqliteStoreOptions } from './sqlite.ts';
import { ConflictError, KeyExistsError, StoreClosedError } from './store.ts';

// Each store costs a few fsyncs to create and remove (WAL switch, schema, unlink), about 10 ms
// each on these disks; on tmpfs they cost nothing, and the suite opens about a hundred stores.
const TEMP_ROOT = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();

/** A fresh SQLite store in its own temp dir; `reopen` closes it and opens the same file again. */
async function openSqlite(options: Omit<SqliteStoreOptions, 'path'> = {}) {
  const dir = await mkdtemp(join(TEMP_ROOT, 'outpost-store-'));
  const path = join(dir, 'store.db');
  let store = new SqliteStore({ ...options, path });
  return {
    path,
    get store() {
      return store;
    },
    async reopen() {
      await store.close();
      store = new SqliteStore({ ...options, path });
      return store;
    },
    async cleanup() {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

describeStoreConformance('SQLite', () => openSqlite());

describe('SqliteStore', () => {
  it('refuses a database whose schema is newer than it understands, naming both versions', async () => {
    const opened = await openSqlite();
    try {
      await opened.store.close();
      const db = new Database(opened.path);
      db.prepare(`UPDATE meta SET value = ? WHERE name = 'schema'`).run(SQLITE_SCHEMA_VERSION + 1);
      db.close();
      assert.throws(
        () => new SqliteStore({ path: opened.path }),
        new RegExp(
          `schema version ${SQLITE_SCHEMA_VERSION + 1} is newer .*\\(${SQLITE_SCHEMA_VERSION}\\); upgrade Outpost`,
        ),
      );
    } finally {
      await opened.cleanup();
    }
  });

  it('sets synchronous to FULL by default and to NORMAL when asked', async () => {
    // The pragma is per connection: read it back on the store's own connection.
    const connections: Database.Database[] = [];
    const pragma = Database.prototype.pragma;
    const spy = mock.method(
      Database.prototype,
      'pragma',
      function (this: Database.Database, ...args: Parameters<typeof pragma>) {
        connections.push(this);
        return pragma.apply(this, args);
      },
    );
    const synchronousOf = async (options: Omit<SqliteStoreOptions, 'path'>) => {
      connections.length = 0;
      const opened = await openSqlite(options);
      try {
        return pragma.call(connections[0]!, 'synchronous', { simple: true });
      } finally {
        await opened.cleanup();
      }
    };
    try {
      assert.equal(await synchronousOf({}), 2, 'FULL');
      assert.equal(await synchronousOf({ synchronous: 'NORMAL' }), 1, 'NORMAL');
    } finally {
      spy.mock.restore();
    }
  });

  it('keeps the revision, the compacted revision and the data across a reopen', () =>
    withStore(openSqlite, async ({ store, reopen }) => {
      const a = await store.create('/k/a', doc('a1'));
      const a2 = await store.update('/k/a', a.revision, doc('a2'));
      const b = await store.create('/k/b', doc('b1'));
      await store.compact(a2.revision);
      const reopened = await reopen!();
      assert.equal(await reopened.currentRevision(), b.revision);
      assert.equal(await reopened.compactedRevision(), a2.revision);
      assert.deepEqual(await reopened.get('/k/a'), a2);
      assert.deepEqual((await reopened.list({ prefix: '/k/' })).items, [a2, b]);
      assert.deepEqual((await reopened.list({ prefix: '/k/', revision: a2.revision })).items, [a2]);
      const c = await reopened.create('/k/c', doc('c1'));
      assert.equal(c.revision, b.revision + 1);
    }));

  it('commits writes still queued when it closes, and refuses work after', () =>
    withStore(openSqlite, async ({ store, reopen }) => {
      const pending = store.create('/k/a', doc('a1'));
      await store.close();
      const written = await pending;
      await assert.rejects(store.create('/k/b', doc('b1')), StoreClosedError);
      await assert.rejects(store.get('/k/a'), StoreClosedError);
      const reopened = await reopen!();
      assert.deepEqual(await reopened.get('/k/a'), written);
    }));

  it('resolves the done of open watches when it closes', () =>
    withStore(openSqlite, async ({ store }) => {
      const controller = new AbortController();
      const watch = await store.watch({ prefix: '/', afterRevision: 0, signal: controller.signal }, () => {});
      await store.close();
      await watch.done;
    }));

  it('checks a write prepared while the batch before it commits against that batch, and shows neither to reads before it is acknowledged', () =>
    withStore(openSqlite, async ({ store }) => {
      const base = await store.currentRevision();
      const first = store.create('/k/a', doc('a1'));
      // One turn later the first batch is on the writer thread; these form the next batch.
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(await store.get('/k/a'), undefined, 'an unacknowledged create is not read');
      const again = store.create('/k/a', doc('a2'));
      const update = store.update('/k/a', base + 1, doc('a3'));
      const stale = store.update('/k/a', base, doc('a4'));
      assert.equal(await store.currentRevision(), base);
      assert.deepEqual((await store.list({ prefix: '/k/' })).items, []);
      const [created, existing, updated, conflict] = await Promise.allSettled([first, again, update, stale]);
      assert.equal(created.status === 'fulfilled' && created.value.revision, base + 1);
      assert.ok(existing.status === 'rejected' && existing.reason instanceof KeyExistsError);
      assert.equal(updated.status === 'fulfilled' && updated.value.revision, base + 2);
      assert.ok(conflict.status === 'rejected' && conflict.reason instanceof ConflictError);
      assert.equal((await store.get('/k/a'))?.revision, base + 2);
      assert.equal(await store.currentRevision(), base + 2);
    }));

  it('keeps the write-ahead log bounded while writes never pause', async () => {
    const opened = await openSqlite();
    try {
      const value = 'x'.repeat(8000);
      // About 40 MB in batches that follow each other without a pause, reads pinned to a snapshot
      // all along; without its checkpoints the WAL would hold all of it.
      let largest = 0;
      await Promise.all(
        Array.from({ length: 64 }, async (_, writer) => {
          for (let i = 0; i < 80; i++) {
            await opened.store.create(`/k/${writer}-${i}`, () => JSON.stringify({ value }));
            largest = Math.max(largest, statSync(`${opened.path}-wal`).size);
          }
        }),
      );
      assert.equal(await opened.store.count('/k/'), 64 * 80);
      assert.ok(largest < 20 * 1024 * 1024, `the WAL grew to ${largest} bytes`);
    } finally {
      await opened.cleanup();
    }
  });
});
