/**
 * `kubectl apply` (client-side and server-side), `diff`, `explain`,
 * `api-resources` and `create namespace` against a real hub process.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import YAML from 'yaml';
import {
  configMap,
  device,
  type KubectlHub,
  type Manifest,
  namespace,
  parseTable,
  placement,
  startKubectlHub,
  workload,
  workloadPath,
  yamlOf,
} from '../support/index.ts';

const NS = 'apply-team';

describe('kubectl apply, diff and discovery against the hub', () => {
  let k: KubectlHub;

  before(async () => {
    k = await startKubectlHub();
    await k.ok(['apply', '-f', '-'], yamlOf(namespace(NS)));
  });

  after(async () => {
    await k?.stop();
  });

  const resourceVersion = async (path: string): Promise<string> => {
    const response = await k.api.request('GET', path);
    assert.equal(response.status, 200, response.text);
    return response.json().metadata.resourceVersion;
  };

  /**
   * An object as its owner wrote it: everything but status, which the hub's
   * controllers keep writing (Workload and Placement summaries, Device
   * health) whatever kubectl does.
   */
  const ownedState = async (path: string): Promise<unknown> => {
    const response = await k.api.request('GET', path);
    assert.equal(response.status, 200, response.text);
    const { status: _status, metadata, ...rest } = response.json();
    const { resourceVersion: _version, managedFields = [], ...meta } = metadata;
    return {
      ...rest,
      metadata: meta,
      managedFields: managedFields.filter(
        (entry: { subresource?: string }) => entry.subresource !== 'status',
      ),
    };
  };

  describe('client-side apply', () => {
    const manifests = () => [
      device('apply-gw-1', { site: 'plant-a', tier: 'edge' }),
      workload(NS, 'web', 'nginx:1.27', { app: 'web' }),
      placement(NS, 'web-plant-a', 'web', 'plant-a'),
      configMap(NS, 'web-config', { level: 'info' }),
    ];
    const paths = [
      '/apis/outpost.dev/v1alpha1/devices/apply-gw-1',
      workloadPath(NS, 'web'),
      `/apis/outpost.dev/v1alpha1/namespaces/${NS}/placements/web-plant-a`,
      `/api/v1/namespaces/${NS}/configmaps/web-config`,
    ];

    it('creates a Device, a Workload, a Placement and a ConfigMap from one file and says created', async () => {
      const out = await k.ok(['apply', '-f', '-'], yamlOf(...manifests()));
      assert.match(out, /^device\.outpost\.dev\/apply-gw-1 created$/m);
      assert.match(out, /^workload\.outpost\.dev\/web created$/m);
      assert.match(out, /^placement\.outpost\.dev\/web-plant-a created$/m);
      assert.match(out, /^configmap\/web-config created$/m);
      for (const path of paths) {
        const response = await k.api.request('GET', path);
        assert.equal(response.status, 200, `${path}: ${response.text}`);
        const object = response.json();
        assert.ok(
          object.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration'],
          `${path} carries the last applied configuration`,
        );
      }
      const stored = (await k.api.request('GET', workloadPath(NS, 'web'))).json();
      assert.equal(stored.spec.resources[0].spec.template.spec.containers[0].image, 'nginx:1.27');
      assert.equal(stored.metadata.generation, 1);
    });

    it('re-applying the same file says unchanged and writes nothing', async () => {
      const before = await Promise.all(paths.map(ownedState));
      const configMapVersion = await resourceVersion(paths[3]!); // no controller writes a ConfigMap
      const out = await k.ok(['apply', '-f', '-'], yamlOf(...manifests()));
      for (const line of out.trim().split('\n')) assert.match(line, / unchanged$/);
      assert.equal(out.trim().split('\n').length, 4);
      assert.deepEqual(await Promise.all(paths.map(ownedState)), before);
      assert.equal(await resourceVersion(paths[3]!), configMapVersion);
    });

    it('applying a changed file updates only what changed and drops what the file no longer sets', async () => {
      const changed = manifests();
      changed[0] = device('apply-gw-1', { site: 'plant-a' }); // the `tier` label removed
      changed[1] = workload(NS, 'web', 'nginx:1.28', { app: 'web' });
      const out = await k.ok(['apply', '-f', '-'], yamlOf(...changed));
      assert.match(out, /^device\.outpost\.dev\/apply-gw-1 configured$/m);
      assert.match(out, /^workload\.outpost\.dev\/web configured$/m);
      assert.match(out, /^placement\.outpost\.dev\/web-plant-a unchanged$/m);
      assert.match(out, /^configmap\/web-config unchanged$/m);

      const image = await k.ok([
        'get',
        'workload',
        'web',
        '-n',
        NS,
        '-o',
        'jsonpath={.spec.resources[0].spec.template.spec.containers[0].image} {.metadata.generation}',
      ]);
      assert.equal(image, 'nginx:1.28 2');
      const labels = JSON.parse(
        await k.ok(['get', 'device', 'apply-gw-1', '-o', 'jsonpath={.metadata.labels}']),
      );
      assert.deepEqual(labels, { site: 'plant-a' });
    });

    it('applies a ConfigMap data change', async () => {
      const out = await k.ok(
        ['apply', '-f', '-'],
        yamlOf(configMap(NS, 'web-config', { level: 'debug', extra: 'x' })),
      );
      assert.match(out, /^configmap\/web-config configured$/m);
      const data = JSON.parse(
        await k.ok(['get', 'configmap', 'web-config', '-n', NS, '-o', 'jsonpath={.data}']),
      );
      assert.deepEqual(data, { level: 'debug', extra: 'x' });
    });
  });

  describe('server-side apply', () => {
    const ssaWorkload = (owner: string, image: string): Manifest => workload(NS, 'ssa', image, { owner });

    it('creates and re-applies with --server-side and records kubectl as the Apply manager', async () => {
      const first = await k.ok(
        ['apply', '--server-side', '-f', '-'],
        yamlOf(ssaWorkload('alice', 'busybox:1.36')),
      );
      assert.match(first, /^workload\.outpost\.dev\/ssa serverside-applied$/m);
      const rv = await resourceVersion(workloadPath(NS, 'ssa'));
      const again = await k.ok(
        ['apply', '--server-side', '-f', '-'],
        yamlOf(ssaWorkload('alice', 'busybox:1.36')),
      );
      assert.match(again, /serverside-applied/);
      assert.equal(await resourceVersion(workloadPath(NS, 'ssa')), rv, 'an identical apply writes nothing');

      const shown = YAML.parse(
        await k.ok(['get', 'workload', 'ssa', '-n', NS, '-o', 'yaml', '--show-managed-fields']),
      );
      const entry = shown.metadata.managedFields.find((e: { manager: string }) => e.manager === 'kubectl');
      assert.ok(entry, 'kubectl manages fields');
      assert.equal(entry.operation, 'Apply');
      assert.equal(entry.fieldsType, 'FieldsV1');
      assert.ok(entry.fieldsV1['f:metadata']['f:labels']['f:owner'], 'kubectl owns the owner label');
      assert.ok(entry.fieldsV1['f:spec']['f:resources'], 'kubectl owns spec.resources');

      const hidden = YAML.parse(await k.ok(['get', 'workload', 'ssa', '-n', NS, '-o', 'yaml']));
      assert.equal(hidden.metadata.managedFields, undefined, 'kubectl hides managedFields by default');
    });

    it('refuses a second field manager changing an owned field with 409, then --force-conflicts takes it over', async () => {
      const stderr = await k.fails(
        ['apply', '--server-side', '--field-manager=team-b', '-f', '-'],
        yamlOf(ssaWorkload('bob', 'busybox:1.36')),
      );
      assert.match(stderr, /conflict with "kubectl"/);
      assert.match(stderr, /\.metadata\.labels\.owner/);

      // The same request on the wire: a 409 Status naming the field and its manager.
      const response = await k.api.request('PATCH', `${workloadPath(NS, 'ssa')}?fieldManager=team-b`, {
        body: JSON.stringify(ssaWorkload('bob', 'busybox:1.36')),
        contentType: 'application/apply-patch+yaml',
      });
      assert.equal(response.status, 409, response.text);
      const status = response.json();
      assert.equal(status.kind, 'Status');
      assert.equal(status.reason, 'Conflict');
      assert.ok(
        status.details.causes.some(
          (cause: { reason: string; field: string; message: string }) =>
            cause.reason === 'FieldManagerConflict' &&
            cause.field === '.metadata.labels.owner' &&
            /kubectl/.test(cause.message),
        ),
        response.text,
      );
      assert.equal(
        await k.ok(['get', 'workload', 'ssa', '-n', NS, '-o', 'jsonpath={.metadata.labels.owner}']),
        'alice',
        'the refused apply changed nothing',
      );

      const forced = await k.ok(
        ['apply', '--server-side', '--field-manager=team-b', '--force-conflicts', '-f', '-'],
        yamlOf(ssaWorkload('bob', 'busybox:1.36')),
      );
      assert.match(forced, /serverside-applied/);
      const shown = YAML.parse(
        await k.ok(['get', 'workload', 'ssa', '-n', NS, '-o', 'yaml', '--show-managed-fields']),
      );
      assert.equal(shown.metadata.labels.owner, 'bob');
      const managers = Object.fromEntries(
        shown.metadata.managedFields.map((e: { manager: string; fieldsV1: unknown }) => [
          e.manager,
          e.fieldsV1,
        ]),
      );
      assert.ok(managers['team-b']['f:metadata']['f:labels']['f:owner'], 'team-b now owns the label');
      assert.equal(
        managers.kubectl['f:metadata']?.['f:labels']?.['f:owner'],
        undefined,
        'kubectl lost the label',
      );
    });

    it('server-side applies a ConfigMap and a Device', async () => {
      const out = await k.ok(
        ['apply', '--server-side', '-f', '-'],
        yamlOf(configMap(NS, 'ssa-config', { a: '1' }), device('ssa-gw', { site: 'plant-z' })),
      );
      assert.match(out, /^configmap\/ssa-config serverside-applied$/m);
      assert.match(out, /^device\.outpost\.dev\/ssa-gw serverside-applied$/m);
      const shown = YAML.parse(
        await k.ok(['get', 'configmap', 'ssa-config', '-n', NS, '-o', 'yaml', '--show-managed-fields']),
      );
      assert.equal(shown.data.a, '1');
      assert.ok(shown.metadata.managedFields.some((e: { manager: string }) => e.manager === 'kubectl'));
    });
  });

  describe('diff', () => {
    it('exits 0 and prints nothing when the file matches the live objects', async () => {
      await k.ok(
        ['apply', '-f', '-'],
        yamlOf(workload(NS, 'diffed', 'redis:7'), device('diff-gw', { site: 'plant-d' })),
      );
      const result = await k.run(
        ['diff', '-f', '-'],
        yamlOf(workload(NS, 'diffed', 'redis:7'), device('diff-gw', { site: 'plant-d' })),
      );
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, '');
    });

    it('exits 1 with a unified diff of the change, and changes nothing', async () => {
      const rv = await resourceVersion(workloadPath(NS, 'diffed'));
      const result = await k.run(['diff', '-f', '-'], yamlOf(workload(NS, 'diffed', 'redis:7.2')));
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stdout, /^-\s+- image: redis:7$/m);
      assert.match(result.stdout, /^\+\s+- image: redis:7\.2$/m);
      assert.match(result.stdout, /^-\s+generation: 1$/m);
      assert.match(result.stdout, /^\+\s+generation: 2$/m);
      assert.equal(await resourceVersion(workloadPath(NS, 'diffed')), rv, 'diff is a dry run');
    });

    it('shows an object the file would create', async () => {
      const result = await k.run(['diff', '-f', '-'], yamlOf(device('diff-new', { site: 'plant-n' })));
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stdout, /^\+\s+name: diff-new$/m);
      const response = await k.api.request('GET', '/apis/outpost.dev/v1alpha1/devices/diff-new');
      assert.equal(response.status, 404, 'diff created nothing');
    });
  });

  describe('discovery', () => {
    it('lists every kind with its short names, group and scope in api-resources', async () => {
      const { rows } = parseTable(await k.ok(['api-resources']));
      const byName = Object.fromEntries(rows.map((row) => [row.NAME, row]));
      assert.deepEqual(
        [
          byName.devices?.SHORTNAMES,
          byName.devices?.APIVERSION,
          byName.devices?.NAMESPACED,
          byName.devices?.KIND,
        ],
        ['dev', 'outpost.dev/v1alpha1', 'false', 'Device'],
      );
      assert.deepEqual(
        [byName.workloads?.SHORTNAMES, byName.workloads?.APIVERSION, byName.workloads?.NAMESPACED],
        ['wl', 'outpost.dev/v1alpha1', 'true'],
      );
      assert.deepEqual([byName.placements?.SHORTNAMES, byName.placements?.NAMESPACED], ['pl', 'true']);
      assert.deepEqual([byName.configmaps?.APIVERSION, byName.namespaces?.NAMESPACED], ['v1', 'false']);
      const group = await k.ok(['api-resources', '--api-group=outpost.dev', '-o', 'name']);
      assert.deepEqual(group.trim().split('\n').sort(), [
        'bootstraptokens.outpost.dev',
        'devices.outpost.dev',
        'mailboxes.outpost.dev',
        'opcuaconnectors.outpost.dev',
        'placements.outpost.dev',
        'workloads.outpost.dev',
      ]);
    });

    it('explains a kind and a nested field from the OpenAPI schema', async () => {
      const spec = await k.ok(['explain', 'workloads.spec']);
      assert.match(spec, /KIND:\s+Workload/);
      assert.match(spec, /resources\s+<\[\]Object> -required-/);
      assert.match(spec, /Kubernetes objects to run/);
      const period = await k.ok(['explain', 'devices.spec.heartbeat.periodSeconds']);
      assert.match(period, /FIELD: periodSeconds <integer>/);
      assert.match(period, /Seconds between heartbeats/);
      const unknown = await k.fails(['explain', 'workloads.spec.nope']);
      assert.match(unknown, /nope/);
    });
  });

  it('creates a namespace with `kubectl create namespace`', async () => {
    const out = await k.ok(['create', 'namespace', 'created-ns']);
    assert.match(out, /^namespace\/created-ns created$/m);
    const { rows } = parseTable(await k.ok(['get', 'namespace', 'created-ns']));
    assert.equal(rows[0]?.STATUS, 'Active');
    const again = await k.fails(['create', 'namespace', 'created-ns']);
    assert.match(again, /AlreadyExists|already exists/);
  });
});
