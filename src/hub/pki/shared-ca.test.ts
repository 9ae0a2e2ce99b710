import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { SqliteStore } from '../../store/index.ts';
import { x509 } from './crypto.ts';
import { loadOrCreatePki } from './hub-pki.ts';
import { SHARED_CA_KEY, shareCertificateAuthority } from './shared-ca.ts';

describe('a CA shared by hub replicas through the store', () => {
  let root: string;
  let store: SqliteStore;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'outpost-shared-ca-'));
    store = new SqliteStore({ path: join(root, 'hub.db'), synchronous: 'NORMAL' });
  });

  afterEach(async () => {
    await store.close();
    await rm(root, { recursive: true, force: true });
  });

  /** Starts a replica's PKI in its own data dir: share the CA, then load or create the rest. */
  async function replicaPki(name: string) {
    const dataDir = join(root, name);
    await shareCertificateAuthority(store, dataDir);
    return loadOrCreatePki(dataDir, { hosts: ['127.0.0.1'] });
  }

  it('gives three replicas started at once on a fresh store one CA', async () => {
    const pkis = await Promise.all(['a', 'b', 'c'].map((name) => replicaPki(name)));
    const stored = JSON.parse((await store.get(SHARED_CA_KEY))!.value) as { certificate: string };
    for (const pki of pkis) assert.equal(pki.caCert, stored.certificate);
    // Each replica has its own serving certificate, issued by the one CA.
    assert.notEqual(pkis[0]!.serverCert, pkis[1]!.serverCert);
    for (const pki of pkis) {
      const server = new x509.X509Certificate(pki.serverCert);
      const admin = new x509.X509Certificate(pki.adminCert);
      const publicKey = pkis[0]!.ca.certificate.publicKey;
      assert.ok(
        await server.verify({ publicKey, signatureOnly: true }),
        'serving certificate from the one CA',
      );
      assert.ok(await admin.verify({ publicKey, signatureOnly: true }), 'admin certificate from the one CA');
    }
  });

  it('publishes the CA of a hub that ran before, so that new replicas adopt it', async () => {
    const before = await loadOrCreatePki(join(root, 'first'), { hosts: [] });
    const first = await replicaPki('first');
    const second = await replicaPki('second');
    assert.equal(first.caCert, before.caCert);
    assert.equal(second.caCert, before.caCert);
  });

  it('refuses a data dir whose CA is not the store’s', async () => {
    await replicaPki('a');
    await loadOrCreatePki(join(root, 'stray'), { hosts: [] });
    await assert.rejects(shareCertificateAuthority(store, join(root, 'stray')), {
      name: 'PkiStateError',
      message: /is not the CA of the hub's store/,
    });
  });
});
