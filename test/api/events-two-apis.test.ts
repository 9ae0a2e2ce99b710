/**
 * Events are served in both of Kubernetes' shapes over one stored object, as
 * the apiserver serves them: core `v1` (involvedObject, message, count) and
 * `events.k8s.io/v1` (regarding, note, deprecatedCount). What is written
 * through one is read through the other, field selectors of either shape
 * select, and patches in either shape change the one object.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call, type InProcessHub, startInProcessHub } from '../support/in-process/index.ts';

const CORE = '/api/v1/namespaces/default/events';
const V1 = '/apis/events.k8s.io/v1/namespaces/default/events';

const coreEvent = (name: string, involved: Record<string, string>, message = 'device gw-1 enrolled') => ({
  apiVersion: 'v1',
  kind: 'Event',
  metadata: { name },
  involvedObject: involved,
  reason: 'Enrolled',
  message,
  type: 'Normal',
  count: 1,
  firstTimestamp: '2026-06-01T12:00:00Z',
  lastTimestamp: '2026-06-01T12:00:00Z',
  source: { component: 'outpost-enrollment' },
  reportingComponent: 'outpost-enrollment',
  reportingInstance: 'hub-1',
});

const device = { apiVersion: 'outpost.dev/v1alpha1', kind: 'Device', name: 'gw-1', uid: 'uid-gw-1' };

describe('Events in both API shapes', () => {
  let hub: InProcessHub;
  before(async () => {
    hub = await startInProcessHub();
    await call(hub.app, {
      method: 'POST',
      url: '/api/v1/namespaces',
      payload: { metadata: { name: 'default' } },
    });
    const created = await call(hub.app, { method: 'POST', url: CORE, payload: coreEvent('gw-1.a', device) });
    assert.equal(created.status, 201, created.text);
    const placement = {
      apiVersion: 'outpost.dev/v1alpha1',
      kind: 'Placement',
      name: 'plant-a',
      namespace: 'default',
      uid: 'uid-pl',
    };
    await call(hub.app, {
      method: 'POST',
      url: CORE,
      payload: { ...coreEvent('plant-a.b', placement, 'objects left out'), reason: 'ObjectCollision' },
    });
  });
  after(() => hub.close());

  it('reads a core Event as an events.k8s.io/v1 Event: regarding, note, deprecated counters', async () => {
    const read = await call(hub.app, { method: 'GET', url: `${V1}/gw-1.a` });
    assert.equal(read.status, 200, read.text);
    const { metadata, ...rest } = read.body;
    assert.equal(metadata.name, 'gw-1.a');
    assert.deepEqual(rest, {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      regarding: device,
      reason: 'Enrolled',
      note: 'device gw-1 enrolled',
      type: 'Normal',
      deprecatedCount: 1,
      deprecatedFirstTimestamp: '2026-06-01T12:00:00Z',
      deprecatedLastTimestamp: '2026-06-01T12:00:00Z',
      deprecatedSource: { component: 'outpost-enrollment' },
      reportingController: 'outpost-enrollment',
      reportingInstance: 'hub-1',
    });
    const list = await call(hub.app, { method: 'GET', url: V1 });
    assert.equal(list.body.kind, 'EventList');
    assert.equal(list.body.apiVersion, 'events.k8s.io/v1');
    assert.deepEqual(list.body.items.map((e: { note: string }) => e.note).sort(), [
      'device gw-1 enrolled',
      'objects left out',
    ]);
  });

  it('stores an events.k8s.io/v1 Event once, readable as a core Event', async () => {
    const created = await call(hub.app, {
      method: 'POST',
      url: V1,
      payload: {
        apiVersion: 'events.k8s.io/v1',
        kind: 'Event',
        metadata: { name: 'gw-2.c' },
        eventTime: '2026-06-01T12:00:00.123456Z',
        reportingController: 'example.com/controller',
        reportingInstance: 'controller-1',
        action: 'Probe',
        reason: 'Unhealthy',
        regarding: { ...device, name: 'gw-2', uid: 'uid-gw-2' },
        note: 'probe failed',
        type: 'Warning',
      },
    });
    assert.equal(created.status, 201, created.text);
    assert.equal(created.body.apiVersion, 'events.k8s.io/v1');
    assert.equal(created.body.note, 'probe failed');
    const core = await call(hub.app, { method: 'GET', url: `${CORE}/gw-2.c` });
    assert.equal(core.body.apiVersion, 'v1');
    assert.equal(core.body.message, 'probe failed');
    assert.equal(core.body.involvedObject.name, 'gw-2');
    assert.equal(core.body.reportingComponent, 'example.com/controller');
    assert.equal(core.body.eventTime, '2026-06-01T12:00:00.123456Z');
    const keys = (await hub.store.list({ prefix: '/' })).items
      .map((item) => item.key)
      .filter((key) => key.includes('events'));
    assert.deepEqual(keys.sort(), [
      '/core/events/default/gw-1.a',
      '/core/events/default/gw-2.c',
      '/core/events/default/plant-a.b',
    ]);
  });

  it('selects Events by the fields kubectl describe asks for, in either shape', async () => {
    const names = async (url: string) => {
      const answer = await call(hub.app, { method: 'GET', url });
      assert.equal(answer.status, 200, answer.text);
      return answer.body.items.map((e: { metadata: { name: string } }) => e.metadata.name).sort();
    };
    // kubectl describe of a cluster-scoped object: every namespace, an empty involvedObject.namespace.
    const describeDevice = encodeURIComponent(
      'involvedObject.name=gw-1,involvedObject.namespace=,involvedObject.kind=Device,involvedObject.uid=uid-gw-1',
    );
    assert.deepEqual(await names(`/api/v1/events?fieldSelector=${describeDevice}`), ['gw-1.a']);
    const describePlacement = encodeURIComponent(
      'involvedObject.name=plant-a,involvedObject.namespace=default,involvedObject.kind=Placement,involvedObject.uid=uid-pl',
    );
    assert.deepEqual(await names(`${CORE}?fieldSelector=${describePlacement}`), ['plant-a.b']);
    const regarding = encodeURIComponent('regarding.kind=Device,regarding.name=gw-2');
    assert.deepEqual(await names(`${V1}?fieldSelector=${regarding}`), ['gw-2.c']);
    assert.deepEqual(
      await names(`${V1}?fieldSelector=${encodeURIComponent('reportingController=example.com/controller')}`),
      ['gw-2.c'],
    );
    assert.deepEqual(await names(`${CORE}?fieldSelector=reason%3DObjectCollision`), ['plant-a.b']);
    const unknown = await call(hub.app, { method: 'GET', url: `${V1}?fieldSelector=note%3Dx` });
    assert.equal(unknown.status, 400);
  });

  it('applies merge, JSON and strategic merge patches written in the events.k8s.io shape', async () => {
    const merge = await call(hub.app, {
      method: 'PATCH',
      url: `${V1}/gw-1.a`,
      headers: { 'content-type': 'application/merge-patch+json' },
      payload: { series: { count: 2, lastObservedTime: '2026-06-01T12:05:00.000000Z' }, deprecatedCount: 2 },
    });
    assert.equal(merge.status, 200, merge.text);
    assert.equal(merge.body.deprecatedCount, 2);
    const json = await call(hub.app, {
      method: 'PATCH',
      url: `${V1}/gw-1.a`,
      headers: { 'content-type': 'application/json-patch+json' },
      payload: [{ op: 'replace', path: '/note', value: 'device gw-1 enrolled again' }],
    });
    assert.equal(json.status, 200, json.text);
    const strategic = await call(hub.app, {
      method: 'PATCH',
      url: `${V1}/gw-1.a`,
      headers: { 'content-type': 'application/strategic-merge-patch+json' },
      payload: { deprecatedLastTimestamp: '2026-06-01T12:05:00Z' },
    });
    assert.equal(strategic.status, 200, strategic.text);
    const core = (await call(hub.app, { method: 'GET', url: `${CORE}/gw-1.a` })).body;
    assert.equal(core.message, 'device gw-1 enrolled again');
    assert.equal(core.count, 2);
    assert.equal(core.lastTimestamp, '2026-06-01T12:05:00Z');
    assert.deepEqual(core.series, { count: 2, lastObservedTime: '2026-06-01T12:05:00.000000Z' });
  });

  it('prints both shapes as kubectl get events does, and watches in the shape asked for', async () => {
    const table = await call(hub.app, {
      method: 'GET',
      url: `${V1}?fieldSelector=metadata.name%3Dplant-a.b`,
      headers: { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' },
    });
    assert.deepEqual(
      table.body.columnDefinitions.map((c: { name: string }) => c.name),
      ['Name', 'Last Seen', 'Type', 'Reason', 'Object', 'Message'],
    );
    assert.deepEqual(table.body.rows[0].cells.slice(2), [
      'Normal',
      'ObjectCollision',
      'placement/plant-a',
      'objects left out',
    ]);
    const watch = await hub.app.inject({ method: 'GET', url: `${V1}?watch=1&timeoutSeconds=1` });
    const events = watch.body
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { type: string; object: { apiVersion: string; note?: string } });
    assert.ok(events.length >= 3);
    for (const event of events) {
      assert.equal(event.type, 'ADDED');
      assert.equal(event.object.apiVersion, 'events.k8s.io/v1');
      assert.equal(typeof event.object.note, 'string');
    }
  });

  it('deletes through either shape', async () => {
    const deleted = await call(hub.app, { method: 'DELETE', url: `${V1}/gw-2.c` });
    assert.equal(deleted.status, 200, deleted.text);
    assert.equal((await call(hub.app, { method: 'GET', url: `${CORE}/gw-2.c` })).status, 404);
  });
});
