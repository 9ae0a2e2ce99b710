/**
 * Events with the real kubectl against an `outpost hub` process: a device
 * whose heartbeats stop and resume, and a Placement naming a Workload that
 * does not exist, are told by `kubectl describe`, `kubectl events -A`,
 * `kubectl get events -w` and `kubectl get events.events.k8s.io`, repeated
 * outages aggregated into one Event; and `--event-ttl` deletes old Events.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  device,
  type KubectlHub,
  type Manifest,
  namespace,
  parseTable,
  startKubectlHub,
  waitFor,
  yamlOf,
} from '../support/index.ts';

const NS = 'events-team';

const ghostPlacement: Manifest = {
  apiVersion: 'outpost.dev/v1alpha1',
  kind: 'Placement',
  metadata: { name: 'ghost-pl', namespace: NS },
  spec: { workloadSelector: { names: ['ghost'] }, deviceSelector: { matchLabels: { site: 'ev' } } },
};

/** A heartbeat, written as an agent writes it (the Device status subresource). */
async function beat(k: KubectlHub, name: string): Promise<void> {
  const lastHeartbeatTime = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  await k.ok([
    'patch',
    'device',
    name,
    '--subresource=status',
    '--type=merge',
    '-p',
    JSON.stringify({ status: { phase: 'Online', lastHeartbeatTime } }),
  ]);
}

const phaseOf = async (k: KubectlHub, name: string) =>
  (await k.ok(['get', 'device', name, '-o', 'jsonpath={.status.phase}'])).trim();

/** The rows of the Events table `kubectl describe` prints last. */
function describedEvents(stdout: string): Array<Record<string, string>> {
  const at = stdout.lastIndexOf('\nEvents:');
  assert.ok(at >= 0, `no Events section:\n${stdout}`);
  const section = stdout
    .slice(at + '\nEvents:'.length)
    .split('\n')
    .filter((line) => line.trim() !== '' && !/^\s*-+/.test(line));
  return parseTable(section.join('\n')).rows;
}

describe('Events with kubectl', { timeout: 120_000 }, () => {
  let k: KubectlHub;

  before(async () => {
    k = await startKubectlHub();
    await k.ok(
      ['apply', '-f', '-'],
      yamlOf(namespace(NS), device('gw-ev', { site: 'ev' }, 1), ghostPlacement),
    );
  });
  after(async () => {
    await k?.stop();
  });

  it('describes a device that stopped sending heartbeats with an Unreachable Warning', async () => {
    await beat(k, 'gw-ev');
    await waitFor('gw-ev to be Unreachable', async () => (await phaseOf(k, 'gw-ev')) === 'Unreachable');
    const rows = await waitFor('the Event on describe', async () => {
      const found = describedEvents(await k.ok(['describe', 'device', 'gw-ev']));
      return found.length > 0 ? found : undefined;
    });
    assert.deepEqual(
      rows.map((row) => [row.Type, row.Reason, row.From, row.Message]),
      [
        [
          'Warning',
          'Unreachable',
          'outpost-device-health',
          'device gw-ev is unreachable: no heartbeat in 3 periods of 1 s',
        ],
      ],
    );
  });

  it('describes a Placement naming a missing Workload with its condition and a WorkloadNotFound Warning', async () => {
    const described = await waitFor('the Placement described with its Event', async () => {
      const stdout = await k.ok(['describe', 'placement', 'ghost-pl', '-n', NS]);
      return /Warning\s+WorkloadNotFound/.test(stdout) ? stdout : undefined;
    });
    assert.match(described, /Message:\s+workloads not found: ghost\n(.*\n){0,3}.*Reason:\s+WorkloadNotFound/);
    const rows = describedEvents(described);
    assert.deepEqual(
      rows.map((row) => [row.Type, row.Reason, row.Message]),
      [['Warning', 'WorkloadNotFound', 'workloads not found: ghost']],
    );
    const status = JSON.parse(await k.ok(['get', 'placement', 'ghost-pl', '-n', NS, '-o', 'json'])).status;
    const ready = status.conditions.find((c: { type: string }) => c.type === 'Ready');
    assert.deepEqual([ready.status, ready.reason], ['False', 'WorkloadNotFound']);
  });

  it('lists every namespace with kubectl events -A, and one object with --for', async () => {
    const table = parseTable(await k.ok(['events', '-A']));
    const reasons = table.rows.map((row) => `${row.NAMESPACE} ${row.REASON} ${row.OBJECT}`);
    assert.ok(reasons.includes('default Unreachable Device/gw-ev'), reasons.join('\n'));
    assert.ok(reasons.includes(`${NS} WorkloadNotFound Placement/ghost-pl`), reasons.join('\n'));
    const mine = parseTable(await k.ok(['events', '-n', NS, '--for', 'placement/ghost-pl']));
    assert.deepEqual(
      mine.rows.map((row) => row.REASON),
      ['WorkloadNotFound'],
    );
  });

  it('streams new Events to kubectl get events -w, and aggregates a second outage into one Event', async () => {
    const watch = k.stream(['get', 'events', '-A', '-w']);
    await watch.watching();
    await beat(k, 'gw-ev');
    await watch.printed(/Normal\s+Online\s+device\/gw-ev\s+device gw-ev is back: heartbeats arrive again/);
    await waitFor(
      'gw-ev Unreachable again',
      async () => (await phaseOf(k, 'gw-ev')) === 'Unreachable',
      20_000,
    );
    const rows = await waitFor('the second outage on describe', async () => {
      const found = describedEvents(await k.ok(['describe', 'device', 'gw-ev']));
      return found.some((row) => row.Reason === 'Unreachable' && /\(x2 over/.test(row.Age ?? ''))
        ? found
        : undefined;
    });
    assert.deepEqual(rows.map((row) => row.Reason).sort(), ['Online', 'Unreachable']);
    const stored = JSON.parse(
      await k.ok(['get', 'events', '-n', 'default', '--field-selector', 'reason=Unreachable', '-o', 'json']),
    ).items;
    assert.equal(stored.length, 1);
    assert.equal(stored[0].count, 2);
    assert.equal(stored[0].series.count, 2);
  });

  it('serves the same Events as events.k8s.io/v1', async () => {
    const list = JSON.parse(await k.ok(['get', 'events.events.k8s.io', '-n', NS, '-o', 'json']));
    assert.equal(list.items[0].apiVersion, 'events.k8s.io/v1');
    assert.equal(list.items[0].regarding.name, 'ghost-pl');
    assert.equal(list.items[0].note, 'workloads not found: ghost');
    assert.equal(list.items[0].reportingController, 'outpost-placement');
  });
});

describe('Events with --event-ttl', { timeout: 120_000 }, () => {
  let k: KubectlHub;
  before(async () => {
    k = await startKubectlHub({ args: ['--event-ttl', '3s'] });
    await k.ok(['apply', '-f', '-'], yamlOf(namespace(NS), ghostPlacement));
  });
  after(async () => {
    await k?.stop();
  });

  it('deletes an Event once it is older than the TTL', async () => {
    await waitFor('the WorkloadNotFound Event', async () =>
      (await k.ok(['get', 'events', '-n', NS, '-o', 'name'])).includes('event/ghost-pl.'),
    );
    await waitFor(
      'the Event to expire',
      async () => (await k.ok(['get', 'events', '-n', NS, '-o', 'name'])).trim() === '',
      20_000,
    );
  });
});
