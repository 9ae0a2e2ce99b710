// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${device...}` placeholders are the feature, written as users write them.
/**
 * Placement end to end: an `outpost hub` process driven by kubectl as an
 * admin. Three labelled devices, two workloads and a placement by label give
 * the right Mailboxes with customised content; relabelling moves objects;
 * overrides apply only where matched; a missing parameter is reported;
 * status written as a device would (the Mailbox status subresource) is
 * summarised and `kubectl wait --for=condition=Ready` succeeds; a device
 * whose heartbeats stop is marked Unreachable; deleting a Workload or a
 * Device empties or removes Mailboxes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type KubectlHub, type Manifest, parseTable, startKubectlHub, yamlOf } from '../support/index.ts';

const NS = 'placement-team';

const device = (name: string, labels: Record<string, string>, periodSeconds = 15): Manifest => ({
  apiVersion: 'outpost.dev/v1alpha1',
  kind: 'Device',
  metadata: { name, labels },
  spec: { heartbeat: { periodSeconds } },
});

const web: Manifest = {
  apiVersion: 'outpost.dev/v1alpha1',
  kind: 'Workload',
  metadata: { name: 'web', namespace: NS, labels: { group: 'demo' } },
  spec: {
    resources: [
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'web' },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: 'web' } },
          template: {
            metadata: { labels: { app: 'web' } },
            spec: {
              containers: [
                {
                  name: 'web',
                  image: 'nginx:1.27',
                  env: [
                    { name: 'SITE', value: '${device.labels.site}' },
                    { name: 'LITERAL', value: '$${device.name}' },
                  ],
                },
              ],
            },
          },
        },
      },
    ],
  },
};

const settings: Manifest = {
  apiVersion: 'outpost.dev/v1alpha1',
  kind: 'Workload',
  metadata: { name: 'settings', namespace: NS, labels: { group: 'demo' } },
  spec: {
    resources: [
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'settings-${device.name}' },
        data: { device: '${device.name}', zone: '${device.labels.zone}' },
      },
    ],
  },
};

const placement: Manifest = {
  apiVersion: 'outpost.dev/v1alpha1',
  kind: 'Placement',
  metadata: { name: 'plant-a', namespace: NS },
  spec: {
    workloadSelector: { matchLabels: { group: 'demo' } },
    deviceSelector: { matchLabels: { site: 'plant-a' } },
    customization: {
      overrides: [
        {
          deviceSelector: { matchExpressions: [{ key: 'tier', operator: 'In', values: ['edge'] }] },
          target: { kind: 'Deployment', name: 'web' },
          patch: [{ op: 'replace', path: '/spec/replicas', value: 2 }],
        },
      ],
    },
  },
};

interface MailboxView {
  /** `workload/kind/name` → the customised object. */
  objects: Record<string, Record<string, unknown>>;
  excluded: Array<{ reason: string; message: string; ref: { name: string } }>;
  raw: Record<string, unknown>;
}

