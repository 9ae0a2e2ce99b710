/**
 * The upload protocol on the hub (filesystem backend): a session resumes at the offset held, a
 * chunk at another offset is a 409 naming it, the commit verifies the whole content's SHA-256 (a
 * mismatch is refused and discards the session), content the device's target holds is not sent
 * again, a bad path writes nothing, and the quota is a clear 403. People list, read and remove.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { call, type InProcessHub, startInProcessHub } from '../support/in-process/index.ts';

const DEVICE = 'gw-1';
const UPLOADS = `/agent/v1/devices/${DEVICE}/uploads`;
const OBJECTS = `/apis/outpost.dev/v1alpha1/namespaces/team-a/devices/${DEVICE}/objects`;
let hub: InProcessHub;

const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');

before(async () => {
  hub = await startInProcessHub({ objects: { quota: { bytes: 4 * 1024 * 1024, objects: 20 } } });
  const mailbox = await call(hub.app, {
    method: 'POST',
    url: '/apis/outpost.dev/v1alpha1/mailboxes',
    payload: {
      apiVersion: 'outpost.dev/v1alpha1',
      kind: 'Mailbox',
      metadata: { name: DEVICE },
      spec: {
        objects: [
          {
            source: { namespace: 'team-a', workload: 'logger', placement: 'p' },
            hash: 'h',
            object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'team-a' } },
          },
        ],
      },
    },
  });
  assert.equal(mailbox.status, 201, mailbox.text);
});
after(async () => {
  await hub?.close();
});

function open(path: string, data: Buffer, sha256 = sha(data), workload = 'logger') {
  return call(hub.app, {
    method: 'POST',
    url: UPLOADS,
    payload: { namespace: 'team-a', workload, path, size: data.length, sha256 },
  });
}
function put(id: string, offset: number, data: Buffer) {
  return call(hub.app, {
    method: 'PUT',
    url: `${UPLOADS}/${id}`,
    headers: { 'upload-offset': String(offset), 'content-type': 'application/octet-stream' },
    payload: data,
  });
}
function commit(id: string) {
  return call(hub.app, { method: 'POST', url: `${UPLOADS}/${id}/commit` });
}

test('a session resumes at the offset held and the object appears only at commit', async () => {
  const data = randomBytes(300_000);
  const first = await open('run/a.bin', data);
  assert.equal(first.status, 200, first.text);
  assert.equal(first.body.state, 'open');
  assert.equal(first.body.offset, 0);
  const id = first.body.id as string;
  assert.equal((await put(id, 0, data.subarray(0, 100_000))).body.offset, 100_000);
  // The agent restarts: opening again finds the session and its offset.
  const again = await open('run/a.bin', data);
  assert.deepEqual([again.body.id, again.body.offset], [id, 100_000]);
  const wrong = await put(id, 0, data.subarray(0, 10));
  assert.equal(wrong.status, 409, wrong.text);
  assert.match(wrong.body.message as string, /send from offset 100000/);
  assert.equal((await commit(id)).status, 409, 'an incomplete upload does not commit');
  assert.equal((await call(hub.app, { method: 'GET', url: `${OBJECTS}/logger/run/a.bin` })).status, 404);
  assert.equal((await put(id, 100_000, data.subarray(100_000))).body.offset, data.length);
  const done = await commit(id);
  assert.equal(done.status, 200, done.text);
  const read = await hub.app.inject({ method: 'GET', url: `${OBJECTS}/logger/run/a.bin` });
  assert.equal(read.statusCode, 200);
  assert.ok(read.rawPayload.equals(data), 'the content read is the content sent');
  assert.equal(read.headers['x-outpost-sha256'], sha(data));
  assert.equal((await open('run/a.bin', data)).body.state, 'present', 'held content is not sent again');
});

test('identical content under another path of the same target is stored without being sent', async () => {
  const data = randomBytes(50_000);
  const first = await open('dup/one.bin', data);
  await put(first.body.id as string, 0, data);
  assert.equal((await commit(first.body.id as string)).status, 200);
  const second = await open('dup/two.bin', data);
  assert.equal(second.body.state, 'deduplicated', second.text);
  const read = await hub.app.inject({ method: 'GET', url: `${OBJECTS}/logger/dup/two.bin` });
  assert.ok(read.rawPayload.equals(data));
});

test('a wrong hash is refused at commit, nothing is stored, and the upload can start over', async () => {
  const data = randomBytes(20_000);
  const lie = await open('bad/x.bin', data, sha(Buffer.from('something else')));
  await put(lie.body.id as string, 0, data);
  const refused = await commit(lie.body.id as string);
  assert.equal(refused.status, 422, refused.text);
  assert.equal(refused.body.reason, 'HashMismatch');
  assert.equal((await call(hub.app, { method: 'GET', url: `${OBJECTS}/logger/bad/x.bin` })).status, 404);
  const retry = await open('bad/x.bin', data);
  assert.equal(retry.body.offset, 0);
});

const TRAVERSALS = [
  '../gw-2/team-a/logger/x',
  '../../gw-2/x',
  '%2e%2e/x',
  '%252e%252e/x',
  '/etc/passwd',
  'a\\..\\..\\b',
  'a\u0000b',
  '\uff0e\uff0e\uff0fx',
  '..\u2215x',
];
for (const path of TRAVERSALS)
  test(`refuses the path ${JSON.stringify(path)} with a 422 naming it`, async () => {
    const answer = await open(path, Buffer.from('x'));
    assert.equal(answer.status, 422, answer.text);
    assert.equal((answer.body.details as { causes: Array<{ field: string }> }).causes[0]!.field, 'path');
  });

test('a workload that is not placed on the device gets nothing uploaded', async () => {
  const answer = await open('x.bin', Buffer.from('x'), undefined, 'other');
  assert.equal(answer.status, 403, answer.text);
  assert.match(answer.body.message as string, /not placed on device "gw-1"/);
});

test('the quota is a 403 QuotaExceeded naming the device', async () => {
  const answer = await open('big.bin', randomBytes(8), sha(randomBytes(8)).slice(0, 64));
  assert.equal(answer.status, 200);
  const big = await call(hub.app, {
    method: 'POST',
    url: UPLOADS,
    payload: {
      namespace: 'team-a',
      workload: 'logger',
      path: 'huge.bin',
      size: 5 * 1024 * 1024,
      sha256: 'a'.repeat(64),
    },
  });
  assert.equal(big.status, 403, big.text);
  assert.equal(big.body.reason, 'QuotaExceeded');
  assert.match(big.body.message as string, /device "gw-1" would exceed its object quota/);
});

test('people list, read and remove objects', async () => {
  const list = await call(hub.app, { method: 'GET', url: `${OBJECTS}?prefix=logger/dup` });
  assert.deepEqual(
    (list.body.items as Array<{ path: string }>).map((item) => item.path),
    ['logger/dup/one.bin', 'logger/dup/two.bin'],
  );
  assert.equal((await call(hub.app, { method: 'DELETE', url: `${OBJECTS}/logger/dup/one.bin` })).status, 200);
  assert.equal((await call(hub.app, { method: 'GET', url: `${OBJECTS}/logger/dup/one.bin` })).status, 404);
  const traversal = await call(hub.app, { method: 'GET', url: `${OBJECTS}/logger/%252e%252e/x` });
  assert.equal(traversal.status, 422, traversal.text);
});
