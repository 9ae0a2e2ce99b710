/**
 * OpcUaConnector end to end: an `outpost hub` process driven by kubectl as an
 * admin. Applying the example renders a Workload (StatefulSet and config
 * Secret) and a Placement owned by the connector, which reach the Mailbox of a
 * matching device; `kubectl get opcua` shows its columns; a subscription
 * change updates the Workload in place; a bad spec is a 422 naming the field
 * and creates nothing; deleting the connector removes everything it rendered.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import YAML from 'yaml';
import {
  device,
  type KubectlHub,
  type Manifest,
  parseTable,
  ROOT,
  startKubectlHub,
  yamlOf,
} from '../support/index.ts';

const EXAMPLE = join(ROOT, 'examples', 'opcua-connector.yaml');
const NS = 'default';

type Resource = { kind: string; metadata: { name: string }; data?: Record<string, string> };

describe('OpcUaConnector end to end with kubectl', () => {
  let k: KubectlHub;

  before(async () => {
    k = await startKubectlHub();
    await k.ok(
      ['apply', '-f', '-'],
      yamlOf(device('gw-1', { role: 'opcua-gateway' }), device('gw-2', { role: 'camera' })),
    );
  });

  after(async () => {
    await k?.stop();
  });

  /** The object as JSON, or undefined when kubectl cannot get it. */
  const get = async (...args: string[]) => {
    const result = await k.run(['get', ...args, '-o', 'json']);
    return result.code === 0 ? JSON.parse(result.stdout) : undefined;
  };

  /** Polls until `check` holds (returns its value) or 30 s pass. */
  async function until<T>(what: string, check: () => Promise<T | undefined | false>): Promise<T> {
    const deadline = Date.now() + 30_000;
    let last: unknown;
    for (;;) {
      try {
        const value = await check();
        if (value) return value;
      } catch (error) {
        last = error;
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`, { cause: last });
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  const configOf = (workload: { spec: { resources: Resource[] } }) => {
    const secret = workload.spec.resources.find((r) => r.kind === 'Secret');
    return YAML.parse(Buffer.from(secret?.data?.['config.yaml'] ?? '', 'base64').toString('utf8'));
  };

  it('renders the example into a Workload holding the StatefulSet and config Secret, and a Placement, owned by the connector', async () => {
    await k.ok(['apply', '-f', EXAMPLE]);
    const connector = await get('opcua', 'line-1', '-n', NS);
    const workload = await until('the Workload', () => get('workload', 'line-1', '-n', NS));
    const placement = await until('the Placement', () => get('placement', 'line-1', '-n', NS));
    for (const object of [workload, placement]) {
      assert.deepEqual(object.metadata.ownerReferences, [
        {
          apiVersion: 'outpost.dev/v1alpha1',
          kind: 'OpcUaConnector',
          name: 'line-1',
          uid: connector.metadata.uid,
          controller: true,
          blockOwnerDeletion: true,
        },
      ]);
    }
    assert.deepEqual(
      workload.spec.resources.map((r: Resource) => `${r.kind}/${r.metadata.name}`),
      ['Secret/line-1-config', 'StatefulSet/line-1'],
    );
    const config = configOf(workload);
    assert.deepEqual(config.connector, { namespace: NS, name: 'line-1' });
    assert.equal(config.server, 'opc.tcp://127.0.0.1:4840/UA/Outpost');
    assert.deepEqual(config.credentials, { username: 'operator', password: 'change-me' }, 'from the Secret');
    assert.equal(config.samplingIntervalMs, 500);
    assert.deepEqual(placement.spec.deviceSelector, { matchLabels: { role: 'opcua-gateway' } });
  });

  it('puts the StatefulSet and the Secret in the Mailbox of the matching device only', async () => {
    const objects = await until('gw-1 to get the connector', async () => {
      const mailbox = await get('mailbox', 'gw-1');
      const entries = (mailbox?.spec?.objects ?? []) as Array<{
        object: Resource & { metadata: { namespace: string } };
      }>;
      return entries.length === 2 ? entries.map((e) => e.object) : undefined;
    });
    assert.deepEqual(objects.map((o) => `${o.kind}/${o.metadata.namespace}/${o.metadata.name}`).sort(), [
      'Secret/default/line-1-config',
      'StatefulSet/default/line-1',
    ]);
    const other = await until('gw-2 to get its Mailbox', () => get('mailbox', 'gw-2'));
    assert.deepEqual(other.spec.objects ?? [], []);
  });

  it('lists connectors with kubectl get opcua: server, features, matched and connected devices', async () => {
    const row = await until('the matched count', async () => {
      const table = parseTable(await k.ok(['get', 'opcua', '-n', NS]));
      const line = table.rows.find((r) => r.NAME === 'line-1');
      return line?.MATCHED === '1' ? { header: table.header, line } : undefined;
    });
    assert.deepEqual(row.header, ['NAME', 'SERVER', 'FEATURES', 'MATCHED', 'CONNECTED', 'READY', 'AGE']);
    assert.equal(row.line.SERVER, 'opc.tcp://127.0.0.1:4840/UA/Outpost');
    assert.equal(row.line.FEATURES, '2');
    assert.equal(row.line.CONNECTED, '0', 'no connector has reported yet');
    const wide = parseTable(await k.ok(['get', 'opcuaconnectors', '-n', NS, '-o', 'wide']));
    assert.ok(wide.header.includes('RUNNING') && wide.header.includes('LAST-VALUE'));
    const status = (await get('opcua', 'line-1', '-n', NS)).status;
    assert.equal(status.conditions.find((c: { type: string }) => c.type === 'Rendered').status, 'True');
    const explain = await k.ok(['explain', 'opcuaconnector.spec.subscriptions']);
    assert.match(explain, /node id/);
  });

  it('updates the Workload in place when the subscriptions change', async () => {
    const before = await get('workload', 'line-1', '-n', NS);
    await k.ok([
      'patch',
      'opcua',
      'line-1',
      '-n',
      NS,
      '--type=merge',
      '-p',
      JSON.stringify({ spec: { subscriptions: { level: 'ns=2;s=Level' } } }),
    ]);
    const after = await until('the new feature in the config', async () => {
      const live = await get('workload', 'line-1', '-n', NS);
      return live && configOf(live).subscriptions.level ? live : undefined;
    });
    assert.equal(after.metadata.uid, before.metadata.uid);
    assert.equal(after.metadata.generation, before.metadata.generation + 1);
  });

  it('refuses bad specs with 422 naming the field, and creates nothing', async () => {
    const bad = (name: string, spec: Record<string, unknown>): Manifest => ({
      apiVersion: 'outpost.dev/v1alpha1',
      kind: 'OpcUaConnector',
      metadata: { name, namespace: NS },
      spec: {
        server: 'opc.tcp://127.0.0.1:4840',
        subscriptions: { temperature: 'ns=2;s=Temperature' },
        devices: {},
        ...spec,
      },
    });
    const cases: Array<[Manifest, RegExp]> = [
      [bad('bad-url', { server: 'http://plc:4840' }), /spec\.server: Invalid value: "http:\/\/plc:4840"/],
      [
        bad('bad-node', { subscriptions: { temperature: 'ns=2;Temperature' } }),
        /spec\.subscriptions\.temperature: Invalid value: "ns=2;Temperature": not an OPC UA node id/,
      ],
      [
        bad('bad-duration', { defaults: { samplingInterval: 'often' } }),
        /spec\.defaults\.samplingInterval: Invalid value: "often"/,
      ],
      [
        bad('bad-security', { security: { mode: 'None', policy: 'Basic256Sha256' } }),
        /spec\.security\.policy: Invalid value: "Basic256Sha256": must be None when mode is None/,
      ],
    ];
    for (const [manifest, message] of cases) {
      const name = manifest.metadata.name;
      const stderr = await k.fails(['apply', '-v=6', '-f', '-'], yamlOf(manifest));
      assert.match(stderr, /POST https:\S+\/opcuaconnectors\S* 422 Unprocessable Entity/, name);
      assert.match(stderr, new RegExp(`The OpcUaConnector "${name}" is invalid`), name);
      assert.match(stderr, message, name);
      assert.equal(await get('opcua', name, '-n', NS), undefined, `${name} is not stored`);
      assert.equal(await get('workload', name, '-n', NS), undefined, `${name} rendered nothing`);
    }
  });

  it('removes everything it rendered when the connector is deleted', async () => {
    await k.ok(['delete', 'opcua', 'line-1', '-n', NS]);
    await until('the Workload and Placement to go', async () => {
      const [workload, placement] = await Promise.all([
        get('workload', 'line-1', '-n', NS),
        get('placement', 'line-1', '-n', NS),
      ]);
      return workload === undefined && placement === undefined;
    });
    await until('gw-1 Mailbox to be emptied', async () => {
      const mailbox = await get('mailbox', 'gw-1');
      return mailbox && (mailbox.spec?.objects ?? []).length === 0;
    });
  });
});
