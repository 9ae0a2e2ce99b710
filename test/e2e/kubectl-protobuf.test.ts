/**
 * The real kubectl 1.32 creates typed built-in kinds (`create namespace|configmap|secret`) with
 * protobuf bodies; the hub decodes them and each object reads back as its JSON form would be.
 * Labels, annotations, replace and edit on those objects go through JSON and patches.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type HubProcess, kubectl, removeDir, run, startHubProcess, tempDir } from '../support/index.ts';

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const BINARY = Buffer.from([0xff, 0xfe, 0x00, 0x62, 0x69, 0x6e]);

describe('kubectl sending protobuf bodies', () => {
  let hub: HubProcess;
  let files: string;

  before(async () => {
    hub = await startHubProcess();
    files = await tempDir('outpost-protobuf-');
    await writeFile(join(files, 'cfg.txt'), 'line1\nline2\n');
    await writeFile(join(files, 'bin.dat'), BINARY);
  });
  after(async () => {
    await hub?.stop();
    if (hub) await removeDir(hub.dataDir);
    if (files) await removeDir(files);
  });

  const ok = async (args: string[], input?: string) => {
    const result = await kubectl(hub, args, input);
    assert.equal(result.code, 0, `kubectl ${args.join(' ')}: ${result.stderr}`);
    return result;
  };
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary fields of objects.
  const getJson = async (...args: string[]): Promise<any> =>
    JSON.parse((await ok(['get', ...args, '-o', 'json'])).stdout);

  it('creates a namespace from protobuf, then labels it', async () => {
    // -v=8 shows the request headers: this proves the body really was protobuf.
    const created = await ok(['create', 'namespace', 'team-a', '-v=8']);
    assert.match(created.stderr, /POST .*\/api\/v1\/namespaces/);
    assert.match(created.stderr, /Content-Type: application\/vnd\.kubernetes\.protobuf/);
    assert.match(created.stdout, /namespace\/team-a created/);
    await ok(['label', 'namespace', 'team-a', 'team=a', 'tier=edge']);
    const ns = await getJson('namespace', 'team-a');
    assert.equal(ns.kind, 'Namespace');
    assert.equal(ns.apiVersion, 'v1');
    assert.equal(ns.metadata.name, 'team-a');
    assert.equal(ns.metadata.namespace, undefined);
    assert.equal(ns.metadata.labels.team, 'a');
    assert.equal(ns.metadata.labels.tier, 'edge');
    assert.match(ns.metadata.uid, /^[0-9a-f-]{36}$/);
    assert.match(ns.metadata.creationTimestamp, RFC3339);
    assert.deepEqual(ns.spec, {});
    assert.equal(ns.status.phase, 'Active');
  });

  it('creates a configmap from literals and files, text in data and binary in binaryData', async () => {
    const args = ['create', 'configmap', 'c1', '-n', 'team-a', '--from-literal=a=b'];
    await ok([...args, `--from-file=${join(files, 'cfg.txt')}`, `--from-file=${join(files, 'bin.dat')}`]);
    const cm = await getJson('configmap', 'c1', '-n', 'team-a');
    assert.equal(cm.kind, 'ConfigMap');
    assert.equal(cm.metadata.name, 'c1');
    assert.equal(cm.metadata.namespace, 'team-a');
    assert.match(cm.metadata.creationTimestamp, RFC3339);
    assert.deepEqual(cm.data, { a: 'b', 'cfg.txt': 'line1\nline2\n' });
    assert.deepEqual(cm.binaryData, { 'bin.dat': BINARY.toString('base64') });
    assert.equal(cm.immutable, undefined);
  });

  it('creates a generic secret with base64 data and the Opaque type', async () => {
    await ok([
      'create',
      'secret',
      'generic',
      's1',
      '-n',
      'team-a',
      '--from-literal=password=x',
      `--from-file=blob=${join(files, 'bin.dat')}`,
    ]);
    const secret = await getJson('secret', 's1', '-n', 'team-a');
    assert.equal(secret.kind, 'Secret');
    assert.equal(secret.metadata.namespace, 'team-a');
    assert.equal(secret.type, 'Opaque');
    assert.deepEqual(secret.data, {
      password: Buffer.from('x').toString('base64'),
      blob: BINARY.toString('base64'),
    });
    assert.equal(secret.stringData, undefined);
    const decoded = await ok(['get', 'secret', 's1', '-n', 'team-a', '-o', 'jsonpath={.data.password}']);
    assert.equal(Buffer.from(decoded.stdout, 'base64').toString(), 'x');
  });

  it('keeps the annotations and the type a protobuf body carries', async () => {
    await ok([
      'create',
      'secret',
      'generic',
      's2',
      '-n',
      'team-a',
      '--type=example.com/token',
      '--from-literal=t=v',
      '--save-config',
    ]);
    const secret = await getJson('secret', 's2', '-n', 'team-a');
    assert.equal(secret.type, 'example.com/token');
    const applied = JSON.parse(
      secret.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration'],
    );
    assert.equal(applied.metadata.name, 's2');
    assert.deepEqual(applied.data, { t: Buffer.from('v').toString('base64') });
  });

  it('persists nothing for a server-side dry run of a protobuf create', async () => {
    const dry = await ok([
      'create',
      'configmap',
      'dry',
      '-n',
      'team-a',
      '--from-literal=k=v',
      '--dry-run=server',
      '-o',
      'json',
    ]);
    assert.deepEqual(JSON.parse(dry.stdout).data, { k: 'v' });
    const missing = await kubectl(hub, ['get', 'configmap', 'dry', '-n', 'team-a']);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /NotFound|not found/);
  });

  it('annotates, replaces and edits objects created from protobuf', async () => {
    await ok(['annotate', 'configmap', 'c1', '-n', 'team-a', 'note=hi']);
    await ok(['label', 'secret', 's1', '-n', 'team-a', 'role=db']);
    const cm = await getJson('configmap', 'c1', '-n', 'team-a');
    assert.equal(cm.metadata.annotations.note, 'hi');
    cm.data.a = 'replaced';
    await ok(['replace', '-f', '-'], JSON.stringify(cm));
    const edited = await run(
      'kubectl',
      ['--kubeconfig', hub.kubeconfig, 'edit', 'configmap', 'c1', '-n', 'team-a'],
      {
        env: { EDITOR: 'sed -i s/replaced/edited/', KUBE_EDITOR: 'sed -i s/replaced/edited/' },
      },
    );
    assert.equal(edited.code, 0, edited.stderr);
    const final = await getJson('configmap', 'c1', '-n', 'team-a');
    assert.equal(final.data.a, 'edited');
    assert.equal(final.data['cfg.txt'], 'line1\nline2\n');
    assert.equal(final.metadata.annotations.note, 'hi');
    const secret = await getJson('secret', 's1', '-n', 'team-a');
    assert.equal(secret.metadata.labels.role, 'db');
    assert.equal(secret.data.password, Buffer.from('x').toString('base64'));
  });
});
