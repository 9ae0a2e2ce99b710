/**
 * A Workload's spec.uploads: good ones are stored as sent; a bad directory, target, schedule or
 * bandwidth is a 422 whose causes name the field, and nothing is written.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { call, type InProcessHub, recordWrites, startInProcessHub } from '../support/in-process/index.ts';

const WORKLOADS = '/apis/outpost.dev/v1alpha1/namespaces/default/workloads';
let hub: InProcessHub;
let counter = 0;

before(async () => {
  hub = await startInProcessHub();
  const namespace = await call(hub.app, {
    method: 'POST',
    url: '/api/v1/namespaces',
    payload: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } },
  });
  assert.equal(namespace.status, 201, namespace.text);
});
after(async () => {
  await hub?.close();
});

function workload(uploads: unknown) {
  return {
    apiVersion: 'outpost.dev/v1alpha1',
    kind: 'Workload',
    metadata: { name: `up${++counter}` },
    spec: {
      resources: [
        {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: 'writer' },
          spec: { containers: [{ name: 'w', image: 'busybox:1.36' }] },
        },
      ],
      uploads,
    },
  };
}

test('stores good uploads as sent', async () => {
  const uploads = [
    {
      path: '/data/out',
      target: 'raw/line-1',
      schedule: '22:00-06:00',
      deleteAfterUpload: true,
      maxBandwidth: 1048576,
    },
    { path: '/var/log/app/' },
  ];
  const answer = await call(hub.app, { method: 'POST', url: WORKLOADS, payload: workload(uploads) });
  assert.equal(answer.status, 201, answer.text);
  assert.deepEqual((answer.body.spec as { uploads: unknown }).uploads, uploads);
});

const BAD: Array<[string, unknown, string[]]> = [
  ['a relative directory', [{ path: 'data' }], ['spec.uploads[0].path']],
  ['the root directory', [{ path: '/' }], ['spec.uploads[0].path']],
  ['a directory with ..', [{ path: '/data/../etc' }], ['spec.uploads[0].path']],
  ['a directory with a backslash', [{ path: '/data\\x' }], ['spec.uploads[0].path']],
  ['a directory with NUL', [{ path: '/data\u0000' }], ['spec.uploads[0].path']],
  ['the same directory twice', [{ path: '/data' }, { path: '/data/' }], ['spec.uploads[1].path']],
  ['a target with ..', [{ path: '/data', target: '../../gw-2' }], ['spec.uploads[0].target']],
  ['an absolute target', [{ path: '/data', target: '/x' }], ['spec.uploads[0].target']],
  ['a percent-encoded target', [{ path: '/data', target: '%2e%2e' }], ['spec.uploads[0].target']],
  ['a schedule that is no window', [{ path: '/data', schedule: 'nightly' }], ['spec.uploads[0].schedule']],
  ['a bandwidth below 1 KiB/s', [{ path: '/data', maxBandwidth: 10 }], ['spec.uploads[0].maxBandwidth']],
  ['a missing path', [{ target: 'x' }], ['spec.uploads[0].path']],
];

for (const [name, uploads, fields] of BAD)
  test(`refuses ${name} with a 422 naming the field`, async () => {
    const recorder = await recordWrites(hub.store);
    const answer = await call(hub.app, { method: 'POST', url: WORKLOADS, payload: workload(uploads) });
    assert.equal(answer.status, 422, answer.text);
    const causes = (answer.body.details as { causes: Array<{ field: string }> }).causes;
    assert.deepEqual(
      causes.map((cause) => cause.field),
      fields,
      answer.text,
    );
    await recorder.assertUnchanged(`POST ${name}`);
  });
