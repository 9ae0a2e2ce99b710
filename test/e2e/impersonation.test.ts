/**
 * Impersonation end to end: an `outpost hub` process, two workload-team
 * users and an infrastructure admin made with `outpost user create`, an
 * enrolled device, and the real kubectl with `--as`, `--as-group`,
 * `--as-uid`. Each attack is tried and must fail: a team member acting as
 * the other team, the admin's `--as` write doing what the impersonated user
 * may not, a device impersonating (even once RBAC wrongly allows it),
 * anyone acting as a device, the MQTT endpoint taking `--as` as the admin.
 * `kubectl auth can-i --as` and `auth whoami --as` answer for the
 * impersonated user, and the hub's log says who impersonated whom.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import type { DeviceCredentials } from '../../src/agent/enrollment/index.ts';
import {
  bindWorkloadTeam,
  type CommandResult,
  createUser,
  device,
  enrollDevice,
  forbidden,
  type HubProcess,
  kubeconfigCredentials,
  kubectl,
  kubectlAs,
  mqttUrlOf,
  removeDir,
  startHubProcess,
  succeeds,
  type User,
  waitFor,
  workload,
  yamlOf,
} from '../support/index.ts';

describe('impersonation (kubectl --as)', () => {
  let hub: HubProcess;
  let alice: User;
  let bob: User;
  let ivy: User;
  let gateway: DeviceCredentials;
  const dirs: string[] = [];

  const as = (who: User, args: string[], input?: string) => kubectlAs(hub, who, args, input);
  const admin = (args: string[], input?: string) => kubectl(hub, args, input);
  const asDevice = (args: string[]) => kubectl({ kubeconfig: gateway.kubeconfigPath }, args);

  before(async () => {
    hub = await startHubProcess();
    alice = await createUser(hub, 'alice', ['team-a-devs', 'outpost:workload-teams']);
    bob = await createUser(hub, 'bob', ['team-b-devs', 'outpost:workload-teams']);
    ivy = await createUser(hub, 'ivy', ['infra']);
    for (const ns of ['team-a', 'team-b'])
      await succeeds(admin(['create', 'namespace', ns]), `create namespace ${ns}`);
    await bindWorkloadTeam(hub, 'team-a', 'team-a-devs');
    await bindWorkloadTeam(hub, 'team-b', 'team-b-devs');
    await succeeds(
      admin(['create', 'clusterrolebinding', 'infra', '--clusterrole=outpost:infra-admin', '--group=infra']),
      'bind infra-admin',
    );
    await succeeds(
      admin(['apply', '-f', '-'], yamlOf(workload('team-b', 'secret-sauce'))),
      'team-b workload',
    );
    await succeeds(admin(['apply', '-f', '-'], yamlOf(device('gw-0', { site: 'x' }))), 'create a device');
    gateway = await enrollDevice(hub, 'gw-1', dirs);
  });
  after(async () => {
    await hub?.stop();
    if (hub) await removeDir(hub.dataDir);
    for (const dir of dirs) await removeDir(dir);
  });

  it("refuses a team member acting as the other team, with the apiserver's message", async () => {
    // kubectl's discovery fails first (as on Kubernetes, it prints "Forbidden: unknown" then) ...
    await forbidden(as(alice, ['--as=bob', 'get', 'workloads', '-n', 'team-b']), 'alice --as=bob');
    // ... a request that needs no discovery shows the apiserver's message.
    const stderr = await forbidden(
      as(alice, ['--as=bob', 'get', '--raw', '/apis/outpost.dev/v1alpha1/namespaces/team-b/workloads']),
      'alice --as=bob, raw',
    );
    assert.match(
      stderr,
      /users "bob" is forbidden: User "alice" cannot impersonate resource "users" in API group "" at the cluster scope/,
    );
    await forbidden(
      as(alice, ['--as=bob', '--as-group=team-b-devs', 'delete', 'workload', 'secret-sauce', '-n', 'team-b']),
      'alice deleting as team-b',
    );
    // Acting as herself in another group is impersonation too, checked as "users" first.
    const group = await forbidden(
      as(alice, [
        '--as=alice',
        '--as-group=team-b-devs',
        'get',
        '--raw',
        '/api/v1/namespaces/team-b/secrets',
      ]),
      'alice in team-b-devs',
    );
    assert.match(group, /users "alice" is forbidden: User "alice" cannot impersonate resource "users"/);
    // Nor can a team grant itself impersonation: a Role is namespaced, impersonation is not.
    await forbidden(
      as(alice, ['create', 'role', 'imp', '-n', 'team-a', '--verb=impersonate', '--resource=users']),
      'a Role granting impersonate',
    );
    await forbidden(
      as(bob, ['--as=alice', '--as-group=team-a-devs', 'get', 'secrets', '-n', 'team-a']),
      'bob as alice',
    );
    await succeeds(admin(['get', 'workload', 'secret-sauce', '-n', 'team-b']), 'still there');
  });

  it("makes the admin's --as writes run as the impersonated user, refused where it may not write", async () => {
    const stderr = await forbidden(
      admin(['--as=alice', 'delete', 'device', 'gw-0']),
      'delete a device as alice',
    );
    assert.match(
      stderr,
      /devices\.outpost\.dev "gw-0" is forbidden: User "alice" cannot delete resource "devices" in API group "outpost\.dev" at the cluster scope/,
    );
    await succeeds(admin(['get', 'device', 'gw-0']), 'the device is still there');
    // Without her group, alice has none of her team's rights: only what RBAC grants the user.
    await forbidden(
      admin(['--as=alice', 'apply', '-f', '-'], yamlOf(workload('team-a', 'web'))),
      'a workload as alice without her group',
    );
    await succeeds(
      admin(['--as=alice', '--as-group=team-a-devs', 'apply', '-f', '-'], yamlOf(workload('team-a', 'web'))),
      'a workload as alice in team-a-devs',
    );
    await forbidden(
      admin(['--as=alice', '--as-group=team-a-devs', 'apply', '-f', '-'], yamlOf(workload('team-b', 'web'))),
      'a workload in team-b as alice',
    );
    // The hub's log says who impersonated whom, for the write that happened.
    const line = await waitFor('an audit line for the write', () =>
      auditLines(hub).find((l) => l.method === 'PATCH' || l.method === 'POST'),
    );
    assert.equal(line.user, 'outpost-admin');
    assert.deepEqual(line.impersonated.user, 'alice');
    assert.deepEqual(line.impersonated.groups, ['team-a-devs', 'system:authenticated']);
  });

  it('answers kubectl auth can-i --as and auth whoami --as for the impersonated user', async () => {
    const canI = async (args: string[]): Promise<string> => {
      const result: CommandResult = await admin(['auth', 'can-i', ...args]);
      return result.stdout.trim();
    };
    // As the admin itself everything is allowed; as alice, only what alice may do.
    assert.equal(await canI(['delete', 'devices']), 'yes');
    assert.equal(await canI(['delete', 'devices', '--as=alice']), 'no');
    assert.equal(await canI(['create', 'workloads', '-n', 'team-a', '--as=alice']), 'no');
    assert.equal(
      await canI(['create', 'workloads', '-n', 'team-a', '--as=alice', '--as-group=team-a-devs']),
      'yes',
    );
    assert.equal(
      await canI(['create', 'workloads', '-n', 'team-b', '--as=alice', '--as-group=team-a-devs']),
      'no',
    );
    const whoami = await succeeds(
      admin(['auth', 'whoami', '--as=alice', '--as-group=team-a-devs', '--as-uid=u-42']),
      'whoami --as',
    );
    assert.match(whoami, /Username\s+alice/);
    assert.match(whoami, /UID\s+u-42/);
    assert.match(whoami, /Groups\s+\[team-a-devs system:authenticated\]/);
    // alice asking about bob is refused, not answered about alice.
    await forbidden(
      as(alice, ['auth', 'can-i', 'get', 'workloads', '-n', 'team-b', '--as=bob']),
      'can-i as bob',
    );
  });

  it('lets an infrastructure admin impersonate, as cluster-admin can', async () => {
    const out = await succeeds(
      as(ivy, ['--as=bob', '--as-group=team-b-devs', 'get', 'workloads', '-n', 'team-b']),
      'ivy as bob',
    );
    assert.match(out, /secret-sauce/);
    await forbidden(
      as(ivy, ['--as=bob', '--as-group=team-b-devs', 'get', 'workloads', '-n', 'team-a']),
      'as bob in team-a',
    );
    const line = await waitFor("ivy's audit line", () => auditLines(hub).find((l) => l.user === 'ivy'));
    assert.equal(line.impersonated.user, 'bob');
  });

  it('never lets a device impersonate, even when RBAC wrongly allows devices to', async () => {
    const attempt = () =>
      asDevice(['--as=outpost-admin', '--as-group=system:masters', 'get', 'secrets', '-A']);
    const refused = await forbidden(attempt(), 'device impersonating the admin');
    assert.match(refused, /cannot impersonate resource "users"/);
    // A misconfiguration: devices granted impersonate on everything.
    await succeeds(
      admin(['create', 'clusterrole', 'impersonate-all', '--verb=impersonate', '--resource=users,groups']),
      'a role granting impersonate',
    );
    await succeeds(
      admin([
        'create',
        'clusterrolebinding',
        'devices-impersonate',
        '--clusterrole=impersonate-all',
        '--group=outpost:devices',
      ]),
      'bound to devices',
    );
    const still = await forbidden(attempt(), 'device impersonating despite RBAC');
    assert.match(still, /device "gw-1" may not impersonate/);
    await forbidden(asDevice(['--as=alice', 'get', 'workloads', '-n', 'team-a']), 'device as alice');
    await succeeds(admin(['delete', 'clusterrolebinding', 'devices-impersonate']), 'clean up');
    // Its own Mailbox, without impersonation, stays readable.
    await succeeds(asDevice(['get', 'mailbox', 'gw-1']), 'its own mailbox');
  });

  it('never lets anyone act as a device: device rights come only from its certificate', async () => {
    const attempts = [
      ['--as=outpost:device:gw-1', '--as-group=outpost:devices', 'get', 'mailbox', 'gw-1'],
      [
        '--as=outpost:device:gw-1',
        'patch',
        'mailbox',
        'gw-1',
        '--subresource=status',
        '--type=merge',
        '-p',
        '{"status":{}}',
      ],
      ['--as=alice', '--as-group=outpost:devices', 'get', 'mailbox', 'gw-1'],
    ];
    for (const args of attempts) {
      const stderr = await forbidden(admin(args), `admin ${args.join(' ')}`);
      assert.match(stderr, /device and hub identities come only from their certificates/);
      await forbidden(as(ivy, args), `ivy ${args.join(' ')}`);
    }
  });

  it('does not take --as on the MQTT endpoint as the admin', async () => {
    const { ca, cert, key } = await kubeconfigCredentials(hub.kubeconfig);
    const status = (headers: Record<string, string>) =>
      new Promise<number>((resolve, reject) => {
        const ws = new WebSocket(mqttUrlOf(hub), 'mqtt', { ca, cert, key, headers });
        ws.once('open', () => {
          ws.close();
          resolve(101);
        });
        ws.once('unexpected-response', (_request, response) => {
          resolve(response.statusCode ?? 0);
          ws.terminate();
        });
        ws.once('error', reject);
      });
    // The admin may connect (debugging) ...
    assert.equal(await status({}), 101);
    // ... but asking to be a device, or anyone, is not authenticated at all.
    assert.equal(
      await status({ 'Impersonate-User': 'outpost:device:gw-1', 'Impersonate-Group': 'outpost:devices' }),
      401,
    );
    assert.equal(await status({ 'Impersonate-User': 'alice' }), 401);
  });
});

/** An audit line of the hub's log (JSON). */
interface AuditLine {
  readonly user: string;
  readonly method: string;
  readonly path: string;
  readonly impersonated: { readonly user: string; readonly groups: readonly string[] };
}

/** The hub's audit lines of impersonated requests so far. */
function auditLines(hub: HubProcess): AuditLine[] {
  return hub
    .stderr()
    .split('\n')
    .filter((line) => line.includes('"msg":"impersonating"'))
    .map((line) => JSON.parse(line) as AuditLine);
}
