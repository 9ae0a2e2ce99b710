/**
 * `kubectl get` (tables, yaml, json, selectors, chunking, all namespaces),
 * `get -w` / `--watch-only`, and `wait` against a real hub process.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import YAML from 'yaml';
import {
  configMap,
  device,
  type KubectlHub,
  namesIn,
  namespace,
  parseTable,
  placement,
  readyCondition,
  startKubectlHub,
  workload,
  workloadPath,
  yamlOf,
} from '../support/index.ts';

const NS_A = 'get-a';
const NS_B = 'get-b';

describe('kubectl get, watch and wait against the hub', () => {
  let k: KubectlHub;

  before(async () => {
    k = await startKubectlHub();
    await k.ok(
      ['apply', '-f', '-'],
      yamlOf(
        namespace(NS_A),
        namespace(NS_B),
        device('gw-1', { site: 'plant-a', tier: 'edge' }),
        device('gw-2', { site: 'plant-a' }),
        device('gw-3', { site: 'plant-b', tier: 'core' }),
        device('gw-4', { site: 'plant-b' }),
        device('gw-5', { site: 'plant-c', tier: 'edge' }),
        workload(NS_A, 'web', 'nginx:1.27', { app: 'web' }),
        workload(NS_A, 'db', 'postgres:16', { app: 'db' }),
        workload(NS_B, 'cache', 'redis:7', { app: 'cache' }),
        // Selects no Workload: these tests write Workload statuses by hand, which the summary
        // controller would overwrite for a placed Workload.
        placement(NS_A, 'web-plant-a', 'frontend', 'plant-a'),
        configMap(NS_A, 'settings', { a: '1', b: '2' }),
      ),
    );
  });

  after(async () => {
    await k?.stop();
  });

  describe('tables', () => {
    it('shows devices with PHASE, SITE, PARENT, LEVEL, LAST HEARTBEAT and AGE, filled from status', async () => {
      const heartbeat = new Date(Date.now() - 5_000).toISOString().replace(/\.\d+Z$/, 'Z');
      const response = await k.api.request('PATCH', '/apis/outpost.dev/v1alpha1/devices/gw-1/status', {
        body: {
          status: {
            phase: 'Online',
            lastHeartbeatTime: heartbeat,
            system: { architecture: 'arm64', os: 'linux' },
            certificate: { notAfter: '2027-01-06T12:00:00Z' },
          },
        },
        contentType: 'application/merge-patch+json',
      });
      assert.equal(response.status, 200, response.text);

      const { header, rows } = parseTable(await k.ok(['get', 'devices']));
      assert.deepEqual(header, ['NAME', 'PHASE', 'SITE', 'PARENT', 'LEVEL', 'LAST HEARTBEAT', 'AGE']);
      assert.deepEqual(
        rows.map((row) => row.NAME),
        ['gw-1', 'gw-2', 'gw-3', 'gw-4', 'gw-5'],
      );
      const gw1 = rows[0]!;
      assert.equal(gw1.PHASE, 'Online');
      assert.equal(gw1.SITE, 'plant-a');
      assert.match(gw1['LAST HEARTBEAT']!, /^\d+s$/);
      assert.match(gw1.AGE!, /^\d+s$/);
      assert.deepEqual([rows[1]!.PHASE, rows[1]!['LAST HEARTBEAT']], ['<none>', '<unknown>']);

      const wide = parseTable(await k.ok(['get', 'devices', 'gw-1', '-o', 'wide']));
      assert.deepEqual(wide.header, [
        'NAME',
        'PHASE',
        'SITE',
        'PARENT',
        'LEVEL',
        'LAST HEARTBEAT',
        'AGE',
        'ARCH',
        'OS',
        'CERT EXPIRES',
      ]);
      assert.deepEqual(
        [wide.rows[0]!.ARCH, wide.rows[0]!.OS, wide.rows[0]!['CERT EXPIRES']],
        ['arm64', 'linux', '2027-01-06T12:00:00Z'],
      );
    });

    it('shows workloads with their device counts and Ready condition', async () => {
      const response = await k.api.request('PATCH', `${workloadPath(NS_A, 'web')}/status`, {
        body: {
          status: {
            devices: { matched: 3, applied: 3, running: 2, failed: 1, unreachable: 0 },
            conditions: [readyCondition('False')],
          },
        },
        contentType: 'application/merge-patch+json',
      });
      assert.equal(response.status, 200, response.text);
      const { header, rows } = parseTable(await k.ok(['get', 'workloads', '-n', NS_A]));
      assert.deepEqual(header, [
        'NAME',
        'RESOURCES',
        'MATCHED',
        'RUNNING',
        'FAILED',
        'UNREACHABLE',
        'READY',
        'AGE',
      ]);
      const web = rows.find((row) => row.NAME === 'web')!;
      assert.deepEqual(
        [web.RESOURCES, web.MATCHED, web.RUNNING, web.FAILED, web.UNREACHABLE, web.READY],
        ['1', '3', '2', '1', '0', 'False'],
      );
      const db = rows.find((row) => row.NAME === 'db')!;
      assert.deepEqual([db.MATCHED, db.READY], ['<none>', '<none>']);
    });

    it('shows placements and configmaps with their own columns, by short name', async () => {
      const placements = parseTable(await k.ok(['get', 'pl', '-n', NS_A]));
      assert.deepEqual(placements.header, [
        'NAME',
        'MATCHED',
        'APPLIED',
        'RUNNING',
        'FAILED',
        'UNREACHABLE',
        'READY',
        'REVISION',
        'BATCH',
        'ROLLOUT',
        'AGE',
      ]);
      assert.equal(placements.rows[0]?.NAME, 'web-plant-a');
      const configMaps = parseTable(await k.ok(['get', 'cm', '-n', NS_A]));
      assert.deepEqual(configMaps.header, ['NAME', 'DATA', 'AGE']);
      assert.deepEqual([configMaps.rows[0]?.NAME, configMaps.rows[0]?.DATA], ['settings', '2']);
    });

    it('lists across namespaces with -A and a NAMESPACE column', async () => {
      const { header, rows } = parseTable(await k.ok(['get', 'workloads', '-A']));
      assert.equal(header[0], 'NAMESPACE');
      assert.deepEqual(
        rows.map((row) => `${row.NAMESPACE}/${row.NAME}`),
        [`${NS_A}/db`, `${NS_A}/web`, `${NS_B}/cache`],
      );
      assert.deepEqual(namesIn(await k.ok(['get', 'workloads', '-n', NS_B])), ['cache']);
    });

    it('says so when nothing matches', async () => {
      const result = await k.run(['get', 'workloads', '-n', 'default']);
      assert.equal(result.code, 0);
      assert.match(result.stderr, /No resources found in default namespace/);
      const missing = await k.fails(['get', 'workload', 'nope', '-n', NS_A]);
      assert.match(missing, /workloads\.outpost\.dev "nope" not found/);
    });
  });

  describe('yaml and json', () => {
    it('prints one object as YAML and as JSON with its server-set metadata', async () => {
      const asYaml = YAML.parse(await k.ok(['get', 'workload', 'web', '-n', NS_A, '-o', 'yaml']));
      assert.equal(asYaml.apiVersion, 'outpost.dev/v1alpha1');
      assert.equal(asYaml.kind, 'Workload');
      assert.equal(asYaml.metadata.namespace, NS_A);
      assert.match(asYaml.metadata.uid, /^[0-9a-f-]{36}$/);
      assert.match(asYaml.metadata.resourceVersion, /^\d+$/);
      assert.match(asYaml.metadata.creationTimestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      assert.equal(asYaml.spec.resources[0].kind, 'Deployment');
      assert.equal(asYaml.status.devices.running, 2);

      const asJson = JSON.parse(await k.ok(['get', 'workload', 'web', '-n', NS_A, '-o', 'json']));
      assert.deepEqual(asJson, asYaml);
    });

    it('prints a list as a v1 List holding every item', async () => {
      const list = JSON.parse(await k.ok(['get', 'devices', '-o', 'json']));
      assert.equal(list.kind, 'List');
      assert.equal(list.apiVersion, 'v1');
      assert.deepEqual(
        list.items.map(
          (item: { kind: string; metadata: { name: string } }) => `${item.kind}/${item.metadata.name}`,
        ),
        ['Device/gw-1', 'Device/gw-2', 'Device/gw-3', 'Device/gw-4', 'Device/gw-5'],
      );
      const names = await k.ok(['get', 'devices', '-o', 'name']);
      assert.equal(names.trim().split('\n')[0], 'device.outpost.dev/gw-1');
    });
  });

  describe('selectors and chunking', () => {
    const selected = async (...args: string[]) => namesIn(await k.ok(['get', 'devices', ...args]));

    it('selects by label with =, !=, in, notin, exists and !key', async () => {
      assert.deepEqual(await selected('-l', 'site=plant-a'), ['gw-1', 'gw-2']);
      assert.deepEqual(await selected('-l', 'site!=plant-a'), ['gw-3', 'gw-4', 'gw-5']);
      assert.deepEqual(await selected('-l', 'site in (plant-b,plant-c)'), ['gw-3', 'gw-4', 'gw-5']);
      assert.deepEqual(await selected('-l', 'site notin (plant-a,plant-b)'), ['gw-5']);
      assert.deepEqual(await selected('-l', 'tier'), ['gw-1', 'gw-3', 'gw-5']);
      assert.deepEqual(await selected('-l', '!tier'), ['gw-2', 'gw-4']);
      assert.deepEqual(await selected('-l', 'site=plant-a,tier=edge'), ['gw-1']);
      assert.deepEqual(await selected('-l', 'tier==edge'), ['gw-1', 'gw-5']);
    });

    it('refuses a malformed label selector', async () => {
      const stderr = await k.fails(['get', 'devices', '-l', 'site in plant-a']);
      assert.match(stderr, /selector|parse|unable/i);
    });

    it('selects by metadata.name and metadata.namespace fields', async () => {
      assert.deepEqual(await selected('--field-selector', 'metadata.name=gw-3'), ['gw-3']);
      assert.deepEqual(await selected('--field-selector', 'metadata.name!=gw-3'), [
        'gw-1',
        'gw-2',
        'gw-4',
        'gw-5',
      ]);
      const byNamespace = parseTable(
        await k.ok(['get', 'workloads', '-A', '--field-selector', `metadata.namespace=${NS_B}`]),
      );
      assert.deepEqual(
        byNamespace.rows.map((row) => row.NAME),
        ['cache'],
      );
    });

    it('returns every item when kubectl fetches them two at a time', async () => {
      const chunked = k.stream(['get', 'devices', '--chunk-size=2']);
      assert.equal(await chunked.exit(), 0, chunked.stderr);
      assert.deepEqual(namesIn(chunked.stdout), ['gw-1', 'gw-2', 'gw-3', 'gw-4', 'gw-5']);
      const pages = chunked.stderr.match(/GET \S+\/devices\?\S*limit=2\S* 200 OK/g) ?? [];
      assert.equal(pages.length, 3, `three pages of two: ${chunked.stderr}`);
      assert.equal(pages.filter((line) => line.includes('continue=')).length, 2);

      const selectedChunks = await k.ok(['get', 'devices', '--chunk-size=1', '-l', 'tier']);
      assert.deepEqual(namesIn(selectedChunks), ['gw-1', 'gw-3', 'gw-5']);
    });
  });

  describe('watch', () => {
    it('get -w lists, then prints a change made by another client with --output-watch-events', async () => {
      const watch = k.stream(['get', 'devices', '-w', '--output-watch-events']);
      await watch.watching();
      await watch.printed(/ADDED\s+gw-5/);
      const labelled = await k.ok(['label', 'device', 'gw-4', 'site=plant-z', '--overwrite']);
      assert.match(labelled, /labeled/);
      const out = await watch.printed(/MODIFIED\s+gw-4\s+\S+\s+plant-z/);
      const lines = out.trim().split('\n');
      assert.match(lines[0]!, /^EVENT\s+NAME\s+PHASE\s+SITE\s+PARENT\s+LEVEL\s+LAST HEARTBEAT\s+AGE$/);
      assert.equal(lines.filter((line) => line.startsWith('ADDED')).length, 5);
      await watch.stop();
    });

    it('--watch-only prints only later changes: an update and a delete by the API client', async () => {
      const watch = k.stream(['get', 'workloads', '-n', NS_A, '--watch-only', '--output-watch-events']);
      await watch.watching();
      const patched = await k.api.request('PATCH', workloadPath(NS_A, 'db'), {
        body: { metadata: { labels: { touched: 'yes' } } },
        contentType: 'application/merge-patch+json',
      });
      assert.equal(patched.status, 200, patched.text);
      await watch.printed(/MODIFIED\s+db\s/);
      await k.ok(['apply', '-f', '-'], yamlOf(workload(NS_A, 'short-lived', 'busybox:1.36')));
      await watch.printed(/ADDED\s+short-lived\s/);
      await k.ok(['delete', 'workload', 'short-lived', '-n', NS_A]);
      const out = await watch.printed(/DELETED\s+short-lived\s/);
      assert.doesNotMatch(out, /\bweb\b/, 'objects that did not change are not printed');
      await watch.stop();
    });

    it('a watch with a label selector sees an object enter and leave the selection', async () => {
      const watch = k.stream([
        'get',
        'devices',
        '-l',
        'site=plant-c',
        '--watch-only',
        '--output-watch-events',
      ]);
      await watch.watching();
      await k.ok(['label', 'device', 'gw-2', 'site=plant-c', '--overwrite']);
      await watch.printed(/ADDED\s+gw-2\s+\S+\s+plant-c/);
      await k.ok(['label', 'device', 'gw-2', 'site=plant-a', '--overwrite']);
      const out = await watch.printed(/DELETED\s+gw-2\s/);
      assert.doesNotMatch(out, /gw-1|gw-3|gw-4/);
      await watch.stop();
    });
  });

  describe('wait', () => {
    it('wait --for=condition=Ready returns once the status subresource says Ready=True', async () => {
      await k.ok(['apply', '-f', '-'], yamlOf(workload(NS_A, 'awaited', 'busybox:1.36')));
      const waiting = k.stream([
        'wait',
        '--for=condition=Ready',
        'workload/awaited',
        '-n',
        NS_A,
        '--timeout=30s',
      ]);
      await waiting.watching();

      const current = (await k.api.request('GET', workloadPath(NS_A, 'awaited'))).json();
      const notYet = await k.api.request('PUT', `${workloadPath(NS_A, 'awaited')}/status`, {
        body: { ...current, status: { conditions: [readyCondition('False')] } },
      });
      assert.equal(notYet.status, 200, notYet.text);
      const ready = await k.api.request('PATCH', `${workloadPath(NS_A, 'awaited')}/status`, {
        body: { status: { conditions: [readyCondition('True')] } },
        contentType: 'application/merge-patch+json',
      });
      assert.equal(ready.status, 200, ready.text);
      assert.equal(ready.json().metadata.generation, 1, 'a status write does not bump generation');

      assert.equal(await waiting.exit(), 0, waiting.stderr);
      assert.match(waiting.stdout, /workload\.outpost\.dev\/awaited condition met/);
      assert.equal(parseTable(await k.ok(['get', 'workload', 'awaited', '-n', NS_A])).rows[0]?.READY, 'True');
    });

    it('a status write through the main resource does not change the status', async () => {
      const current = (await k.api.request('GET', workloadPath(NS_A, 'db'))).json();
      const response = await k.api.request('PUT', workloadPath(NS_A, 'db'), {
        body: { ...current, status: { conditions: [readyCondition('True')] } },
      });
      assert.equal(response.status, 200, response.text);
      assert.equal(response.json().status, undefined);
    });

    it('wait --for=condition=Ready times out with an error while the condition is not met', async () => {
      const result = await k.run([
        'wait',
        '--for=condition=Ready',
        'workload/db',
        '-n',
        NS_A,
        '--timeout=1s',
      ]);
      assert.notEqual(result.code, 0);
      assert.match(result.stderr, /timed out waiting for the condition on workloads\/db/);
    });

    it('wait --for=delete returns once another client deletes the object', async () => {
      await k.ok(['apply', '-f', '-'], yamlOf(device('doomed', { site: 'plant-x' })));
      const waiting = k.stream(['wait', '--for=delete', 'device/doomed', '--timeout=30s']);
      await waiting.watching();
      const deleted = await k.api.request('DELETE', '/apis/outpost.dev/v1alpha1/devices/doomed');
      assert.equal(deleted.status, 200, deleted.text);
      assert.equal(await waiting.exit(), 0, waiting.stderr);
      assert.match(waiting.stdout, /device\.outpost\.dev\/doomed condition met/);
    });
  });
});
