/**
 * A list pinned to one name (`fieldSelector=metadata.name=X`, as every agent
 * lists its own Mailbox) reads that key alone: names sharing its prefix are
 * not returned, and paging still works.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call, type InProcessHub, startInProcessHub } from '../support/in-process/index.ts';

const DEVICES = '/apis/outpost.dev/v1alpha1/devices';
const CM = '/api/v1/namespaces/default/configmaps';

describe('list by metadata.name', () => {
  let hub: InProcessHub;
  before(async () => {
    hub = await startInProcessHub();
    await call(hub.app, {
      method: 'POST',
      url: '/api/v1/namespaces',
      payload: { metadata: { name: 'default' } },
    });
    for (const name of ['gw-1', 'gw-10', 'gw-1-a', 'gw-2'])
      await call(hub.app, {
        method: 'POST',
        url: DEVICES,
        payload: { kind: 'Device', apiVersion: 'outpost.dev/v1alpha1', metadata: { name } },
      });
    for (const name of ['app', 'app-config'])
      await call(hub.app, { method: 'POST', url: CM, payload: { metadata: { name }, data: {} } });
  });
  after(() => hub.close());

  const names = async (url: string) => {
    const response = await call(hub.app, { method: 'GET', url });
    assert.equal(response.status, 200, response.text);
    const list = response.body as {
      items: Array<{ metadata: { name: string } }>;
      metadata: { resourceVersion: string };
    };
    return { names: list.items.map((item) => item.metadata.name), list };
  };

  it('returns exactly the named object of a cluster-scoped kind, not those whose names extend it', async () => {
    assert.deepEqual((await names(`${DEVICES}?fieldSelector=metadata.name%3Dgw-1`)).names, ['gw-1']);
    assert.deepEqual((await names(`${DEVICES}?fieldSelector=metadata.name%3D%3Dgw-1`)).names, ['gw-1']);
    assert.deepEqual((await names(`${DEVICES}?fieldSelector=metadata.name%3Dgw-3`)).names, []);
  });

  it('returns exactly the named object in a namespace, and everything else still filters as before', async () => {
    assert.deepEqual((await names(`${CM}?fieldSelector=metadata.name%3Dapp`)).names, ['app']);
    assert.deepEqual((await names(`${DEVICES}?fieldSelector=metadata.name!%3Dgw-1`)).names, [
      'gw-1-a',
      'gw-10',
      'gw-2',
    ]);
  });

  it('carries the list resourceVersion of the store, as a full list does', async () => {
    const pinned = (await names(`${DEVICES}?fieldSelector=metadata.name%3Dgw-2`)).list;
    const full = (await names(DEVICES)).list;
    assert.equal(pinned.metadata.resourceVersion, full.metadata.resourceVersion);
  });
});