describe('placement end to end with kubectl', () => {
  let k: KubectlHub;

  before(async () => {
    k = await startKubectlHub();
    await k.ok(
      ['apply', '-f', '-'],
      yamlOf(
        { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } },
        device('gw-1', { site: 'plant-a', tier: 'edge', zone: 'z1' }),
        device('gw-2', { site: 'plant-b', tier: 'edge' }),
        device('gw-3', { site: 'plant-a' }),
        web,
        settings,
        placement,
      ),
    );
  });

  after(async () => {
    await k?.stop();
  });

  const json = async (...args: string[]) => JSON.parse(await k.ok(['get', ...args, '-o', 'json']));

  const mailbox = async (name: string): Promise<MailboxView | undefined> => {
    const result = await k.run(['get', 'mailbox', name, '-o', 'json']);
    if (result.code !== 0) return undefined;
    const raw = JSON.parse(result.stdout);
    const objects: MailboxView['objects'] = {};
    for (const entry of raw.spec?.objects ?? []) {
      objects[`${entry.source.workload}/${entry.object.kind}/${entry.object.metadata.name}`] = entry.object;
    }
    return { objects, excluded: raw.spec?.excluded ?? [], raw };
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

  const keysOf = async (name: string) => Object.keys((await mailbox(name))?.objects ?? {}).sort();

  it('fills the Mailbox of each matched device with its customised objects, overrides only where matched', async () => {
    const gw1 = await until('gw-1 to get both workloads', async () => {
      const view = await mailbox('gw-1');
      return view && Object.keys(view.objects).length === 2 ? view : undefined;
    });
    const deployment = gw1.objects['web/Deployment/web'] as {
      metadata: { namespace: string };
      spec: { replicas: number; template: { spec: { containers: Array<{ env: unknown }> } } };
    };
    assert.equal(deployment.spec.replicas, 2, 'the override applies to a tier=edge device');
    assert.equal(deployment.metadata.namespace, NS);
    assert.deepEqual(deployment.spec.template.spec.containers[0]!.env, [
      { name: 'SITE', value: 'plant-a' },
      { name: 'LITERAL', value: '${device.name}' },
    ]);
    assert.deepEqual(gw1.objects['settings/ConfigMap/settings-gw-1']!.data, { device: 'gw-1', zone: 'z1' });
    const entry = (gw1.raw.spec as { objects: Array<{ source: unknown; hash: string }> }).objects[0]!;
    assert.deepEqual(entry.source, { namespace: NS, workload: 'settings', placement: 'plant-a' });
    assert.match(entry.hash, /^sha256:[0-9a-f]{32}$/);

    const gw3 = await until('gw-3 to get web', async () => {
      const view = await mailbox('gw-3');
      return view?.objects['web/Deployment/web'] ? view : undefined;
    });
    assert.equal((gw3.objects['web/Deployment/web'] as { spec: { replicas: number } }).spec.replicas, 1);
    assert.deepEqual(
      Object.keys(gw3.objects),
      ['web/Deployment/web'],
      'the ConfigMap needs a zone gw-3 lacks',
    );
    assert.equal(gw3.excluded[0]?.reason, 'MissingParameter');

    const gw2 = await until('gw-2 to get an empty Mailbox', () => mailbox('gw-2'));
    assert.deepEqual(gw2.objects, {}, 'an unmatched device has an empty Mailbox');
    const owner = (gw2.raw.metadata as { ownerReferences: Array<{ kind: string; name: string }> })
      .ownerReferences[0];
    assert.deepEqual([owner?.kind, owner?.name], ['Device', 'gw-2']);
  });

  it('reports the missing parameter in the Placement status, naming device and parameter', async () => {
    const condition = await until('the Customized condition', async () => {
      const status = (await json('placement', 'plant-a', '-n', NS)).status;
      return status?.conditions?.find((c: { type: string }) => c.type === 'Customized');
    });
    assert.equal(condition.status, 'False');
    assert.equal(condition.reason, 'MissingParameter');
    assert.match(
      condition.message,
      /device gw-3: ConfigMap settings-\$\{device\.name\}: \$\{device\.labels\.zone\} is not set/,
    );
    const out = await k.ok(['describe', 'placement', 'plant-a', '-n', NS]);
    assert.match(out, /MissingParameter/);
  });

  it('summarises status written as a device would, shows the counts in columns and lets kubectl wait', async () => {
    /** Reports every object of a device's Mailbox Running, as its agent would, through the status subresource. */
    const report = async (name: string) => {
      const view = (await mailbox(name))!;
      const objects = (view.raw.spec as { objects: Array<{ hash: string; object: Manifest }> }).objects.map(
        (entry) => ({
          ref: {
            apiVersion: entry.object.apiVersion,
            kind: entry.object.kind,
            namespace: entry.object.metadata.namespace,
            name: entry.object.metadata.name,
          },
          observedHash: entry.hash,
          phase: 'Running',
          ready: true,
          restarts: 0,
          lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        }),
      );
      await k.ok([
        'patch',
        'mailbox',
        name,
        '--subresource=status',
        '--type=merge',
        '-p',
        JSON.stringify({ status: { objects } }),
      ]);
    };
    await report('gw-1');
    await report('gw-3');
    await k.ok(['wait', '--for=condition=Ready', 'workload/web', '-n', NS, '--timeout=30s']);
    const webStatus = (await json('workload', 'web', '-n', NS)).status;
    assert.deepEqual(webStatus.devices, { matched: 2, applied: 2, running: 2, failed: 0, unreachable: 0 });
    assert.equal(webStatus.observedGeneration, 1);

    // The placement is not Ready: gw-3 cannot run the settings ConfigMap.
    const placementStatus = await until('placement counts', async () => {
      const status = (await json('placement', 'plant-a', '-n', NS)).status;
      return status?.devices?.running === 1 ? status : undefined;
    });
    assert.deepEqual(placementStatus.devices, {
      matched: 2,
      applied: 1,
      running: 1,
      failed: 1,
      unreachable: 0,
    });
    assert.deepEqual(placementStatus.failureReasons, [{ reason: 'MissingParameter', count: 1 }]);
    assert.equal(placementStatus.broken[0].device, 'gw-3');
    const table = parseTable(await k.ok(['get', 'placements', '-n', NS]));
    assert.deepEqual(table.header.slice(0, 7), [
      'NAME',
      'MATCHED',
      'APPLIED',
      'RUNNING',
      'FAILED',
      'UNREACHABLE',
      'READY',
    ]);
    assert.deepEqual(
      [table.rows[0]!.MATCHED, table.rows[0]!.RUNNING, table.rows[0]!.FAILED, table.rows[0]!.READY],
      ['2', '1', '1', 'False'],
    );

    // Give gw-3 its zone: the ConfigMap arrives, the device reports it, the placement becomes Ready.
    await k.ok(['label', 'device', 'gw-3', 'zone=z3']);
    await until('gw-3 to get its ConfigMap', async () => (await keysOf('gw-3')).length === 2);
    await report('gw-3');
    await k.ok(['wait', '--for=condition=Ready', 'placement/plant-a', '-n', NS, '--timeout=30s']);
    const workloads = parseTable(await k.ok(['get', 'workloads', '-n', NS]));
    const row = workloads.rows.find((r) => r.NAME === 'settings')!;
    assert.deepEqual([row.MATCHED, row.RUNNING, row.READY], ['2', '2', 'True']);
  });

  it('moves objects in and out of Mailboxes when devices are relabelled', async () => {
    await k.ok(['label', 'device', 'gw-2', 'site=plant-a', '--overwrite']);
    await k.ok(['label', 'device', 'gw-1', 'site-']);
    await until('gw-2 to get web', async () => (await keysOf('gw-2')).includes('web/Deployment/web'));
    await until('gw-1 to be emptied', async () => (await keysOf('gw-1')).length === 0);
    const gw2 = (await mailbox('gw-2'))!;
    assert.equal((gw2.objects['web/Deployment/web'] as { spec: { replicas: number } }).spec.replicas, 2);
  });

  it('empties a deleted Workload from every Mailbox', async () => {
    await k.ok(['delete', 'workload', 'settings', '-n', NS]);
    await until('settings to leave every Mailbox', async () => {
      for (const name of ['gw-1', 'gw-2', 'gw-3']) {
        if ((await keysOf(name)).some((key) => key.startsWith('settings/'))) return false;
      }
      return true;
    });
    assert.deepEqual(await keysOf('gw-3'), ['web/Deployment/web']);
  });

  it('refuses a Placement with an invalid override patch with 422 naming the field', async () => {
    const bad = structuredClone(placement);
    bad.metadata.name = 'bad';
    (bad.spec as { customization: unknown }).customization = {
      overrides: [
        {
          deviceSelector: {},
          patch: [
            { op: 'replace', path: 'spec/replicas', value: 3 },
            { op: 'move', path: '/a' },
          ],
        },
      ],
    };
    const stderr = await k.fails(['apply', '-f', '-'], yamlOf(bad));
    assert.match(stderr, /spec\.customization\.overrides\[0\]\.patch\[0\]\.path/);
    assert.match(stderr, /spec\.customization\.overrides\[0\]\.patch\[1\]\.from/);
  });

  it('marks a device Unreachable once its heartbeats stop, and counts it in the summaries', async () => {
    await k.ok(['apply', '-f', '-'], yamlOf(device('gw-hb', { site: 'plant-a' }, 1)));
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    await k.ok([
      'patch',
      'device',
      'gw-hb',
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({ status: { phase: 'Online', lastHeartbeatTime: now } }),
    ]);
    await k.ok(['wait', '--for=jsonpath={.status.phase}=Unreachable', 'device/gw-hb', '--timeout=30s']);
    const ready = (await json('device', 'gw-hb')).status.conditions.find(
      (c: { type: string }) => c.type === 'Ready',
    );
    assert.deepEqual([ready.status, ready.reason], ['False', 'HeartbeatTimeout']);
    await until('the placement to count it unreachable', async () => {
      const status = (await json('placement', 'plant-a', '-n', NS)).status;
      return status?.devices?.unreachable === 1;
    });
  });

  it('removes the Mailbox of a deleted Device', async () => {
    await k.ok(['delete', 'device', 'gw-hb']);
    await until('the Mailbox to go', async () => (await mailbox('gw-hb')) === undefined);
  });
});
