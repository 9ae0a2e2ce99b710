/**
 * Boolean query parameters are read as the apiserver reads them: the Python client's `watch=True`
 * watches, `allowWatchBookmarks=True` sends bookmarks, `force=True` forces an apply and
 * `orphanDependents=True` orphans; `0` and `false` in any case are false.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call, type InProcessHub, startInProcessHub } from '../support/in-process/index.ts';

const CM = '/api/v1/namespaces/default/configmaps';

describe('boolean query parameters', () => {
  let hub: InProcessHub;
  before(async () => {
    hub = await startInProcessHub({ watch: { bookmarkIntervalMs: 100 }, garbageCollector: true });
    await call(hub.app, {
      method: 'POST',
      url: '/api/v1/namespaces',
      payload: { metadata: { name: 'default' } },
    });
    await call(hub.app, { method: 'POST', url: CM, payload: { metadata: { name: 'one' }, data: {} } });
  });
  after(() => hub.close());

  /** A GET of the collection: the watch events it streamed, or the list it answered. */
  const collection = async (query: string) => {
    const response = await hub.app.inject({ method: 'GET', url: `${CM}?${query}&timeoutSeconds=1` });
    assert.equal(response.statusCode, 200, response.body);
    const lines = response.body.split('\n').filter((line) => line !== '');
    return lines.map((line) => JSON.parse(line) as { type?: string; kind?: string });
  };

  it('watches for watch=True (the Python client), and for every other spelling of true', async () => {
    for (const value of ['True', 'true', 'TRUE', '1', 't', '']) {
      const events = await collection(`watch=${value}`);
      assert.deepEqual(
        events.map((event) => event.type),
        ['ADDED'],
        `watch=${value}`,
      );
    }
  });

  it('lists for watch=0 and watch=false in any letter case', async () => {
    for (const value of ['0', 'false', 'False', 'FALSE']) {
      const answers = await collection(`watch=${value}`);
      assert.deepEqual(
        answers.map((answer) => answer.kind),
        ['ConfigMapList'],
        `watch=${value}`,
      );
    }
  });

  it('sends bookmarks for allowWatchBookmarks=True', async () => {
    const events = await collection('watch=True&allowWatchBookmarks=True&resourceVersion=1');
    assert.ok(
      events.some((event) => event.type === 'BOOKMARK'),
      JSON.stringify(events),
    );
  });

  it('forces a conflicting server-side apply with force=True, and refuses it without', async () => {
    const apply = (manager: string, level: string, force: string) =>
      call(hub.app, {
        method: 'PATCH',
        url: `${CM}/applied?fieldManager=${manager}${force}`,
        payload: JSON.stringify({
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: 'applied' },
          data: { level },
        }),
        headers: { 'content-type': 'application/apply-patch+yaml' },
      });
    assert.equal((await apply('first', 'info', '')).status, 201);
    assert.equal((await apply('second', 'debug', '&force=False')).status, 409);
    const forced = await apply('second', 'debug', '&force=True');
    assert.equal(forced.status, 200, forced.text);
    assert.equal(forced.body.data.level, 'debug');
  });

  it('orphans the dependents of a delete with orphanDependents=True', async () => {
    await call(hub.app, { method: 'POST', url: CM, payload: { metadata: { name: 'owner' }, data: {} } });
    const deleted = await call(hub.app, { method: 'DELETE', url: `${CM}/owner?orphanDependents=True` });
    assert.equal(deleted.status, 200, deleted.text);
    // No garbage collector runs here: the finalizer it would act on stays.
    assert.deepEqual(deleted.body.metadata.finalizers, ['orphan']);
  });
});
