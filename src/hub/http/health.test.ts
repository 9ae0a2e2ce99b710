import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { SqliteStore } from '../../store/index.ts';
import { readinessChecks } from '../readiness.ts';
import { buildHub } from './app.ts';

describe('health endpoints', () => {
  let app: FastifyInstance;
  let store: SqliteStore;
  let synced = false;
  let closing = false;

  before(async () => {
    store = new SqliteStore({ path: ':memory:' });
    ({ app } = buildHub({
      store,
      // Nobody presents credentials here: the health endpoints answer anyway.
      authenticate: () => undefined,
      version: 'test',
      health: {
        readyz: readinessChecks({
          store,
          unsyncedCaches: () => (synced ? [] : ['outpost.dev/devices/']),
          shuttingDown: () => closing,
        }),
      },
    }));
    await app.ready();
  });
  after(async () => {
    await app.close();
    await store.close();
  });

  const get = (url: string) => app.inject({ method: 'GET', url });

  it('answers without credentials, while the API asks for them', async () => {
    assert.equal((await get('/livez')).statusCode, 200);
    assert.equal((await get('/api/v1/namespaces')).statusCode, 401);
  });

  it('fails /readyz until the caches have synced, naming the failing check as Kubernetes does', async () => {
    synced = false;
    const ready = await get('/readyz');
    assert.equal(ready.statusCode, 500);
    assert.equal(ready.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(
      ready.body,
      '[+]ping ok\n[+]store ok\n[-]informer-sync failed: reason withheld\n[+]shutdown ok\nreadyz check failed\n',
    );
    const one = await get('/readyz/informer-sync');
    assert.equal(one.statusCode, 500);
    assert.equal(one.body, 'internal server error: caches not synced: outpost.dev/devices/\n');
    // Liveness does not wait for caches.
    assert.equal((await get('/livez')).body, 'ok');

    synced = true;
    const after = await get('/readyz');
    assert.equal(after.statusCode, 200);
    assert.equal(after.body, 'ok');
    assert.equal((await get('/readyz/informer-sync')).body, 'ok');
  });

  it('lists every check with ?verbose, and skips those named by ?exclude', async () => {
    synced = true;
    const verbose = await get('/readyz?verbose');
    assert.equal(verbose.statusCode, 200);
    assert.equal(
      verbose.body,
      '[+]ping ok\n[+]store ok\n[+]informer-sync ok\n[+]shutdown ok\nreadyz check passed\n',
    );
    synced = false;
    const excluded = await get('/readyz?verbose&exclude=informer-sync&exclude=nope');
    assert.equal(excluded.statusCode, 200);
    assert.equal(
      excluded.body,
      '[+]ping ok\n[+]store ok\n[+]informer-sync excluded: ok\n[+]shutdown ok\n' +
        'warn: some health checks cannot be excluded: no matches for "nope"\nreadyz check passed\n',
    );
    assert.equal((await get('/livez?verbose')).body, '[+]ping ok\nlivez check passed\n');
    assert.equal((await get('/healthz')).statusCode, 500);
    synced = true;
    assert.equal((await get('/healthz')).body, 'ok');
  });

  it('fails /readyz once the hub shuts down', async () => {
    synced = true;
    closing = true;
    try {
      const ready = await get('/readyz');
      assert.equal(ready.statusCode, 500);
      assert.match(ready.body, /^\[-\]shutdown failed: reason withheld$/m);
      assert.equal((await get('/livez')).statusCode, 200);
    } finally {
      closing = false;
    }
  });

  it('serves only the checks it has without credentials', async () => {
    // As any path nothing anonymous is served at (the apiserver answers 403 to its anonymous user).
    assert.equal((await get('/readyz/nope')).statusCode, 401);
  });
});
