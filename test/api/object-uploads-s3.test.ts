/**
 * The upload protocol over the S3 backend, against s3rver (a local S3 API) on a free port: a
 * multipart upload of a file larger than one part, a resumed session, dedup by server-side copy,
 * a wrong hash refused, and people's list, read and remove.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { S3Client } from '@aws-sdk/client-s3';
import { parseS3Url, S3ObjectStorage } from '../../src/hub/objects/index.ts';
import { call, type InProcessHub, startInProcessHub } from '../support/in-process/index.ts';
import { type S3rverInstance, startS3rver } from '../support/index.ts';

const DEVICE = 'gw-s3';
const UPLOADS = `/agent/v1/devices/${DEVICE}/uploads`;
const OBJECTS = `/apis/outpost.dev/v1alpha1/namespaces/team-a/devices/${DEVICE}/objects`;
let hub: InProcessHub;
let server: S3rverInstance;
const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');

before(async () => {
  server = await startS3rver();
  const location = parseS3Url(server.objectsUrl('hub-a'));
  const client = new S3Client({
    region: location.region,
    endpoint: location.endpoint,
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
  hub = await startInProcessHub({ objects: { storage: new S3ObjectStorage(location, client) } });
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
  await server?.close();
});

const open = (path: string, data: Buffer, sha256 = sha(data)) =>
  call(hub.app, {
    method: 'POST',
    url: UPLOADS,
    payload: { namespace: 'team-a', workload: 'logger', path, size: data.length, sha256 },
  });
const put = (id: string, offset: number, data: Buffer) =>
  call(hub.app, {
    method: 'PUT',
    url: `${UPLOADS}/${id}`,
    headers: { 'upload-offset': String(offset), 'content-type': 'application/octet-stream' },
    payload: data,
  });
const commit = (id: string) => call(hub.app, { method: 'POST', url: `${UPLOADS}/${id}/commit` });

test('parses --objects s3:// URLs and refuses others', () => {
  assert.deepEqual(parseS3Url('s3://b/p/q?endpoint=http://h:1&region=eu-west-1'), {
    bucket: 'b',
    prefix: 'p/q/',
    region: 'eu-west-1',
    endpoint: 'http://h:1',
  });
  assert.throws(() => parseS3Url('http://b'), /--objects must be s3:\/\/BUCKET/);
});

test('a file larger than one part goes up resumed and multipart, and reads back whole', async () => {
  const data = randomBytes(12 * 1024 * 1024);
  const first = await open('run/big.bin', data);
  const id = first.body.id as string;
  assert.equal((await put(id, 0, data.subarray(0, 5_000_000))).body.offset, 5_000_000);
  assert.equal((await open('run/big.bin', data)).body.offset, 5_000_000, 'the session resumes');
  assert.equal((await put(id, 5_000_000, data.subarray(5_000_000))).body.offset, data.length);
  const done = await commit(id);
  assert.equal(done.status, 200, done.text);
  const read = await hub.app.inject({ method: 'GET', url: `${OBJECTS}/logger/run/big.bin` });
  assert.equal(read.statusCode, 200);
  assert.ok(read.rawPayload.equals(data));
  assert.equal(read.headers['x-outpost-sha256'], sha(data));
  assert.equal((await open('run/big.bin', data)).body.state, 'present');
});

test('identical content is copied on the server, not sent; a wrong hash is refused', async () => {
  const data = randomBytes(10_000);
  const first = await open('a.bin', data);
  await put(first.body.id as string, 0, data);
  assert.equal((await commit(first.body.id as string)).status, 200);
  assert.equal((await open('b.bin', data)).body.state, 'deduplicated');
  const read = await hub.app.inject({ method: 'GET', url: `${OBJECTS}/logger/b.bin` });
  assert.ok(
    read.rawPayload.equals(data),
    `${read.statusCode} ${read.rawPayload.length} ${read.payload.slice(0, 300)}`,
  );
  const lie = await open('c.bin', data, sha(Buffer.from('other')));
  await put(lie.body.id as string, 0, data);
  const refused = await commit(lie.body.id as string);
  assert.equal(refused.status, 422);
  assert.equal((await call(hub.app, { method: 'GET', url: `${OBJECTS}/logger/c.bin` })).status, 404);
});

test('people list and remove objects in the bucket', async () => {
  const list = await call(hub.app, { method: 'GET', url: OBJECTS });
  assert.deepEqual(
    (list.body.items as Array<{ path: string }>).map((item) => item.path),
    ['logger/a.bin', 'logger/b.bin', 'logger/run/big.bin'],
  );
  assert.equal((await call(hub.app, { method: 'DELETE', url: `${OBJECTS}/logger/a.bin` })).status, 200);
  assert.equal((await call(hub.app, { method: 'DELETE', url: `${OBJECTS}/logger/a.bin` })).status, 404);
});
