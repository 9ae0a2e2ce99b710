/**
 * kubectl beyond the basics against a hub process: strategic merge patches and repeated
 * client-side applies of RBAC objects and Leases, `kubectl get all`, SubjectAccessReview for
 * those RBAC lets create it, discovery paths with a trailing slash, and the health endpoints
 * answering without credentials.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import YAML from 'yaml';
import {
  configMap,
  connectorManifest,
  createUser,
  forbidden,
  type KubectlHub,
  kubectlAs,
  type Manifest,
  namespace,
  parseTable,
  placement,
  startKubectlHub,
  succeeds,
  waitFor,
  workload,
  yamlOf,
} from '../support/index.ts';

const NS = 'compat';
const RBAC = 'rbac.authorization.k8s.io/v1';

const role = (verbs: string[]): Manifest => ({
  apiVersion: RBAC,
  kind: 'Role',
  metadata: { name: 'reader', namespace: NS },
  rules: [
    { apiGroups: [''], resources: ['configmaps'], verbs },
    { apiGroups: [''], resources: ['secrets'], verbs: ['get'] },
  ],
});

describe('kubectl beyond the basics', () => {
  let k: KubectlHub;

  before(async () => {
    k = await startKubectlHub();
    await k.ok(['apply', '-f', '-'], yamlOf(namespace(NS)));
  });
  after(async () => {
    await k?.stop();
  });

  const getJson = async (...args: string[]) => JSON.parse(await k.ok(['get', ...args, '-o', 'json']));

  describe('RBAC objects and Leases take strategic merge patches', () => {
    it('applies a Role a second time with kubectl apply, replacing its rules', async () => {
      await k.ok(['apply', '-f', '-'], yamlOf(role(['get'])));
      const second = role(['get', 'list']);
      second.rules = [(second.rules as unknown[])[0]];
      assert.match(
        await k.ok(['apply', '-f', '-'], yamlOf(second)),
        /role\.rbac\.authorization\.k8s\.io\/reader configured/,
      );
      const stored = await getJson('role', 'reader', '-n', NS);
      assert.deepEqual(stored.rules, [
        { apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list'] },
      ]);
    });

    it('patches a Role, a ClusterRole and their bindings with kubectl patch (strategic by default)', async () => {
      await k.ok(['create', 'clusterrole', 'viewer', '--verb=get', '--resource=configmaps']);
      await k.ok(['create', 'rolebinding', 'readers', '-n', NS, '--role=reader', '--user=alice']);
      await k.ok(['create', 'clusterrolebinding', 'viewers', '--clusterrole=viewer', '--user=alice']);
      const rules = JSON.stringify({ rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['list'] }] });
      await k.ok(['patch', 'role', 'reader', '-n', NS, '-p', rules]);
      await k.ok(['patch', 'clusterrole', 'viewer', '-p', rules]);
      const subjects = JSON.stringify({
        metadata: { labels: { team: 'a' } },
        subjects: [{ kind: 'User', name: 'bob', apiGroup: 'rbac.authorization.k8s.io' }],
      });
      await k.ok(['patch', 'rolebinding', 'readers', '-n', NS, '-p', subjects]);
      await k.ok(['patch', 'clusterrolebinding', 'viewers', '-p', subjects]);
      for (const [kind, ns] of [
        ['role/reader', NS],
        ['clusterrole/viewer', ''],
      ] as const) {
        const object = await getJson(kind, ...(ns ? ['-n', ns] : []));
        assert.deepEqual(object.rules, [{ apiGroups: [''], resources: ['secrets'], verbs: ['list'] }], kind);
      }
      for (const [kind, ns] of [
        ['rolebinding/readers', NS],
        ['clusterrolebinding/viewers', ''],
      ] as const) {
        const object = await getJson(kind, ...(ns ? ['-n', ns] : []));
        assert.deepEqual(
          object.subjects.map((subject: { name: string }) => subject.name),
          ['bob'],
          kind,
        );
        assert.equal(object.metadata.labels.team, 'a', kind);
      }
    });

    it('patches a Lease with kubectl patch', async () => {
      await k.ok(
        ['apply', '-f', '-'],
        yamlOf({
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: 'lock', namespace: NS },
          spec: { holderIdentity: 'a', leaseDurationSeconds: 15 },
        }),
      );
      await k.ok(['patch', 'lease', 'lock', '-n', NS, '-p', '{"spec":{"holderIdentity":"b"}}']);
      const lease = await getJson('lease', 'lock', '-n', NS);
      assert.deepEqual(lease.spec, { holderIdentity: 'b', leaseDurationSeconds: 15 });
    });
  });

  describe('kubectl get all', () => {
    const ALL = 'all-team';

    before(async () => {
      await k.ok(
        ['apply', '-f', '-'],
        yamlOf(
          namespace(ALL),
          workload(ALL, 'web', 'nginx:1.27', { app: 'web' }),
          placement(ALL, 'web-everywhere', 'web', 'plant-a'),
          configMap(ALL, 'settings', { level: 'info' }),
          connectorManifest(
            ALL,
            'line-1',
            'opc.tcp://127.0.0.1:4840',
            { level: 'ns=2;s=Level' },
            {
              role: 'gateway',
            },
          ) as Manifest,
        ),
      );
    });

    it('lists the workload-facing kinds of a namespace, each with its own table', async () => {
      // The connector's own Workload and Placement are rendered by its controller.
      const names = await waitFor('the connector rendered', async () => {
        const listed = (await k.ok(['get', 'all', '-n', ALL, '-o', 'name'])).trim().split('\n').sort();
        return listed.length === 5 ? listed : undefined;
      });
      assert.deepEqual(names, [
        'opcuaconnector.outpost.dev/line-1',
        'placement.outpost.dev/line-1',
        'placement.outpost.dev/web-everywhere',
        'workload.outpost.dev/line-1',
        'workload.outpost.dev/web',
      ]);
      const out = await k.ok(['get', 'all', '-n', ALL]);
      const tables = out.split('\n\n').map(parseTable);
      // One table per kind, each with that kind's own columns.
      assert.equal(tables.length, 3, out);
      for (const table of tables) assert.equal(table.header[0], 'NAME', out);
      assert.ok(
        tables.some((table) => table.rows.some((row) => row.NAME === 'opcuaconnector.outpost.dev/line-1')),
      );
      // Configuration is not workload-facing, as ConfigMaps are not in Kubernetes' `all`.
      assert.doesNotMatch(out, /settings/);
    });

    it('lists them across namespaces, and deletes them with delete all --all', async () => {
      const everywhere = await k.ok(['get', 'all', '-A', '-o', 'wide']);
      const rows = everywhere
        .split('\n\n')
        .flatMap((table) => parseTable(table).rows)
        .map((row) => `${row.NAMESPACE}/${row.NAME}`);
      assert.ok(rows.includes(`${ALL}/workload.outpost.dev/web`), everywhere);
      await k.ok(['delete', 'all', '--all', '-n', ALL]);
      await waitFor('the namespace to have nothing left in all', async () =>
        (await k.run(['get', 'all', '-n', ALL, '-o', 'name'])).stdout.trim() === '' ? true : undefined,
      );
      assert.equal((await getJson('configmap', 'settings', '-n', ALL)).metadata.name, 'settings');
    });
  });

  describe('SubjectAccessReview', () => {
    // kubectl's client-side validation looks for a PATCH of the kind in the OpenAPI, which a
    // create-only kind has not (on Kubernetes too, whose own tests create reviews so).
    const CREATE_REVIEW = ['create', '--validate=false', '-f', '-', '-o', 'json'];
    const review = (user: string, verb: string) =>
      yamlOf({
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        metadata: {} as Manifest['metadata'],
        spec: {
          user,
          groups: ['team-x'],
          resourceAttributes: { namespace: NS, verb, resource: 'configmaps' },
        },
      } as Manifest);

    it('answers for the user and groups it names, to an admin', async () => {
      await k.ok(['create', 'rolebinding', 'x-readers', '-n', NS, '--role=reader', '--group=team-x']);
      await k.ok([
        'patch',
        'role',
        'reader',
        '-n',
        NS,
        '-p',
        JSON.stringify({ rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get'] }] }),
      ]);
      const allowed = JSON.parse(await k.ok(CREATE_REVIEW, review('carol', 'get')));
      assert.equal(allowed.kind, 'SubjectAccessReview');
      assert.equal(allowed.status.allowed, true);
      const denied = JSON.parse(await k.ok(CREATE_REVIEW, review('carol', 'delete')));
      assert.equal(denied.status.allowed, false);
    });

    it('refuses a user RBAC does not let create it, and answers once it does', async () => {
      const dave = await createUser(k.hub, 'dave', []);
      await forbidden(kubectlAs(k.hub, dave, CREATE_REVIEW, review('carol', 'get')), 'review');
      await k.ok([
        'create',
        'clusterrole',
        'reviewer',
        '--verb=create',
        '--resource=subjectaccessreviews.authorization.k8s.io',
      ]);
      await k.ok(['create', 'clusterrolebinding', 'dave-reviews', '--clusterrole=reviewer', '--user=dave']);
      const answered = await waitFor('dave to be allowed to create reviews', async () => {
        const result = await kubectlAs(k.hub, dave, CREATE_REVIEW, review('carol', 'get'));
        return result.code === 0 ? JSON.parse(result.stdout) : undefined;
      });
      assert.equal(answered.status.allowed, true);
    });

    it('refuses a review naming nobody with 422', async () => {
      const result = await k.run(
        CREATE_REVIEW,
        yamlOf({
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SubjectAccessReview',
          metadata: {} as Manifest['metadata'],
          spec: { resourceAttributes: { verb: 'get', resource: 'configmaps' } },
        } as Manifest),
      );
      assert.notEqual(result.code, 0);
      assert.match(
        result.stderr,
        /spec\.user: Invalid value: "": at least one of user or group must be specified/,
      );
    });
  });

  it('serves discovery with a trailing slash', async () => {
    for (const path of ['/version/', '/api/', '/apis/', '/api/v1/', '/apis/rbac.authorization.k8s.io/v1/']) {
      const body = JSON.parse(await k.ok(['get', '--raw', path]));
      assert.ok(typeof body.kind === 'string' || typeof body.gitVersion === 'string', path);
    }
    assert.equal(JSON.parse(await k.ok(['get', '--raw', '/api/v1/'])).kind, 'APIResourceList');
  });

  it('answers /readyz, /livez and /healthz without credentials', async () => {
    const config = YAML.parse(readFileSync(k.hub.kubeconfig, 'utf8'));
    const ca = Buffer.from(config.clusters[0].cluster['certificate-authority-data'], 'base64').toString(
      'utf8',
    );
    const dispatcher = new Agent({ connect: { ca } });
    try {
      const get = async (path: string) => {
        const response = await request(`${k.hub.url}${path}`, { dispatcher });
        return { status: response.statusCode, text: await response.body.text() };
      };
      const ready = await waitFor('the hub to be ready', async () => {
        const answer = await get('/readyz?verbose');
        return answer.status === 200 ? answer.text : undefined;
      });
      for (const line of [
        '[+]ping ok',
        '[+]store ok',
        '[+]informer-sync ok',
        '[+]shutdown ok',
        'readyz check passed',
      ])
        assert.ok(ready.split('\n').includes(line), `${line} in ${ready}`);
      assert.deepEqual(await get('/livez'), { status: 200, text: 'ok' });
      assert.deepEqual(await get('/healthz'), { status: 200, text: 'ok' });
      assert.deepEqual(await get('/readyz/store'), { status: 200, text: 'ok' });
      assert.equal((await get('/api/v1/namespaces')).status, 401);
    } finally {
      await dispatcher.close();
    }
    assert.equal(await succeeds(k.run(['get', '--raw', '/readyz']), 'readyz as admin'), 'ok');
  });
});
