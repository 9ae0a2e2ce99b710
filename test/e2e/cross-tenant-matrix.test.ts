/**
 * The cross-tenant and cross-device matrix, end to end: an `outpost hub`
 * process, two workload teams (users made with `outpost user create`, the
 * workload-team role bound in their namespaces), three enrolled devices and
 * an anonymous caller try every verb on every kind and subresource the hub
 * serves (read from discovery, plus the subresources it serves without
 * listing them), in every namespace and on every device's objects, then the
 * MQTT topics of other devices with device certificates. What each may do
 * comes from the policy table (`cross-tenant-policy.ts`); the counts are
 * printed and no request the table refuses may succeed (nor the reverse).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { MqttClient } from 'mqtt';
import YAML from 'yaml';
import type { DeviceCredentials } from '../../src/agent/enrollment/index.ts';
import {
  type ApiClient,
  apiClient,
  bindWorkloadTeam,
  closed,
  collect,
  connectDevice,
  connectMqtt,
  createUser,
  enrollDevice,
  type HubProcess,
  kubeconfigCredentials,
  kubectl,
  mqttUrlOf,
  removeDir,
  startHubProcess,
  subscribeCodes,
  succeeds,
  upgradeStatus,
  waitFor,
  workload,
  yamlOf,
} from '../support/index.ts';
import {
  type Case,
  casesFor,
  DEVICES,
  discover,
  FIXTURE,
  isAuthorizerRefusal,
  pool,
  UNLISTED,
} from './cross-tenant-cases.ts';
import { expectedAllowed, type Subject } from './cross-tenant-policy.ts';

describe('cross-tenant and cross-device matrix', () => {
  let hub: HubProcess;
  let admin: ApiClient;
  const clients = new Map<string, ApiClient>();
  const subjects: Subject[] = [];
  const devices = new Map<string, DeviceCredentials>();
  const dirs: string[] = [];
  const totals = {
    requests: 0,
    allowed: 0,
    refused: 0,
    unexpectedSuccesses: [] as string[],
    unexpectedRefusals: [] as string[],
  };

  before(async () => {
    hub = await startHubProcess();
    admin = apiClient(hub.kubeconfig);
    for (const ns of ['team-a', 'team-b'])
      await succeeds(kubectl(hub, ['create', 'namespace', ns]), `namespace ${ns}`);
    for (const [user, ns] of [
      ['alice', 'team-a'],
      ['bob', 'team-b'],
    ] as const) {
      const created = await createUser(hub, user, [`${ns}-devs`, 'outpost:workload-teams']);
      await bindWorkloadTeam(hub, ns, `${ns}-devs`);
      clients.set(user, apiClient(created.kubeconfig));
      subjects.push({ kind: 'team', name: user, namespace: ns });
    }
    for (const name of DEVICES) {
      const credentials = await enrollDevice(hub, name, dirs);
      devices.set(name, credentials);
      clients.set(name, apiClient(credentials.kubeconfigPath));
      subjects.push({ kind: 'device', name });
    }
    clients.set('anonymous', apiClient(await anonymousKubeconfig(hub)));
    subjects.push({ kind: 'anonymous', name: 'anonymous' });
    // Something to steal in every team namespace, and a connector placed on dev-1.
    for (const ns of ['team-a', 'team-b']) await createFixtures(hub, ns);
    await succeeds(kubectl(hub, ['label', 'device', 'dev-1', 'plc=line-1']), 'label dev-1');
    await succeeds(kubectl(hub, ['apply', '-f', '-'], yamlOf(connector())), 'a connector on dev-1');
  });
  after(async () => {
    for (const client of clients.values()) await client.close();
    await admin?.close();
    await hub?.stop();
    if (hub) await removeDir(hub.dataDir);
    for (const dir of dirs) await removeDir(dir);
  });

  it('refuses every request the policy table does not grant, over HTTP, for every served kind and verb', async () => {
    const served = [...(await discover(admin)), ...UNLISTED];
    assert.ok(served.length > 20, `discovery lists ${served.length} resources`);
    const before = await secrets(admin);
    // Every subject's requests, interleaved: the agents' long-polls (held 25 s) overlap the rest.
    const all = subjects.flatMap((subject) => casesFor(served, subject).map((c) => ({ subject, c })));
    await pool(all, 12, async ({ subject, c }) => {
      const client = clients.get(subject.name)!;
      const answer = await client.request(c.method, c.path, { body: c.body, contentType: c.contentType });
      const refused = answer.status === 401 || (answer.status === 403 && isAuthorizerRefusal(answer.text));
      record(subject, c, !refused, `${answer.status} ${answer.text.slice(0, 160)}`);
    });
    report();
    // Allowed writes touched only what they named (each team its own fixtures): the unnamed Secrets are intact.
    const after = await secrets(admin);
    for (const ns of ['team-a', 'team-b']) assert.deepEqual(after[`${ns}/keep`], before[`${ns}/keep`]);
    assert.deepEqual(totals.unexpectedSuccesses, [], 'requests the policy refuses succeeded');
    assert.deepEqual(totals.unexpectedRefusals, [], 'requests the policy grants were refused');
  });

  it('keeps each device to its own MQTT topics, and people and anonymous callers off the broker', async () => {
    await waitFor('the connector placed on dev-1', async () => {
      const mailbox = (await admin.request('GET', '/apis/outpost.dev/v1alpha1/mailboxes/dev-1')).json();
      return (mailbox.spec?.objects ?? []).length > 0;
    });
    const { ca, cert, key } = await kubeconfigCredentials(hub.kubeconfig);
    const watcher = await connectMqtt(mqttUrlOf(hub), { ca, cert, key, clientId: 'matrix-admin' });
    const seen = await collect(watcher, 'devices/#');
    const marker = `intruder-${randomUUID()}`;
    for (const [name, credentials] of devices) {
      const subject: Subject = { kind: 'device', name };
      for (const other of DEVICES.filter((d) => d !== name)) {
        for (const topic of [
          `devices/${other}/telemetry/team-a/plc/temperature`,
          `devices/${other}/status/team-a/plc`,
          `devices/${other}/acks/team-a/plc`,
          `devices/${other}/commands/team-a/plc/setpoint`,
        ]) {
          const outcome = await publishOutcome(await connectDevice(hub, credentials), topic, marker);
          recordMqtt(subject, `publish ${topic}`, false, outcome === 'acked', outcome);
        }
      }
      const client = await connectDevice(hub, credentials);
      const foreign = [
        ...DEVICES.filter((d) => d !== name).flatMap((d) => [
          `devices/${d}/commands/#`,
          `devices/${d}/telemetry/#`,
        ]),
        'devices/+/commands/#',
        'devices/#',
        '#',
        '$SYS/#',
      ];
      const codes = await subscribeCodes(client, foreign);
      foreign.forEach((filter, i) => {
        recordMqtt(subject, `subscribe ${filter}`, false, codes[i] !== 128, `SUBACK ${codes[i]}`);
      });
      const own = await subscribeCodes(client, [`devices/${name}/commands/#`]);
      recordMqtt(subject, `subscribe devices/${name}/commands/#`, true, own[0] !== 128, `SUBACK ${own[0]}`);
      client.end(true);
    }
    // Its own telemetry, for a connector placed on it, goes through.
    const owner = await connectDevice(hub, devices.get('dev-1')!);
    const ownOutcome = await publishOutcome(owner, 'devices/dev-1/telemetry/team-a/plc/temperature', 'own');
    recordMqtt(
      { kind: 'device', name: 'dev-1' },
      'publish own telemetry',
      true,
      ownOutcome === 'acked',
      ownOutcome,
    );
    owner.end(true);
    // People and anonymous callers never reach the broker.
    for (const [who, tls] of [
      ['alice', await kubeconfigCredentials(join(hub.dataDir, 'alice.kubeconfig'))],
      ['bob', await kubeconfigCredentials(join(hub.dataDir, 'bob.kubeconfig'))],
      ['anonymous', { ca }],
    ] as const) {
      const status = await upgradeStatus(hub, tls);
      const subject = subjects.find((s) => s.name === who)!;
      recordMqtt(subject, 'upgrade /mqtt', false, status === 101, `HTTP ${status}`);
    }
    await waitFor('own telemetry seen by the admin', () =>
      seen.messages.some((m) => m.topic === 'devices/dev-1/telemetry/team-a/plc/temperature'),
    );
    watcher.end(true);
    const leaked = seen.messages.filter((m) => JSON.stringify(m.body).includes(marker));
    assert.deepEqual(leaked, [], 'refused publications reached a subscriber');
    report();
    assert.deepEqual(totals.unexpectedSuccesses, []);
    assert.deepEqual(totals.unexpectedRefusals, []);
  });

  function record(subject: Subject, c: Case, allowed: boolean, detail: string): void {
    const expected = expectedAllowed(subject, c);
    totals.requests++;
    if (expected) totals.allowed++;
    else totals.refused++;
    const what = `${subject.name}: ${c.verb} ${c.resource}${c.namespace ? ` in ${c.namespace}` : ''}${c.name ? ` ${c.name}` : ''} (${c.method} ${c.path})`;
    if (allowed && !expected) totals.unexpectedSuccesses.push(`${what}: ${detail}`);
    if (!allowed && expected) totals.unexpectedRefusals.push(`${what}: ${detail}`);
  }

  function recordMqtt(
    subject: Subject,
    what: string,
    expected: boolean,
    allowed: boolean,
    detail: string,
  ): void {
    totals.requests++;
    if (expected) totals.allowed++;
    else totals.refused++;
    if (allowed && !expected) totals.unexpectedSuccesses.push(`${subject.name}: MQTT ${what}: ${detail}`);
    if (!allowed && expected) totals.unexpectedRefusals.push(`${subject.name}: MQTT ${what}: ${detail}`);
  }

  function report(): void {
    console.log(
      `cross-tenant matrix: ${totals.requests} requests (${totals.allowed} allowed by the policy, ${totals.refused} refused); ` +
        `${totals.unexpectedSuccesses.length} unexpected successes, ${totals.unexpectedRefusals.length} unexpected refusals`,
    );
  }
});

/** Publishes (QoS 1) and tells what came first: the PUBACK, the connection closing, or nothing within 5 s. */
async function publishOutcome(
  client: MqttClient,
  topic: string,
  marker: string,
): Promise<'acked' | 'closed' | 'timeout'> {
  const outcome = await Promise.race([
    client.publishAsync(topic, JSON.stringify({ value: marker, seq: 1 }), { qos: 1 }).then(
      () => 'acked' as const,
      () => 'closed' as const,
    ),
    closed(client).then(() => 'closed' as const),
    new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 5000).unref()),
  ]);
  client.end(true);
  return outcome;
}

