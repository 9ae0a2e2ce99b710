/**
 * RBAC's privilege-escalation prevention and ClusterRole aggregation, end to
 * end with kubectl against a hub process. A workload-team user may manage
 * Roles and RoleBindings in its namespace, but only grant what it holds: a
 * Role granting device writes, and bindings of `cluster-admin` or
 * `outpost:infra-admin`, are refused with the apiserver's 403, unless it holds
 * `escalate` or `bind` (by name) for them. A ClusterRole labelled to aggregate
 * to `outpost:workload-team` extends that role within a moment, for everyone
 * bound to it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  type ApiClient,
  apiClient,
  bindWorkloadTeam,
  createUser,
  forbidden,
  type HubProcess,
  kubectl,
  kubectlAs,
  pollStatus,
  removeDir,
  startHubProcess,
  succeeds,
  type User,
} from '../support/index.ts';

const RBAC = '/apis/rbac.authorization.k8s.io/v1';
const ALICE_GROUPS = '["team-a-devs" "outpost:workload-teams" "system:authenticated"]';
const AGGREGATE_LABEL = 'rbac.outpost.dev/aggregate-to-workload-team';

describe('RBAC privilege-escalation prevention and aggregation', () => {
  let hub: HubProcess;
  let admin: ApiClient;
  let alice: User;
  let bob: User;
  let aliceApi: ApiClient;
  let bobApi: ApiClient;

  const as = (who: User, args: string[], input?: string) => kubectlAs(hub, who, args, input);
  const clusterRole = async (name: string) =>
    (await admin.request('GET', `${RBAC}/clusterroles/${encodeURIComponent(name)}`)).json();

  before(async () => {
    hub = await startHubProcess();
    admin = apiClient(hub.kubeconfig);
    alice = await createUser(hub, 'alice', ['team-a-devs', 'outpost:workload-teams']);
    bob = await createUser(hub, 'bob', []);
    aliceApi = apiClient(alice.kubeconfig);
    bobApi = apiClient(bob.kubeconfig);
    await succeeds(kubectl(hub, ['create', 'namespace', 'team-a']), 'create team-a');
    await bindWorkloadTeam(hub, 'team-a', 'team-a-devs');
    // The binding is in effect once alice may list workloads there.
    assert.ok(await pollStatus(aliceApi, '/apis/outpost.dev/v1alpha1/namespaces/team-a/workloads', 200));
  });
  after(async () => {
    await admin?.close();
    await aliceApi?.close();
    await bobApi?.close();
    await hub?.stop();
    if (hub) await removeDir(hub.dataDir);
  });

  it('refuses a Role granting device writes with the apiserver 403, and creates nothing', async () => {
    const stderr = await forbidden(
      as(alice, [
        'create',
        'role',
        'dev-writer',
        '-n',
        'team-a',
        '--verb=get,update',
        '--resource=devices.outpost.dev',
      ]),
      'a role granting device writes',
    );
    assert.match(
      stderr,
      new RegExp(
        literal(
          `roles.rbac.authorization.k8s.io "dev-writer" is forbidden: user "alice" (groups=${ALICE_GROUPS}) is attempting to grant RBAC permissions not currently held:`,
        ),
      ),
    );
    assert.match(stderr, /\{APIGroups:\["outpost\.dev"\], Resources:\["devices"\], Verbs:\["update"\]\}/);
    assert.doesNotMatch(stderr, /Verbs:\["get"\]/, 'device reads are held (outpost:device-viewer)');
    assert.equal((await admin.request('GET', `${RBAC}/namespaces/team-a/roles/dev-writer`)).status, 404);

    // The same answer over the API, as a Status.
    const answer = await aliceApi.request('POST', `${RBAC}/namespaces/team-a/roles`, {
      body: {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: { name: 'everything' },
        rules: [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }],
      },
    });
    assert.equal(answer.status, 403);
    const status = answer.json();
    assert.equal(status.reason, 'Forbidden');
    assert.deepEqual(status.details, {
      name: 'everything',
      group: 'rbac.authorization.k8s.io',
      kind: 'roles',
    });
    assert.equal(
      status.message,
      `roles.rbac.authorization.k8s.io "everything" is forbidden: user "alice" (groups=${ALICE_GROUPS}) is attempting to grant RBAC permissions not currently held:\n{APIGroups:["*"], Resources:["*"], Verbs:["*"]}`,
    );
  });

  it('refuses binding cluster-admin or outpost:infra-admin, in a namespace or cluster-wide', async () => {
    for (const role of ['cluster-admin', 'outpost:infra-admin']) {
      const stderr = await forbidden(
        as(alice, ['create', 'rolebinding', 'me', '-n', 'team-a', `--clusterrole=${role}`, '--user=alice']),
        `bind ${role}`,
      );
      assert.match(
        stderr,
        new RegExp(
          literal(
            `rolebindings.rbac.authorization.k8s.io "me" is forbidden: user "alice" (groups=${ALICE_GROUPS}) is attempting to grant RBAC permissions not currently held:`,
          ),
        ),
      );
    }
    await forbidden(
      as(alice, ['create', 'clusterrolebinding', 'me', '--clusterrole=cluster-admin', '--user=alice']),
      'a clusterrolebinding',
    );
    assert.equal((await admin.request('GET', `${RBAC}/namespaces/team-a/rolebindings/me`)).status, 404);
  });

  it('lets the user create a Role within its permissions, bind it, and refuses widening it', async () => {
    await succeeds(
      as(alice, ['create', 'role', 'cm-reader', '-n', 'team-a', '--verb=get,list', '--resource=configmaps']),
      'a role within her permissions',
    );
    await succeeds(
      as(alice, ['create', 'rolebinding', 'bob-cm', '-n', 'team-a', '--role=cm-reader', '--user=bob']),
      'bind it to bob',
    );
    assert.ok(await pollStatus(bobApi, '/api/v1/namespaces/team-a/configmaps', 200), 'bob reads configmaps');
    assert.equal((await bobApi.request('GET', '/api/v1/namespaces/team-a/secrets')).status, 403);
    // A role she holds herself may be handed on too.
    await succeeds(
      as(alice, [
        'create',
        'rolebinding',
        'bob-team',
        '-n',
        'team-a',
        '--clusterrole=outpost:workload-team',
        '--user=bob',
      ]),
      'bind outpost:workload-team, which she holds in team-a',
    );
    // Updates are checked as creates are.
    const widened = await forbidden(
      as(alice, [
        'patch',
        'role',
        'cm-reader',
        '-n',
        'team-a',
        '--type=json',
        '-p',
        '[{"op":"add","path":"/rules/-","value":{"apiGroups":["outpost.dev"],"resources":["devices"],"verbs":["delete"]}}]',
      ]),
      'widen the role to device deletes',
    );
    assert.match(widened, /Resources:\["devices"\], Verbs:\["delete"\]/);
    await succeeds(as(alice, ['label', 'role', 'cm-reader', '-n', 'team-a', 'tier=x']), 'relabel her role');
  });

  it('lets a user with bind on one named role bind that role and no other', async () => {
    await succeeds(
      kubectl(hub, [
        'create',
        'clusterrole',
        'lease-editor',
        '--verb=*',
        '--resource=leases.coordination.k8s.io',
      ]),
      'a role alice does not hold',
    );
    const binding = [
      'create',
      'rolebinding',
      'bob-leases',
      '-n',
      'team-a',
      '--clusterrole=lease-editor',
      '--user=bob',
    ];
    await forbidden(as(alice, binding), 'bind lease-editor without bind');
    await succeeds(
      kubectl(hub, [
        'create',
        'role',
        'binder',
        '-n',
        'team-a',
        '--verb=bind',
        '--resource=clusterroles.rbac.authorization.k8s.io',
        '--resource-name=lease-editor',
      ]),
      'a role granting bind on lease-editor',
    );
    await succeeds(
      kubectl(hub, [
        'create',
        'rolebinding',
        'alice-binder',
        '-n',
        'team-a',
        '--role=binder',
        '--user=alice',
      ]),
      'bind it',
    );
    const deadline = Date.now() + 5000;
    let result = await as(alice, binding);
    while (result.code !== 0 && Date.now() < deadline) result = await as(alice, binding);
    assert.equal(result.code, 0, `bind lease-editor with bind on it: ${result.stderr}`);
    assert.ok(
      await pollStatus(bobApi, '/apis/coordination.k8s.io/v1/namespaces/team-a/leases', 200),
      'bob edits leases',
    );
    await forbidden(
      as(alice, [
        'create',
        'rolebinding',
        'me-admin',
        '-n',
        'team-a',
        '--clusterrole=cluster-admin',
        '--user=alice',
      ]),
      'bind on lease-editor is not bind on cluster-admin',
    );
  });

  it('lets a user with escalate on roles write a role granting more than it holds', async () => {
    await succeeds(
      kubectl(hub, [
        'create',
        'role',
        'escalator',
        '-n',
        'team-a',
        '--verb=escalate',
        '--resource=roles.rbac.authorization.k8s.io',
      ]),
      'a role granting escalate',
    );
    await succeeds(
      kubectl(hub, [
        'create',
        'rolebinding',
        'alice-escalator',
        '-n',
        'team-a',
        '--role=escalator',
        '--user=alice',
      ]),
      'bind it',
    );
    const create = [
      'create',
      'role',
      'dev-writer',
      '-n',
      'team-a',
      '--verb=update',
      '--resource=devices.outpost.dev',
    ];
    const deadline = Date.now() + 5000;
    let result = await as(alice, create);
    while (result.code !== 0 && Date.now() < deadline) result = await as(alice, create);
    assert.equal(result.code, 0, `create with escalate: ${result.stderr}`);
  });

  it('fills the built-in workload-team role from the ClusterRoles labelled to aggregate to it', async () => {
    const team = await clusterRole('outpost:workload-team');
    assert.deepEqual(team.aggregationRule, {
      clusterRoleSelectors: [{ matchLabels: { [AGGREGATE_LABEL]: 'true' } }],
    });
    const base = await clusterRole('outpost:aggregate-to-workload-team');
    assert.equal(base.metadata.labels[AGGREGATE_LABEL], 'true');
    assert.deepEqual(team.rules, base.rules);
    assert.ok(
      team.rules.every(
        (rule: { verbs: string[]; apiGroups?: string[] }) =>
          !(rule.apiGroups ?? []).includes('rbac.authorization.k8s.io') || !rule.verbs.includes('*'),
      ),
      'RBAC writes for teams never include bind or escalate',
    );
  });

  it('adds a new labelled ClusterRole to the aggregating role within a moment, for users bound to it', async () => {
    const leasePath = '/apis/coordination.k8s.io/v1/namespaces/team-a/leases';
    assert.equal((await aliceApi.request('GET', leasePath)).status, 403);
    const started = Date.now();
    await succeeds(
      kubectl(
        hub,
        ['apply', '-f', '-'],
        JSON.stringify({
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'ClusterRole',
          metadata: { name: 'outpost:aggregate-leases', labels: { [AGGREGATE_LABEL]: 'true' } },
          rules: [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'list'] }],
        }),
      ),
      'a labelled ClusterRole',
    );
    const hasLeases = (rules: Array<{ resources?: string[] }> = []) =>
      rules.some((rule) => rule.resources?.includes('leases'));
    while (!hasLeases((await clusterRole('outpost:workload-team')).rules)) {
      assert.ok(Date.now() - started < 3000, 'the aggregated rules appear within three seconds');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.ok(await pollStatus(aliceApi, leasePath, 200), 'alice, bound to the workload team, lists leases');
    const canI = await as(alice, ['auth', 'can-i', 'list', 'leases', '-n', 'team-a']);
    assert.equal(canI.stdout.trim(), 'yes');

    // Unlabelled, its rules leave the aggregating role, and the users bound to it.
    await succeeds(
      kubectl(hub, ['label', 'clusterrole', 'outpost:aggregate-leases', `${AGGREGATE_LABEL}-`]),
      'unlabel',
    );
    assert.ok(await pollStatus(aliceApi, leasePath, 403), 'the permission goes with the label');
    assert.equal(hasLeases((await clusterRole('outpost:workload-team')).rules), false);
  });

  it('reports a binding to a missing role as an evaluation error of the rules review', async () => {
    await succeeds(
      kubectl(hub, ['create', 'rolebinding', 'ghost', '-n', 'team-a', '--role=ghost', '--user=alice']),
      'bind a missing role',
    );
    const review = async () =>
      (
        await aliceApi.request('POST', '/apis/authorization.k8s.io/v1/selfsubjectrulesreviews', {
          body: {
            apiVersion: 'authorization.k8s.io/v1',
            kind: 'SelfSubjectRulesReview',
            spec: { namespace: 'team-a' },
          },
        })
      ).json().status;
    const deadline = Date.now() + 3000;
    let status = await review();
    while (status.evaluationError === undefined && Date.now() < deadline) status = await review();
    assert.equal(status.evaluationError, 'roles.rbac.authorization.k8s.io "ghost" not found');
    assert.equal(status.incomplete, false, 'every rule that allows a request is listed');
    // A user without bind on it may not bind a role that does not exist: 404, as the apiserver answers.
    const missing = await as(alice, [
      'create',
      'rolebinding',
      'ghost2',
      '-n',
      'team-a',
      '--role=ghost2',
      '--user=bob',
    ]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /roles\.rbac\.authorization\.k8s\.io "ghost2" not found/);
  });
});

function literal(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
