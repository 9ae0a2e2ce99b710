/**
 * Secrets at rest, end to end: a Secret created with kubectl is shown to
 * kubectl in clear, while the hub's SQLite files (database, WAL) never hold
 * its value, neither as written (base64) nor decoded; nor do they hold the
 * Secret manifests a Workload embeds. A wrong key stops the hub with a clear
 * error instead of answering garbage.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import YAML from 'yaml';
import {
  type KubectlHub,
  kubectl,
  removeDir,
  startHubProcess,
  startKubectlHub,
  tempDir,
  workload,
  yamlOf,
} from '../support/index.ts';

const PASSWORD = `pw-${randomBytes(12).toString('hex')}`;
const TOKEN = `tok-${randomBytes(12).toString('hex')}`;
const base64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');

/** The raw bytes of every file of the hub's SQLite store (database, WAL, shared memory). */
async function storeFiles(dataDir: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (const name of await readdir(dataDir)) {
    if (name.startsWith('outpost.db')) files.set(name, await readFile(join(dataDir, name)));
  }
  return files;
}

describe('Secrets are encrypted at rest and shown in clear to kubectl', () => {
  let k: KubectlHub;

  before(async () => {
    k = await startKubectlHub();
  });

  after(async () => {
    await k?.stop();
  });

  it('keeps Secret values and Workload-embedded Secrets out of the database files', async () => {
    await k.ok(['create', 'secret', 'generic', 'db', '-n', 'default', `--from-literal=password=${PASSWORD}`]);
    const embedding = workload('default', 'connector');
    (embedding.spec as { resources: unknown[] }).resources.push({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'opcua-credentials' },
      stringData: { token: TOKEN },
    });
    await k.ok(['apply', '-f', '-'], yamlOf(embedding));

    const shown = YAML.parse(await k.ok(['get', 'secret', 'db', '-n', 'default', '-o', 'yaml']));
    assert.equal(shown.data.password, base64(PASSWORD));
    const live = JSON.parse(await k.ok(['get', 'workload', 'connector', '-n', 'default', '-o', 'json']));
    assert.equal(live.spec.resources[1].stringData.token, TOKEN);

    const files = await storeFiles(k.hub.dataDir);
    assert.ok(files.has('outpost.db') && files.has('outpost.db-wal'), [...files.keys()].join(', '));
    const all = Buffer.concat([...files.values()]);
    assert.ok(all.includes('k8s:enc:aesgcm:v1:'), 'the encrypted values are there');
    assert.ok(all.includes('"name":"default"'), 'plain objects (namespaces) are readable in the files');
    for (const needle of [PASSWORD, base64(PASSWORD), TOKEN, base64(TOKEN)]) {
      for (const [name, bytes] of files) assert.ok(!bytes.includes(needle), `${name} holds ${needle}`);
    }
  });

  it('creates DIR/encryption.key with mode 0600', async () => {
    const info = await stat(join(k.hub.dataDir, 'encryption.key'));
    assert.equal(info.mode & 0o777, 0o600);
  });
});

describe('a hub with the wrong encryption key', () => {
  it('refuses to start, naming the key file, and serves the secret again with the right one', async () => {
    const dataDir = await tempDir();
    try {
      const first = await startHubProcess({ dataDir });
      await kubectl(first, [
        'create',
        'secret',
        'generic',
        'db',
        '-n',
        'default',
        `--from-literal=password=${PASSWORD}`,
      ]);
      await first.stop();

      const keyName = (await readFile(join(dataDir, 'encryption.key'), 'utf8'))
        .split('\n')[1]!
        .split(':')[0]!;
      const wrongKey = join(dataDir, 'wrong.key');
      await writeFile(wrongKey, `${keyName}:${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
      await assert.rejects(
        startHubProcess({ dataDir, args: ['--encryption-key-file', wrongKey] }),
        (error: Error) => {
          assert.match(error.message, /hub exited with 1 before listening/);
          assert.match(error.message, /unable to decrypt the stored value of \/core\/secrets\/default\/db/);
          assert.match(error.message, /authentication failed with key "key-\d{8}"/);
          assert.ok(error.message.includes(`is ${wrongKey} the key file this store was written with?`));
          assert.ok(!error.message.includes(PASSWORD) && !error.message.includes(base64(PASSWORD)));
          return true;
        },
      );

      const again = await startHubProcess({
        dataDir,
        args: ['--encryption-key-file', join(dataDir, 'encryption.key')],
      });
      try {
        const shown = YAML.parse(
          (await kubectl(again, ['get', 'secret', 'db', '-n', 'default', '-o', 'yaml'])).stdout,
        );
        assert.equal(shown.data.password, base64(PASSWORD));
      } finally {
        await again.stop();
      }
    } finally {
      await removeDir(dataDir);
    }
  });
});
