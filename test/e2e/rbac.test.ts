/**
 * RBAC for people, end to end: a user made with `outpost user create`, bound
 * to the built-in workload-team role in one namespace, manages workloads
 * there with kubectl, is refused (403) on devices writes and other
 * namespaces, and `kubectl auth can-i` / `whoami` answer for it. RBAC objects
 * created by kubectl (protobuf bodies) read back as written, and a new
 * binding takes effect within a second.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  type ApiClient,
  apiClient,
  bindWorkloadTeam,
  createUser,
  device,
  forbidden,
  type HubProcess,
  kubectl,
  kubectlAs,
  pollStatus,
  removeDir,
  startHubProcess,
  succeeds,
  type User,
  workload,
  yamlOf,
} from '../support/index.ts';

describe('RBAC for people', () => {
  let hub: HubProcess;
  let admin: ApiClient;
  let alice: User;
  let aliceApi: ApiClient;

  const as = (who: User, args: string[], input?: string) => kubectlAs(hub, who, args, input);

  before(async () => {
    hub = await startHubProcess();
    admin = apiClient(hub.kubeconfig);
    alice = await createUser(hub, 'alice', ['team-a-devs', 'outpost:workload-teams']);
    aliceApi = apiClient(alice.kubeconfig);
    await succeeds(kubectl(hub, ['create', 'namespace', 'team-a']), 'create team-a');
    await succeeds(kubectl(hub, ['create', 'namespace', 'team-b']), 'create team-b');
    await succeeds(
      kubectl(hub, ['apply', '-f', '-'], yamlOf(device('gw-1', { site: 'x' }))),
      'create device',
    );
    await bindWorkloadTeam(hub, 'team-a', 'team-a-devs');
  });
  after(async () => {
    await admin?.close();
    await aliceApi?.close();
    await hub?.stop();
    if (hub) await removeDir(hub.dataDir);
  });

  it('whoami shows the user and its groups', async () => {
    const out = await succeeds(as(alice, ['auth', 'whoami']), 'whoami');
    assert.match(out, /Username\s+alice/);
    assert.match(out, /Groups\s+\[team-a-devs outpost:workload-teams system:authenticated\]/);
  });

  it('lets a workload-team member manage workloads and config in its namespace with kubectl', async () => {
    await succeeds(as(alice, ['apply', '-f', '-'], yamlOf(workload('team-a', 'web'))), 'apply workload');
    await succeeds(as(alice, ['get', 'workloads', '-n', 'team-a']), 'list workloads');
    await succeeds(as(alice, ['label', 'workload', 'web', '-n', 'team-a', 'tier=edge']), 'label workload');
    await succeeds(
      as(alice, ['create', 'configmap', 'cfg', '-n', 'team-a', '--from-literal=a=b']),
      'create configmap',
    );
    await succeeds(
      as(alice, ['create', 'secret', 'generic', 's', '-n', 'team-a', '--from-literal=p=q']),
      'create secret',
    );
    await succeeds(as(alice, ['delete', 'workload', 'web', '-n', 'team-a']), 'delete workload');
    // Devices are readable (outpost:device-viewer, bound to outpost:workload-teams) ...
    const devices = await succeeds(as(alice, ['get', 'devices']), 'get devices');
    assert.match(devices, /gw-1/);
  });

  it('refuses device writes and other namespaces with 403', async () => {
    const stderr = await forbidden(as(alice, ['label', 'device', 'gw-1', 'team=a']), 'label a device');
    assert.match(
      stderr,
      /devices\.outpost\.dev "gw-1" is forbidden: User "alice" cannot patch resource "devices" in API group "outpost\.dev" at the cluster scope/,
    );
    await forbidden(as(alice, ['delete', 'device', 'gw-1']), 'delete a device');
    await forbidden(as(alice, ['apply', '-f', '-'], yamlOf(workload('team-b', 'web'))), 'apply in team-b');
    const list = await forbidden(as(alice, ['get', 'workloads', '-n', 'team-b']), 'list in team-b');
    assert.match(
      list,
      /cannot list resource "workloads" in API group "outpost\.dev" in the namespace "team-b"/,
    );
    await forbidden(as(alice, ['get', 'mailboxes']), 'list mailboxes');
    await forbidden(as(alice, ['create', 'namespace', 'mine']), 'create a namespace');
    await forbidden(
      as(alice, ['create', 'clusterrolebinding', 'me', '--clusterrole=cluster-admin', '--user=alice']),
      'bind cluster-admin',
    );

    // The answer is the apiserver's Status.
    const answer = await aliceApi.request('DELETE', '/apis/outpost.dev/v1alpha1/devices/gw-1');
    assert.equal(answer.status, 403);
    assert.deepEqual(answer.json(), {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message:
        'devices.outpost.dev "gw-1" is forbidden: User "alice" cannot delete resource "devices" in API group "outpost.dev" at the cluster scope',
      reason: 'Forbidden',
      details: { name: 'gw-1', group: 'outpost.dev', kind: 'devices' },
      code: 403,
    });
    assert.equal((await admin.request('GET', '/apis/outpost.dev/v1alpha1/devices/gw-1')).status, 200);
  });

  it('answers kubectl auth can-i yes and no as RBAC decides', async () => {
    const canI = async (...args: string[]) => {
      const result = await as(alice, ['auth', 'can-i', ...args]);
      return result.stdout.trim();
    };
    assert.equal(await canI('create', 'workloads', '-n', 'team-a'), 'yes');
    assert.equal(await canI('delete', 'secrets', '-n', 'team-a'), 'yes');
    assert.equal(await canI('create', 'workloads', '-n', 'team-b'), 'no');
    assert.equal(await canI('list', 'devices'), 'yes');
    assert.equal(await canI('update', 'devices'), 'no');
    assert.equal(await canI('patch', 'devices/status'), 'no');
    assert.equal(await canI('get', 'mailboxes'), 'no');
    assert.equal(await canI('get', '/version'), 'yes');
    assert.equal((await succeeds(as(hub, ['auth', 'can-i', '*', '*']), 'admin can-i')).trim(), 'yes');

    const list = await succeeds(as(alice, ['auth', 'can-i', '--list', '-n', 'team-a']), 'can-i --list');
    assert.match(list, /workloads\.outpost\.dev\s+\[\]\s+\[\]\s+\[\*\]/);
    assert.match(list, /devices\.outpost\.dev\s+\[\]\s+\[\]\s+\[get list watch\]/);
  });

  it('applies a new RoleBinding within a second, and its removal too', async () => {
    await forbidden(as(alice, ['get', 'workloads', '-n', 'team-b']), 'before the binding');
    await succeeds(
      kubectl(hub, [
        'create',
        'rolebinding',
        'alice-b',
        '-n',
        'team-b',
        '--clusterrole=outpost:workload-team',
        '--user=alice',
      ]),
      'bind in team-b',
    );
    const bound = Date.now();
    const path = '/apis/outpost.dev/v1alpha1/namespaces/team-b/workloads';
    assert.ok(await pollStatus(aliceApi, path, 200, bound + 1000), 'the binding took effect within a second');
    await succeeds(kubectl(hub, ['delete', 'rolebinding', 'alice-b', '-n', 'team-b']), 'unbind');
    assert.ok(
      await pollStatus(aliceApi, path, 403, Date.now() + 1000),
      'the removal took effect within a second',
    );
  });

  it('stores RBAC objects kubectl sends as protobuf as their JSON form', async () => {
    await succeeds(
      kubectl(hub, [
        'create',
        'clusterrole',
        'reader',
        '--verb=get,list',
        '--resource=devices.outpost.dev,configmaps',
        '--resource-name=gw-1',
      ]),
      'create clusterrole',
    );
    await succeeds(
      kubectl(hub, ['create', 'clusterrole', 'urls', '--verb=get', '--non-resource-url=/healthz']),
      'urls',
    );
    await succeeds(
      kubectl(hub, [
        'create',
        'clusterrolebinding',
        'readers',
        '--clusterrole=reader',
        '--user=bob',
        '--group=ops',
        '--serviceaccount=team-a:robot',
      ]),
      'create clusterrolebinding',
    );
    const role = (
      await admin.request('GET', '/apis/rbac.authorization.k8s.io/v1/clusterroles/reader')
    ).json();
    assert.deepEqual(role.rules, [
      { verbs: ['get', 'list'], apiGroups: [''], resources: ['configmaps'], resourceNames: ['gw-1'] },
      { verbs: ['get', 'list'], apiGroups: ['outpost.dev'], resources: ['devices'], resourceNames: ['gw-1'] },
    ]);
    const urls = (await admin.request('GET', '/apis/rbac.authorization.k8s.io/v1/clusterroles/urls')).json();
    assert.deepEqual(urls.rules, [{ verbs: ['get'], nonResourceURLs: ['/healthz'] }]);
    const binding = (
      await admin.request('GET', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/readers')
    ).json();
    assert.deepEqual(binding.roleRef, {
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'ClusterRole',
      name: 'reader',
    });
    assert.deepEqual(binding.subjects, [
      { kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: 'bob' },
      { kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: 'ops' },
      { kind: 'ServiceAccount', name: 'robot', namespace: 'team-a' },
    ]);
    // roleRef cannot change, as in Kubernetes.
    const changed = await admin.request(
      'PUT',
      '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/readers',
      {
        body: { ...binding, roleRef: { ...binding.roleRef, name: 'urls' } },
      },
    );
    assert.equal(changed.status, 422);
    assert.equal(changed.json().details.causes[0].field, 'roleRef');
  });

  it('refuses a Role with non-resource URLs and an access review naming nothing, with 422', async () => {
    const role = await admin.request('POST', '/apis/rbac.authorization.k8s.io/v1/namespaces/team-a/roles', {
      body: { metadata: { name: 'bad' }, rules: [{ verbs: ['get'], nonResourceURLs: ['/healthz'] }] },
    });
    assert.equal(role.status, 422);
    assert.equal(role.json().details.causes[0].field, 'rules[0].nonResourceURLs');
    const review = await aliceApi.request('POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
      body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: {} },
    });
    assert.equal(review.status, 422);
    // Authorised first (alice may not list them: 403), then only POST is served (405).
    assert.equal(
      (await aliceApi.request('GET', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews')).status,
      403,
    );
    assert.equal(
      (await admin.request('GET', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews')).status,
      405,
    );
  });
});
