import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call, type InProcessHub, startInProcessHub } from '../support/in-process/index.ts';

const CM = '/api/v1/namespaces/default/configmaps';

describe('concurrent writes to one object', () => {
  let hub: InProcessHub;
  before(async () => {
    hub = await startInProcessHub();
    await call(hub.app, {
      method: 'POST',
      url: '/api/v1/namespaces',
      payload: { metadata: { name: 'default' } },
    });
    await call(hub.app, { method: 'POST', url: CM, payload: { metadata: { name: 'shared' }, data: {} } });
  });
  after(() => hub.close());

  it('applies every one of 30 simultaneous merge patches, none lost to a conflict', async () => {
    const answers = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        call(hub.app, {
          method: 'PATCH',
          url: `${CM}/shared`,
          headers: { 'content-type': 'application/merge-patch+json' },
          payload: { metadata: { labels: { [`l${i}`]: 'x' } } },
        }),
      ),
    );
    assert.deepEqual(
      answers.map((answer) => answer.status),
      answers.map(() => 200),
    );
    const final = await call(hub.app, { method: 'GET', url: `${CM}/shared` });
    assert.equal(Object.keys(final.body.metadata.labels).length, 30);
  });

  it('applies simultaneous server-side applies of different field managers', async () => {
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        call(hub.app, {
          method: 'PATCH',
          url: `${CM}/shared?fieldManager=m${i}`,
          headers: { 'content-type': 'application/apply-patch+yaml' },
          payload: JSON.stringify({
            apiVersion: 'v1',
            kind: 'ConfigMap',
            metadata: { name: 'shared' },
            data: { [`k${i}`]: 'v' },
          }),
        }),
      ),
    );
    assert.deepEqual(
      answers.map((answer) => answer.status),
      answers.map(() => 200),
    );
    const final = await call(hub.app, { method: 'GET', url: `${CM}/shared` });
    assert.equal(Object.keys(final.body.data).length, 10);
  });
});
