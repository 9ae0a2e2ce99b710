/**
 * Upload sessions shared by the hub's replicas (`--objects s3://`): two `Uploads`, each with its
 * own local folder as two replicas have, over one s3rver bucket. A session opened through one is
 * resumed and committed through the other, with the bytes that arrived before a body broke off
 * kept; a wrong offset is answered with the offset held, and a wrong hash refused.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import { S3Client } from '@aws-sdk/client-s3';
import { parseS3Url, S3ObjectStorage, S3UploadSessions, Uploads } from '../../src/hub/objects/index.ts';
import { type S3rverInstance, startS3rver } from '../support/index.ts';

const DEVICE = 'gw-replicas';
const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');
let s3: S3rverInstance;
const roots: string[] = [];
let a: Uploads;
let b: Uploads;

before(async () => {
  s3 = await startS3rver();
  const location = parseS3Url(s3.objectsUrl('replicas'));
  const replica = async () => {
    const root = await mkdtemp(join(tmpdir(), 'outpost-replica-objects-'));
    roots.push(root);
    // Each replica its own client, as two hub processes have.
    const client = new S3Client({
      region: location.region,
      endpoint: location.endpoint,
      forcePathStyle: true,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    });
    return new Uploads({
      storage: new S3ObjectStorage(location, client),
      sessions: new S3UploadSessions(location, client, root),
      root,
    });
  };
  a = await replica();
  b = await replica();
});

after(async () => {
  await s3?.close();
  for (const root of roots) await rm(root, { recursive: true, force: true });
});

/** A request body that delivers `data` and then breaks off, as when the connection is cut. */
function brokenBody(data: Buffer): Readable {
  let sent = false;
  return new Readable({
    read() {
      if (!sent) {
        sent = true;
        this.push(data);
      } else this.destroy(new Error('connection reset'));
    },
  });
}

test('a session opened through one replica is resumed and committed through the other', async () => {
  const data = randomBytes(11 * 1024 * 1024);
  const declaration = {
    device: DEVICE,
    key: `devices/${DEVICE}/team/logger/big.bin`,
    size: data.length,
    sha256: sha(data),
  };
  const opened = await a.open(declaration);
  assert.equal(opened.state, 'open');
  const id = opened.state === 'open' ? opened.id : '';
  const sessionA = (await a.session(DEVICE, id))!;
  // 9 MiB arrive through A (more than one slice), then the connection breaks.
  await assert.rejects(
    a.append(sessionA, 0, brokenBody(data.subarray(0, 9 * 1024 * 1024))),
    /connection reset/,
  );
  const resumed = await b.open(declaration);
  assert.deepEqual(resumed, { state: 'open', id, offset: 9 * 1024 * 1024 }, 'B holds what reached A');
  const sessionB = (await b.session(DEVICE, id))!;
  await assert.rejects(b.append(sessionB, 0, Readable.from([data])), (error: Error & { held?: number }) => {
    assert.equal(error.held, 9 * 1024 * 1024);
    return true;
  });
  assert.equal(
    await b.append(sessionB, 9 * 1024 * 1024, Readable.from([data.subarray(9 * 1024 * 1024)])),
    data.length,
  );
  const object = await b.commit(sessionB);
  assert.equal(object.sha256, sha(data));
  const read = await a.storage.get(declaration.key);
  const chunks: Buffer[] = [];
  for await (const chunk of read!.body) chunks.push(chunk as Buffer);
  assert.ok(Buffer.concat(chunks).equals(data), 'the object is the content');
  assert.equal(await a.session(DEVICE, id), undefined, 'the committed session is gone for both');
  assert.equal((await a.open(declaration)).state, 'present');
});

test('a wrong hash is refused through either replica, and the session discarded', async () => {
  const data = randomBytes(1000);
  const declaration = {
    device: DEVICE,
    key: `devices/${DEVICE}/team/logger/lie.bin`,
    size: data.length,
    sha256: sha(Buffer.from('other')),
  };
  const opened = await a.open(declaration);
  const id = opened.state === 'open' ? opened.id : '';
  await a.append((await a.session(DEVICE, id))!, 0, Readable.from([data]));
  await assert.rejects(b.commit((await b.session(DEVICE, id))!), /SHA-256 is .*not the declared/);
  assert.equal(await a.session(DEVICE, id), undefined);
  assert.equal(await a.storage.head(declaration.key), undefined);
});
