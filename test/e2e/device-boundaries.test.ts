/**
 * Device bounds end to end: an `outpost hub` process, two workload-team users
 * and an infrastructure admin made with `outpost user create`, RBAC bindings,
 * three devices of two sites, and the real kubectl. The infra admin bounds
 * team-a to its Berlin device and team-b to its own; each attack of team-a's
 * member fails: a Placement (or an OpcUaConnector) selecting another site's
 * device places nothing there and its status says how many devices were
 * excluded; writing a DeviceBoundary, or the Namespace, or granting itself
 * either, is refused. Restarted with `--require-device-bounds`, a namespace
 * no boundary names places on nothing.
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
  removeDir,
  startHubProcess,
  succeeds,
  type User,
  waitFor,
  workload,
  yamlOf,
} from '../support/index.ts';

const boundary = (name: string, namespaces: string[], selector: Record<string, unknown>) =>
  yamlOf({
    apiVersion: 'outpost.dev/v1alpha1',
    kind: 'DeviceBoundary',
    metadata: { name },
    spec: { namespaces, deviceSelector: selector },
  });

const placement = (ns: string, name: string, deviceSelector: Record<string, unknown>) =>
  yamlOf({
    apiVersion: 'outpost.dev/v1alpha1',
    kind: 'Placement',
    metadata: { name, namespace: ns },
    spec: { workloadSelector: {}, deviceSelector },
  });

interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
}

describe('device boundaries (which devices a namespace may place on)', () => {
  let hub: HubProcess;
  let admin: ApiClient;
  let alice: User;
  let bob: User;
  let ivy: User;

  const as = (who: User, args: string[], input?: string) => kubectlAs(hub, who, args, input);

  /** The namespaces whose objects a device's Mailbox holds. */
  const placedOn = async (name: string): Promise<string[]> => {
    const mailbox = await admin.request('GET', `/apis/outpost.dev/v1alpha1/mailboxes/${name}`);
    if (mailbox.status !== 200) return [];
    const objects = (mailbox.json().spec?.objects ?? []) as Array<{ source: { namespace: string } }>;
    return [...new Set(objects.map((o) => o.source.namespace))].sort();
  };
  /** A Placement's status once its DevicesExcluded condition is there. */
  const statusOf = (ns: string, name: string) =>
    waitFor(`the status of ${ns}/${name}`, async () => {
      const answer = await admin.request(
        'GET',
        `/apis/outpost.dev/v1alpha1/namespaces/${ns}/placements/${name}`,
      );
      const status = answer.json().status as
        | { devices?: { matched: number }; conditions?: Condition[]; observedGeneration?: number }
        | undefined;
      const excluded = status?.conditions?.find((c) => c.type === 'DevicesExcluded');
      return excluded ? { matched: status?.devices?.matched, excluded } : undefined;
    });

  before(async () => {
    hub = await startHubProcess();
    admin = apiClient(hub.kubeconfig);
    alice = await createUser(hub, 'alice', ['team-a-devs', 'outpost:workload-teams']);
    bob = await createUser(hub, 'bob', ['team-b-devs', 'outpost:workload-teams']);
    ivy = await createUser(hub, 'ivy', ['infra']);
    for (const ns of ['team-a', 'team-b', 'team-c'])
      await succeeds(kubectl(hub, ['create', 'namespace', ns]), `namespace ${ns}`);
    await bindWorkloadTeam(hub, 'team-a', 'team-a-devs');
    await bindWorkloadTeam(hub, 'team-b', 'team-b-devs');
    await succeeds(
      kubectl(hub, [
        'create',
        'clusterrolebinding',
        'infra',
        '--clusterrole=outpost:infra-admin',
        '--group=infra',
      ]),
      'bind infra-admin',
    );
    for (const [name, labels] of [
      ['gw-berlin-a', { site: 'berlin', team: 'a' }],
      ['gw-berlin-b', { site: 'berlin', team: 'b' }],
      ['gw-munich-b', { site: 'munich', team: 'b' }],
    ] as const)
      await succeeds(kubectl(hub, ['apply', '-f', '-'], yamlOf(device(name, { ...labels }))), name);
    // The infrastructure admin bounds each team: team-a to Berlin devices of team a, team-b to its own.
    await succeeds(
      as(
        ivy,
        ['apply', '-f', '-'],
        boundary('team-a', ['team-a'], {
          matchLabels: { site: 'berlin' },
          matchExpressions: [{ key: 'team', operator: 'In', values: ['a'] }],
        }),
      ),
      'bound team-a',
    );
    await succeeds(
      as(ivy, ['apply', '-f', '-'], boundary('team-b', ['team-b'], { matchLabels: { team: 'b' } })),
      'bound team-b',
    );
    await succeeds(as(alice, ['apply', '-f', '-'], yamlOf(workload('team-a', 'web'))), 'team-a workload');
    await succeeds(as(bob, ['apply', '-f', '-'], yamlOf(workload('team-b', 'web'))), 'team-b workload');
    await succeeds(kubectl(hub, ['apply', '-f', '-'], yamlOf(workload('team-c', 'web'))), 'team-c workload');
  });
  after(async () => {
    await admin?.close();
    await hub?.stop();
    if (hub) await removeDir(hub.dataDir);
  });

  it("refuses to place team-a's workloads on another site's or team's devices, and says how many were excluded", async () => {
    await succeeds(
      as(alice, ['apply', '-f', '-'], placement('team-a', 'munich', { matchLabels: { site: 'munich' } })),
      'a Placement on Munich',
    );
    await succeeds(
      as(alice, ['apply', '-f', '-'], placement('team-a', 'everywhere', {})),
      'a Placement everywhere',
    );
    await succeeds(as(bob, ['apply', '-f', '-'], placement('team-b', 'everywhere', {})), 'team-b everywhere');
    await waitFor(
      'team-b on its devices',
      async () =>
        (await placedOn('gw-munich-b')).includes('team-b') &&
        (await placedOn('gw-berlin-b')).includes('team-b'),
    );
    const munich = await statusOf('team-a', 'munich');
    assert.equal(munich.matched, 0);
    assert.deepEqual([munich.excluded.status, munich.excluded.reason], ['True', 'OutsideDeviceBoundary']);
    assert.equal(
      munich.excluded.message,
      '1 device matched by spec.deviceSelector excluded, outside the DeviceBoundary of namespace team-a (team-a): gw-munich-b',
    );
    const everywhere = await statusOf('team-a', 'everywhere');
    assert.equal(everywhere.matched, 1);
    assert.match(everywhere.excluded.message, /^2 devices matched .*: gw-berlin-b, gw-munich-b$/);
    // The devices hold only what their bounds allow.
    await waitFor('team-a on its device', async () => (await placedOn('gw-berlin-a')).includes('team-a'));
    assert.deepEqual(await placedOn('gw-berlin-b'), ['team-b']);
    assert.deepEqual(await placedOn('gw-munich-b'), ['team-b']);
    // What the team sees with kubectl: its boundary, and the condition.
    const bounds = await succeeds(as(alice, ['get', 'deviceboundaries']), 'alice reads the boundaries');
    assert.match(bounds, /team-a\s+team-a\s+site=berlin,team in \(a\)/);
    const waited = await succeeds(
      as(alice, [
        'wait',
        '--for=condition=DevicesExcluded',
        'placement/munich',
        '-n',
        'team-a',
        '--timeout=30s',
      ]),
      'kubectl wait for DevicesExcluded',
    );
    assert.match(waited, /condition met/);
  });

  it('bounds what an OpcUaConnector renders too', async () => {
    const connector = yamlOf({
      apiVersion: 'outpost.dev/v1alpha1',
      kind: 'OpcUaConnector',
      metadata: { name: 'plc', namespace: 'team-a' },
      spec: {
        server: 'opc.tcp://127.0.0.1:4840/UA/Outpost',
        subscriptions: { temperature: 'ns=2;s=Temperature' },
        devices: { matchLabels: { site: 'munich' } },
      },
    });
    await succeeds(as(alice, ['apply', '-f', '-'], connector), 'a connector on Munich');
    const rendered = await statusOf('team-a', 'plc');
    assert.equal(rendered.matched, 0);
    assert.equal(rendered.excluded.reason, 'OutsideDeviceBoundary');
    assert.deepEqual(await placedOn('gw-munich-b'), ['team-b']);
  });

  it("keeps the bounds out of a workload team's reach: boundaries, the Namespace, and granting either", async () => {
    await forbidden(as(alice, ['apply', '-f', '-'], boundary('mine', ['team-a'], {})), 'create a boundary');
    await forbidden(
      as(alice, [
        'patch',
        'deviceboundary',
        'team-a',
        '--type=merge',
        '-p',
        '{"spec":{"deviceSelector":{}}}',
      ]),
      'widen its boundary',
    );
    await forbidden(as(alice, ['delete', 'deviceboundary', 'team-a']), 'delete its boundary');
    // The Namespace (labels, annotations) is not the team's to change either.
    await forbidden(
      as(alice, ['annotate', 'namespace', 'team-a', 'outpost.dev/device-selector=']),
      'annotate',
    );
    await forbidden(as(alice, ['label', 'namespace', 'team-a', 'x=y']), 'label its namespace');
    for (const verb of ['update', 'patch', 'delete'])
      assert.equal(
        (await as(alice, ['auth', 'can-i', verb, 'namespace/team-a', '-n', 'team-a'])).stdout.trim(),
        'no',
        `${verb} namespaces`,
      );
    assert.equal((await as(alice, ['auth', 'can-i', 'create', 'deviceboundaries'])).stdout.trim(), 'no');
    // Granting itself more in its namespace is refused by the escalation check ...
    await forbidden(
      as(alice, [
        'create',
        'rolebinding',
        'grab',
        '-n',
        'team-a',
        '--clusterrole=outpost:infra-admin',
        '--user=alice',
      ]),
      'bind infra-admin in its namespace',
    );
    await forbidden(
      as(alice, [
        'create',
        'role',
        'grab',
        '-n',
        'team-a',
        '--verb=*',
        '--resource=deviceboundaries,namespaces',
      ]),
      'a role over boundaries and namespaces',
    );
    // ... and nothing changed.
    const live = await admin.request('GET', '/apis/outpost.dev/v1alpha1/deviceboundaries/team-a');
    assert.deepEqual(live.json().spec.namespaces, ['team-a']);
    assert.equal(live.json().spec.deviceSelector.matchLabels.site, 'berlin');
    assert.deepEqual(await placedOn('gw-munich-b'), ['team-b']);
  });

  it('with --require-device-bounds, places nothing for a namespace no boundary names', async () => {
    await succeeds(
      kubectl(hub, ['apply', '-f', '-'], placement('team-c', 'everywhere', {})),
      'team-c everywhere',
    );
    // Unbounded, as before this feature: team-c reaches every device.
    await waitFor('team-c everywhere', async () => (await placedOn('gw-berlin-a')).includes('team-c'));
    assert.equal((await statusOf('team-c', 'everywhere')).excluded.reason, 'Unbounded');
    const dataDir = hub.dataDir;
    await admin.close();
    await hub.stop();
    hub = await startHubProcess({ dataDir, args: ['--require-device-bounds'] });
    admin = apiClient(hub.kubeconfig);
    await waitFor('team-c gone from every device', async () => {
      for (const name of ['gw-berlin-a', 'gw-berlin-b', 'gw-munich-b'])
        if ((await placedOn(name)).includes('team-c')) return false;
      return true;
    });
    const status = await waitFor('NoDeviceBoundary', async () => {
      const s = await statusOf('team-c', 'everywhere');
      return s.excluded.reason === 'NoDeviceBoundary' ? s : undefined;
    });
    assert.equal(status.matched, 0);
    assert.match(
      status.excluded.message,
      /^3 devices matched .*namespace team-c has no DeviceBoundary and the hub requires one/,
    );
    // Bounded teams keep their devices.
    assert.deepEqual(await placedOn('gw-berlin-a'), ['team-a']);
    assert.deepEqual(await placedOn('gw-munich-b'), ['team-b']);
  });
});
