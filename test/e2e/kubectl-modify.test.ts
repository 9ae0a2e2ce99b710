/**
 * `kubectl describe`, `patch`, `label`, `annotate`, `replace` and `delete`
 * against a real hub process.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  configMap,
  device,
  type KubectlHub,
  namesIn,
  namespace,
  placement,
  startKubectlHub,
  workload,
  workloadPath,
  yamlOf,
} from '../support/index.ts';

const NS = 'modify-team';

describe('kubectl describe, patch, label, annotate and delete against the hub', () => {
  let k: KubectlHub;

  before(async () => {
    k = await startKubectlHub();
    await k.ok(
      ['apply', '-f', '-'],
      yamlOf(
        namespace(NS),
        device('edge-1', { site: 'plant-a', tier: 'edge' }, 30),
        workload(NS, 'web', 'nginx:1.27', { app: 'web' }),
        placement(NS, 'web-plant-a', 'web', 'plant-a'),
        configMap(NS, 'settings', { level: 'info' }),
      ),
    );
  });

  after(async () => {
    await k?.stop();
  });

  const getJson = async (...args: string[]) => JSON.parse(await k.ok(['get', ...args, '-o', 'json']));

  describe('describe', () => {
    it('describes a Device with its labels and spec', async () => {
      const out = await k.ok(['describe', 'device', 'edge-1']);
      assert.match(out, /^Name:\s+edge-1$/m);
      assert.match(out, /^Labels:\s+site=plant-a$/m);
      assert.match(out, /^\s+tier=edge$/m);
      assert.match(out, /^Kind:\s+Device$/m);
      assert.match(out, /^API Version:\s+outpost\.dev\/v1alpha1$/m);
      assert.match(out, /Period Seconds:\s+30/);
    });

    it('describes a Workload with its namespace and embedded resources', async () => {
      const out = await k.ok(['describe', 'workload', 'web', '-n', NS]);
      assert.match(out, /^Name:\s+web$/m);
      assert.match(out, new RegExp(`^Namespace:\\s+${NS}$`, 'm'));
      assert.match(out, /Kind:\s+Deployment/);
      assert.match(out, /Image:\s+nginx:1\.27/);
    });

    it('describes every object of a kind selected by label', async () => {
      const out = await k.ok(['describe', 'workloads', '-n', NS, '-l', 'app=web']);
      assert.match(out, /^Name:\s+web$/m);
      const missing = await k.fails(['describe', 'workload', 'nope', '-n', NS]);
      assert.match(missing, /workloads\.outpost\.dev "nope" not found/);
    });
  });

  describe('patch', () => {
    it('applies a merge patch and bumps generation for a spec change', async () => {
      const out = await k.ok([
        'patch',
        'device',
        'edge-1',
        '--type',
        'merge',
        '-p',
        '{"spec":{"heartbeat":{"periodSeconds":45}}}',
      ]);
      assert.match(out, /^device\.outpost\.dev\/edge-1 patched$/m);
      const object = await getJson('device', 'edge-1');
      assert.equal(object.spec.heartbeat.periodSeconds, 45);
      assert.equal(object.metadata.generation, 2);
      assert.equal(object.metadata.labels.site, 'plant-a', 'the rest is kept');
    });

    it('applies a JSON patch to an element of an array', async () => {
      const patch = JSON.stringify([
        { op: 'test', path: '/spec/resources/0/kind', value: 'Deployment' },
        {
          op: 'replace',
          path: '/spec/resources/0/spec/template/spec/containers/0/image',
          value: 'nginx:1.29',
        },
        { op: 'add', path: '/metadata/labels/patched', value: 'json' },
      ]);
      const out = await k.ok(['patch', 'workload', 'web', '-n', NS, '--type', 'json', '-p', patch]);
      assert.match(out, /^workload\.outpost\.dev\/web patched$/m);
      const object = await getJson('workload', 'web', '-n', NS);
      assert.equal(object.spec.resources[0].spec.template.spec.containers[0].image, 'nginx:1.29');
      assert.equal(object.metadata.labels.patched, 'json');
      assert.equal(object.metadata.generation, 2);
    });

    it('says "no change" for a patch that changes nothing and writes nothing', async () => {
      const before = (await getJson('device', 'edge-1')).metadata.resourceVersion;
      const out = await k.ok([
        'patch',
        'device',
        'edge-1',
        '--type',
        'merge',
        '-p',
        '{"spec":{"heartbeat":{"periodSeconds":45}}}',
      ]);
      assert.match(out, /patched \(no change\)/);
      assert.equal((await getJson('device', 'edge-1')).metadata.resourceVersion, before);
    });

    it('refuses a JSON patch whose test fails and changes nothing', async () => {
      const before = (await getJson('workload', 'web', '-n', NS)).metadata.resourceVersion;
      const patch = JSON.stringify([
        { op: 'test', path: '/spec/resources/0/kind', value: 'StatefulSet' },
        { op: 'remove', path: '/spec/resources/0' },
      ]);
      const stderr = await k.fails(['patch', 'workload', 'web', '-n', NS, '--type', 'json', '-p', patch]);
      assert.match(stderr, /test failed/);
      assert.equal((await getJson('workload', 'web', '-n', NS)).metadata.resourceVersion, before);
    });

    it('refuses a merge patch that makes the Workload invalid with the field path', async () => {
      const stderr = await k.fails([
        'patch',
        'workload',
        'web',
        '-n',
        NS,
        '--type',
        'merge',
        '-p',
        '{"spec":{"resources":[]}}',
      ]);
      assert.match(stderr, /spec\.resources/);
      assert.equal((await getJson('workload', 'web', '-n', NS)).spec.resources.length, 1);
    });

    it('patches a ConfigMap with a strategic merge patch (kubectl default)', async () => {
      await k.ok(['patch', 'configmap', 'settings', '-n', NS, '-p', '{"data":{"extra":"yes"}}']);
      assert.deepEqual((await getJson('configmap', 'settings', '-n', NS)).data, {
        level: 'info',
        extra: 'yes',
      });
    });
  });

  describe('label and annotate', () => {
    it('adds a label, refuses to change it without --overwrite, changes it with, removes it with key-', async () => {
      assert.match(
        await k.ok(['label', 'device', 'edge-1', 'rack=r1']),
        /^device\.outpost\.dev\/edge-1 labeled$/m,
      );
      assert.equal((await getJson('device', 'edge-1')).metadata.labels.rack, 'r1');

      const refused = await k.fails(['label', 'device', 'edge-1', 'rack=r2']);
      assert.match(refused, /'rack' already has a value \(r1\), and --overwrite is false/);
      assert.equal((await getJson('device', 'edge-1')).metadata.labels.rack, 'r1');

      await k.ok(['label', 'device', 'edge-1', 'rack=r2', '--overwrite']);
      assert.equal((await getJson('device', 'edge-1')).metadata.labels.rack, 'r2');
      assert.deepEqual(namesIn(await k.ok(['get', 'devices', '-l', 'rack=r2'])), ['edge-1']);

      assert.match(await k.ok(['label', 'device', 'edge-1', 'rack-']), /unlabeled/);
      const labels = (await getJson('device', 'edge-1')).metadata.labels;
      assert.equal(labels.rack, undefined);
      assert.equal(labels.site, 'plant-a');
    });

    it('labels every object a selector matches in a namespace', async () => {
      await k.ok(
        ['apply', '-f', '-'],
        yamlOf(
          workload(NS, 'w1', 'busybox:1.36', { batch: 'x' }),
          workload(NS, 'w2', 'busybox:1.36', { batch: 'x' }),
        ),
      );
      const out = await k.ok(['label', 'workloads', '-n', NS, '-l', 'batch=x', 'wave=1']);
      assert.match(out, /workload\.outpost\.dev\/w1 labeled/);
      assert.match(out, /workload\.outpost\.dev\/w2 labeled/);
      assert.deepEqual(namesIn(await k.ok(['get', 'workloads', '-n', NS, '-l', 'wave=1'])), ['w1', 'w2']);
    });

    it('annotates, overwrites and removes an annotation without bumping generation', async () => {
      const generation = (await getJson('workload', 'web', '-n', NS)).metadata.generation;
      assert.match(await k.ok(['annotate', 'workload', 'web', '-n', NS, 'owner=team-web']), /annotated/);
      assert.equal((await getJson('workload', 'web', '-n', NS)).metadata.annotations.owner, 'team-web');
      await k.fails(['annotate', 'workload', 'web', '-n', NS, 'owner=other']);
      await k.ok(['annotate', 'workload', 'web', '-n', NS, 'owner=other', '--overwrite']);
      const annotated = await getJson('workload', 'web', '-n', NS);
      assert.equal(annotated.metadata.annotations.owner, 'other');
      assert.equal(annotated.metadata.generation, generation, 'metadata changes leave generation alone');
      await k.ok(['annotate', 'workload', 'web', '-n', NS, 'owner-']);
      assert.equal((await getJson('workload', 'web', '-n', NS)).metadata.annotations?.owner, undefined);
    });
  });

  describe('delete', () => {
    it('deletes by name, and reports a missing name as NotFound', async () => {
      await k.ok(['apply', '-f', '-'], yamlOf(device('del-1')));
      assert.match(await k.ok(['delete', 'device', 'del-1']), /^device\.outpost\.dev "del-1" deleted$/m);
      assert.equal((await k.api.request('GET', '/apis/outpost.dev/v1alpha1/devices/del-1')).status, 404);
      const stderr = await k.fails(['delete', 'device', 'del-1']);
      assert.match(stderr, /devices\.outpost\.dev "del-1" not found/);
      assert.equal((await k.run(['delete', 'device', 'del-1', '--ignore-not-found'])).code, 0);
    });

    it('deletes what a label selector matches and nothing else', async () => {
      await k.ok(
        ['apply', '-f', '-'],
        yamlOf(
          device('sel-1', { fleet: 'old' }),
          device('sel-2', { fleet: 'old' }),
          device('sel-3', { fleet: 'new' }),
        ),
      );
      const out = await k.ok(['delete', 'devices', '-l', 'fleet=old']);
      assert.match(out, /"sel-1" deleted/);
      assert.match(out, /"sel-2" deleted/);
      assert.deepEqual(namesIn(await k.ok(['get', 'devices', '-l', 'fleet'])), ['sel-3']);
    });

    it('deletes every object of a kind in one namespace with --all', async () => {
      await k.ok(
        ['apply', '-f', '-'],
        yamlOf(namespace('other-team'), workload('other-team', 'kept', 'busybox:1.36')),
      );
      const out = await k.ok(['delete', 'workloads', '--all', '-n', NS]);
      assert.match(out, /workload\.outpost\.dev "web" deleted/);
      assert.match(out, /workload\.outpost\.dev "w1" deleted/);
      const left = await k.run(['get', 'workloads', '-n', NS]);
      assert.match(left.stderr, /No resources found/);
      assert.deepEqual(namesIn(await k.ok(['get', 'workloads', '-n', 'other-team'])), ['kept']);
      const response = await k.api.request('GET', workloadPath('other-team', 'kept'));
      assert.equal(response.status, 200);
    });

    it('deletes what a file names with delete -f', async () => {
      const manifest = yamlOf(configMap(NS, 'from-file', { a: '1' }));
      await k.ok(['apply', '-f', '-'], manifest);
      assert.match(await k.ok(['delete', '-f', '-'], manifest), /configmap "from-file" deleted/);
      assert.equal((await k.api.request('GET', `/api/v1/namespaces/${NS}/configmaps/from-file`)).status, 404);
    });
  });
});
