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

  it('keeps no empty managedFields: an object no manager owns a field of stays as it is on a PUT as read', async () => {
    // A Namespace of only a name (and an unknown field, dropped) has no owned field.
    const created = await call(hub.app, {
      method: 'POST',
      url: '/api/v1/namespaces?fieldValidation=Ignore',
      payload: { metadata: { name: 'bare' }, bogus: 1 },
    });
    assert.equal(created.status, 201, created.text);
    const read = await call(hub.app, { method: 'GET', url: '/api/v1/namespaces/bare' });
    const put = await call(hub.app, {
      method: 'PUT',
      url: '/api/v1/namespaces/bare',
      payload: read.text,
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(put.status, 200, put.text);
    assert.equal(put.body.metadata.resourceVersion, read.body.metadata.resourceVersion);
    assert.equal(put.body.metadata.managedFields, undefined);
  });

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
