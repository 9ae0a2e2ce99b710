import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  type HubProcess,
  kubectl,
  OUTPOST_BIN,
  type PostgresCluster,
  removeDir,
  run,
  startHubProcess,
  startPostgres,
  tempDir,
} from '../support/index.ts';

const outpost = (args: string[]) => run(process.execPath, [OUTPOST_BIN, ...args], { timeoutMs: 120_000 });

interface Item {
  metadata: { name: string; namespace?: string; resourceVersion: string; uid: string };
  data?: Record<string, string>;
}

/** name → [resourceVersion, uid, data] of the objects kubectl lists. */
async function snapshot(hub: HubProcess, resources: string): Promise<Map<string, [string, string, unknown]>> {
  const listed = await kubectl(hub, ['get', resources, '-A', '-o', 'json']);
  assert.equal(listed.code, 0, listed.stderr);
  const items = (JSON.parse(listed.stdout) as { items: Item[] }).items;
  return new Map(
    items.map((item) => [
      `${item.metadata.namespace ?? ''}/${item.metadata.name}`,
      [item.metadata.resourceVersion, item.metadata.uid, item.data],
    ]),
  );
}

describe('outpost store migrate', () => {
  let cluster: PostgresCluster;
  const dirs: string[] = [];
  const hubs: HubProcess[] = [];
  before(async () => {
    cluster = await startPostgres();
  });
  after(async () => {
    for (const hub of hubs) await hub.stop();
    for (const dir of dirs) await removeDir(dir);
    await cluster?.stop();
  });

  it('moves a SQLite hub to PostgreSQL with the same objects and resourceVersions, and the admin kubeconfig still works', async () => {
    const dataDir = await tempDir();
    dirs.push(dataDir);
    const sqliteHub = await startHubProcess({ dataDir });
    hubs.push(sqliteHub);
    for (const args of [
      ['create', 'namespace', 'shop'],
      ['create', 'configmap', 'one', '--from-literal=a=1'],
      ['create', 'configmap', 'two', '-n', 'shop', '--from-literal=b=2'],
      ['label', 'configmap', 'one', 'tier=web'],
      // Secrets are encrypted at rest: they move as ciphertext, and the key stays in the data dir.
      ['create', 'secret', 'generic', 'password', '-n', 'shop', '--from-literal=password=s3cret'],
    ]) {
      const result = await kubectl(sqliteHub, args);
      assert.equal(result.code, 0, result.stderr);
    }
    const resources = 'namespaces,configmaps,secrets';
    const before = await snapshot(sqliteHub, resources);
    await sqliteHub.stop();

    const from = `sqlite:${join(dataDir, 'outpost.db')}`;
    const migrated = await outpost(['store', 'migrate', '--from', from, '--to', cluster.url]);
    assert.equal(migrated.code, 0, migrated.stderr);
    assert.match(migrated.stderr, /migrated (\d+)\/\1 objects/);

    const again = await outpost(['store', 'migrate', '--from', from, '--to', cluster.url]);
    assert.notEqual(again.code, 0, 'a non-empty target is refused');
    assert.match(again.stderr, /not empty .*--merge/);
    assert.equal(again.stderr.trim().split('\n').length, 1, again.stderr);
    const merged = await outpost(['store', 'migrate', '--from', from, '--to', cluster.url, '--merge']);
    assert.equal(merged.code, 0, merged.stderr);
    assert.match(merged.stderr, /done: 0 objects copied/);
    assert.match(merged.stderr, /kept the target's value of \d+ keys/);

    const postgresHub = await startHubProcess({ dataDir, args: ['--store', cluster.url] });
    hubs.push(postgresHub);
    const after = await snapshot(postgresHub, resources);
    assert.deepEqual(after, before);
    const secret = after.get('shop/password')?.[2] as Record<string, string> | undefined;
    assert.equal(
      secret?.password,
      Buffer.from('s3cret').toString('base64'),
      'the secret decrypts on PostgreSQL',
    );
    const created = await kubectl(postgresHub, [
      'create',
      'configmap',
      'three',
      '-o',
      'jsonpath={.metadata.resourceVersion}',
    ]);
    assert.equal(created.code, 0, created.stderr);
    const newest = Math.max(...[...before.values()].map(([resourceVersion]) => Number(resourceVersion)));
    assert.ok(Number(created.stdout) > newest, `new revision ${created.stdout} continues after ${newest}`);
  });

  it('refuses a source that does not exist, and a target that is not PostgreSQL', async () => {
    const missing = await outpost([
      'store',
      'migrate',
      '--from',
      'sqlite:/nonexistent/outpost.db',
      '--to',
      cluster.url,
    ]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /no SQLite store at/);
    const wrong = await outpost(['store', 'migrate', '--from', 'sqlite:/x.db', '--to', 'mysql://db']);
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /--to must be postgres:/);
  });
});
