/**
 * What one enrollment writes, in process (a real SqliteStore, the hub's app
 * driven with `inject()`): the Device with its status in a single write.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { removeDir, tempDir } from '../../../test/support/index.ts';
import { createCsr, generateKeyPem } from '../../agent/enrollment/index.ts';
import { generateBootstrapToken, hashTokenSecret, type KubeObject } from '../../api/index.ts';
import { SqliteStore, type WatchEvent } from '../../store/index.ts';
import { buildHub } from '../index.ts';
import { type ObjectService, objectKey } from '../kube-api/index.ts';
import { createCertificateAuthority } from '../pki/index.ts';

const FACTS = {
  hostname: 'gw-1',
  os: 'linux',
  architecture: 'arm64',
  cpus: 4,
  memoryBytes: 2 * 1024 ** 3,
  machineId: '0123456789abcdef0123456789abcdef',
};

describe('an enrollment', () => {
  let dir: string;
  let store: SqliteStore;
  let app: ReturnType<typeof buildHub>['app'];
  let service: ObjectService;
  let token: string;

  before(async () => {
    dir = await tempDir('outpost-enroll-');
    store = new SqliteStore({ path: `${dir}/hub.db`, synchronous: 'NORMAL' });
    const { ca } = await createCertificateAuthority();
    ({ app, service } = buildHub({
      store,
      authenticate: () => undefined,
      version: 'test',
      enrollment: { ca },
    }));
    await app.ready();
    const generated = generateBootstrapToken();
    token = generated.token;
    await service.create(
      service.registry.byKind('outpost.dev/v1alpha1', 'BootstrapToken')!,
      undefined,
      {
        apiVersion: 'outpost.dev/v1alpha1',
        kind: 'BootstrapToken',
        metadata: { name: generated.id },
        spec: { secretHash: hashTokenSecret(generated.secret), approval: 'auto' },
      },
      { fieldManager: 'test' },
    );
  });
  after(async () => {
    await app?.close();
    await store?.close();
    if (dir) await removeDir(dir);
  });

  it('creates the Device with its status in one write, owned as a create then a status update would leave it', async () => {
    const deviceKind = service.registry.byKind('outpost.dev/v1alpha1', 'Device')!;
    const key = objectKey(deviceKind, undefined, 'gw-1');
    const events: WatchEvent[] = [];
    const stop = new AbortController();
    const watch = await store.watch(
      { prefix: key, afterRevision: await store.currentRevision(), signal: stop.signal },
      (batch) => events.push(...batch),
    );
    const csr = await createCsr(await generateKeyPem(), 'gw-1');
    const response = await app.inject({
      method: 'POST',
      url: '/enroll',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ token, name: 'gw-1', csr, facts: FACTS }),
    });
    assert.equal(response.statusCode, 201, response.body);
    // Every write the enrollment made has been delivered once the watch reaches the Device's revision.
    const written = (await store.get(key))!.revision;
    const deadline = Date.now() + 5000;
    while (!events.some((event) => event.revision >= written) && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 10));
    stop.abort();
    await watch.done;

    assert.deepEqual(
      events.map((event) => event.type),
      ['ADDED'],
    );
    const device = JSON.parse(events[0]!.value) as KubeObject;
    // The expiry of the certificate in the answer, recorded in the same write.
    const issued = new X509Certificate((JSON.parse(response.body) as { certificate: string }).certificate);
    const notAfter = new Date(issued.validTo).toISOString().replace(/\.000Z$/, 'Z');
    assert.deepEqual(device.status, { phase: 'Pending', system: FACTS, certificate: { notAfter } });
    assert.deepEqual(device.spec, { approved: true });
    const entries = device.metadata.managedFields as {
      manager: string;
      subresource?: string;
      fieldsV1: object;
    }[];
    assert.deepEqual(
      entries.map((entry) => [entry.manager, entry.subresource]),
      [
        ['outpost-enrollment', undefined],
        ['outpost-enrollment', 'status'],
      ],
    );
    assert.ok('f:spec' in entries[0]!.fieldsV1 && !('f:status' in entries[0]!.fieldsV1));
    assert.deepEqual(Object.keys(entries[1]!.fieldsV1), ['f:status']);
  });
});