/** A kubeconfig with the hub's CA and no credentials: an anonymous caller. */
async function anonymousKubeconfig(hub: HubProcess): Promise<string> {
  const { ca } = await kubeconfigCredentials(hub.kubeconfig);
  const path = join(hub.dataDir, 'anonymous.kubeconfig');
  await writeFile(
    path,
    YAML.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: 'hub',
          cluster: { server: hub.url, 'certificate-authority-data': Buffer.from(ca).toString('base64') },
        },
      ],
      users: [{ name: 'anonymous', user: {} }],
      contexts: [{ name: 'hub', context: { cluster: 'hub', user: 'anonymous' } }],
      'current-context': 'hub',
    }),
  );
  return path;
}

/** Objects named `fixture` (labelled matrix=fixture) in a team's namespace: what the other team must not reach. */
async function createFixtures(hub: HubProcess, ns: string): Promise<void> {
  const meta = { name: FIXTURE, namespace: ns, labels: { matrix: 'fixture' } };
  const manifests = [
    { apiVersion: 'v1', kind: 'Secret', metadata: meta, stringData: { password: `${ns}-secret` } },
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'keep', namespace: ns },
      stringData: { key: `${ns}-key` },
    },
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: meta, data: { a: 'b' } },
    { ...workload(ns, FIXTURE), metadata: meta },
    {
      apiVersion: 'outpost.dev/v1alpha1',
      kind: 'Placement',
      metadata: meta,
      spec: { workloadSelector: { names: [FIXTURE] }, deviceSelector: { matchLabels: { none: 'none' } } },
    },
  ];
  for (const manifest of manifests)
    await succeeds(
      kubectl(hub, ['apply', '-f', '-'], yamlOf(manifest as never)),
      `${manifest.kind} in ${ns}`,
    );
}

/** An OpcUaConnector of team-a placed on dev-1 (labelled plc=line-1). */
function connector() {
  return {
    apiVersion: 'outpost.dev/v1alpha1',
    kind: 'OpcUaConnector',
    metadata: { name: 'plc', namespace: 'team-a' },
    spec: {
      server: 'opc.tcp://127.0.0.1:4840/UA/Outpost',
      subscriptions: { temperature: 'ns=2;s=Temperature' },
      devices: { matchLabels: { plc: 'line-1' } },
    },
  };
}

/** The team namespaces' Secrets as stored, by `namespace/name`. */
async function secrets(admin: ApiClient): Promise<Record<string, unknown>> {
  const result: Record<string, unknown> = {};
  for (const ns of ['team-a', 'team-b']) {
    for (const item of (await admin.request('GET', `/api/v1/namespaces/${ns}/secrets`)).json()
      .items as Array<{
      metadata: { name: string; resourceVersion: string };
      data?: unknown;
    }>)
      result[`${ns}/${item.metadata.name}`] = { rv: item.metadata.resourceVersion, data: item.data };
  }
  return result;
}
