import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call, type InProcessHub, startInProcessHub } from '../support/in-process/index.ts';

const CM = '/api/v1/namespaces/default/configmaps';

describe('field ownership of dropped unknown fields', () => {
  let hub: InProcessHub;
  before(async () => {
    hub = await startInProcessHub();
    await call(hub.app, {
      method: 'POST',
      url: '/api/v1/namespaces',
      payload: { metadata: { name: 'default' } },
    });
  });
  after(() => hub.close());

  it('warns about an unknown field under Warn and records no owner for it', async () => {
    const created = await call(hub.app, {
      method: 'POST',
      url: `${CM}?fieldValidation=Warn&fieldManager=tester`,
      payload: { metadata: { name: 'warned' }, data: { a: 'b' }, bogus: { deep: 1 } },
    });
    assert.equal(created.status, 201);
    assert.match(String(created.headers.warning), /unknown field \\"bogus\\"/);
    assert.equal(created.body.bogus, undefined);
    const owned = JSON.stringify(created.body.metadata.managedFields);
    assert.match(owned, /f:data/);
    assert.doesNotMatch(owned, /bogus/);
  });

  it('drops unknown fields of a server-side apply silently under Ignore, owning only the known ones', async () => {
    const applied = await call(hub.app, {
      method: 'PATCH',
      url: `${CM}/applied?fieldManager=applier&fieldValidation=Ignore`,
      headers: { 'content-type': 'application/apply-patch+yaml' },
      payload: JSON.stringify({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'applied' },
        data: { x: 'y' },
        extra: 1,
      }),
    });
    assert.equal(applied.status, 201);
    assert.equal(applied.headers.warning, undefined);
    assert.doesNotMatch(JSON.stringify(applied.body.metadata.managedFields), /extra/);
  });
});
