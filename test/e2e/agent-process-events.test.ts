/**
 * Status that tells the truth and Events, end to end: an `outpost hub`
 * process, an `outpost agent` process (process runtime) enrolled with a
 * token, and the real kubectl. A Deployment without a command fails on the
 * device with CreateContainerConfigError, which the Placement and the
 * Workload count as failed at once (not at the progress deadline) and tell as
 * Warning Events; a Placement naming a missing Workload says so; the device
 * is told enrolled, approved, its Mailbox delivered, unreachable when its
 * agent stops and back when it starts again.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  type AgentProcess,
  createToken,
  type HubProcess,
  killWorkloads,
  kubectl,
  kubectlApply,
  parseTable,
  placementOf,
  removeDir,
  startAgent,
  startHubProcess,
  tempDir,
  waitFor,
} from '../support/index.ts';

const NS = 'agent-events';
const DEVICE = 'gw-events-1';

const noCommand = {
  apiVersion: 'outpost.dev/v1alpha1',
  kind: 'Workload',
  metadata: { name: 'nocmd', namespace: NS, labels: { app: 'nocmd' } },
  spec: {
    resources: [
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'nocmd' },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: 'nocmd' } },
          template: {
            metadata: { labels: { app: 'nocmd' } },
            // No command: the process runtime has no image to take an entrypoint from.
            spec: { containers: [{ name: 'main', image: 'localhost/busybox:latest' }] },
          },
        },
      },
    ],
  },
};

/** The rows of the Events table `kubectl describe` prints last. */
function describedEvents(stdout: string): Array<Record<string, string>> {
  const at = stdout.lastIndexOf('\nEvents:');
  if (at < 0) return [];
  const lines = stdout
    .slice(at + '\nEvents:'.length)
    .split('\n')
    .filter((line) => line.trim() !== '' && !/^\s*-+/.test(line));
  return parseTable(lines.join('\n')).rows;
}

describe('truthful status and Events with an agent', { timeout: 240_000 }, () => {
  let hub: HubProcess;
  let agent: AgentProcess;
  let dataDir: string;

  const ok = async (...args: string[]) => {
    const result = await kubectl(hub, args);
    assert.equal(result.code, 0, `kubectl ${args.join(' ')}: ${result.stderr}`);
    return result.stdout;
  };
  const events = async (...what: string[]) => describedEvents(await ok('describe', ...what));
  /** The Events of `object` once one has `reason`. */
  const eventually = (reason: string, ...object: string[]) =>
    waitFor(`${reason} on describe ${object.join(' ')}`, async () => {
      const rows = await events(...object);
      return rows.find((row) => row.Reason === reason) ? rows : undefined;
    });

  before(async () => {
    hub = await startHubProcess();
    dataDir = await tempDir('outpost-agent-events-');
    const token = await createToken(hub, ['--labels', 'site=events']);
    agent = await startAgent({ hubUrl: hub.url, token, dataDir, name: DEVICE });
    await ok('create', 'namespace', NS);
  });

  after(async () => {
    await agent?.stop();
    if (dataDir) killWorkloads(dataDir);
    await hub?.stop();
    if (dataDir) await removeDir(dataDir);
    if (hub) await removeDir(hub.dataDir);
  });

  it('tells the device enrolled and approved by its token', async () => {
    const rows = await eventually('Approved', 'device', DEVICE);
    const told = rows.map((row) => `${row.Type} ${row.Reason} ${row.From}`);
    assert.ok(told.includes('Normal Enrolled outpost-enrollment'), told.join('\n'));
    assert.ok(told.includes('Normal Approved outpost-enrollment'), told.join('\n'));
  });

  it('counts a Deployment without a command as failed at once, with CreateContainerConfigError and Warning Events', async () => {
    const started = performance.now();
    await kubectlApply(hub, noCommand, placementOf(NS, 'nocmd', { app: 'nocmd', site: 'events' }));
    const status = await waitFor(
      'the Placement to count the device failed',
      async () => {
        const placement = JSON.parse(await ok('get', 'placement', 'nocmd', '-n', NS, '-o', 'json'));
        return placement.status?.devices?.failed === 1 ? placement.status : undefined;
      },
      60_000,
    );
    assert.ok(performance.now() - started < 120_000, 'long before the 5-minute progress deadline');
    assert.deepEqual(status.failureReasons, [{ reason: 'CreateContainerConfigError', count: 1 }]);
    assert.equal(status.broken[0].device, DEVICE);
    assert.equal(status.broken[0].reason, 'CreateContainerConfigError');
    assert.match(status.broken[0].message, /container main has no command/);
    const table = parseTable(await ok('get', 'placement', 'nocmd', '-n', NS));
    assert.equal(table.rows[0]?.FAILED, '1');
    assert.equal(table.rows[0]?.READY, 'False');

    for (const object of [
      ['placement', 'nocmd', '-n', NS],
      ['workload', 'nocmd', '-n', NS],
    ]) {
      const rows = await eventually('CreateContainerConfigError', ...object);
      const row = rows.find((r) => r.Reason === 'CreateContainerConfigError')!;
      assert.equal(row.Type, 'Warning');
      assert.equal(row.From, 'outpost-placement');
      assert.match(
        row.Message ?? '',
        new RegExp(`^device ${DEVICE}: Deployment ${NS}/nocmd failed: container main has no command`),
      );
    }
    const delivered = await eventually('Delivered', 'mailbox', DEVICE);
    assert.match(
      delivered.find((row) => row.Reason === 'Delivered')!.Message ?? '',
      new RegExp(`^device ${DEVICE} received generation \\d+`),
    );
  });

  it('says WorkloadNotFound, Ready False, for a Placement naming a Workload that does not exist', async () => {
    await kubectlApply(hub, {
      apiVersion: 'outpost.dev/v1alpha1',
      kind: 'Placement',
      metadata: { name: 'ghost', namespace: NS },
      spec: { workloadSelector: { names: ['absent'] }, deviceSelector: { matchLabels: { site: 'events' } } },
    });
    const conditions = await waitFor('the WorkloadsFound condition', async () => {
      const placement = JSON.parse(await ok('get', 'placement', 'ghost', '-n', NS, '-o', 'json'));
      const found = placement.status?.conditions?.find((c: { type: string }) => c.type === 'WorkloadsFound');
      return found ? placement.status.conditions : undefined;
    });
    const byType = Object.fromEntries(conditions.map((c: { type: string }) => [c.type, c]));
    assert.deepEqual(
      [byType.WorkloadsFound.status, byType.WorkloadsFound.reason, byType.WorkloadsFound.message],
      ['False', 'WorkloadNotFound', 'workloads not found: absent'],
    );
    assert.deepEqual([byType.Ready.status, byType.Ready.reason], ['False', 'WorkloadNotFound']);
  });

  it('tells the device unreachable when its agent stops and back when it starts again', async () => {
    await agent.stop();
    // A short period now: three missed heartbeats take 3 s on the hub's clock.
    await ok('patch', 'device', DEVICE, '--type=merge', '-p', '{"spec":{"heartbeat":{"periodSeconds":1}}}');
    const away = await eventually('Unreachable', 'device', DEVICE);
    const unreachable = away.find((row) => row.Reason === 'Unreachable')!;
    assert.equal(unreachable.Type, 'Warning');
    assert.equal(unreachable.Message, `device ${DEVICE} is unreachable: no heartbeat in 3 periods of 1 s`);
    agent = await startAgent({ hubUrl: hub.url, dataDir, name: DEVICE });
    const back = await eventually('Online', 'device', DEVICE);
    const online = back.find((row) => row.Reason === 'Online')!;
    assert.deepEqual(
      [online.Type, online.From, online.Message],
      ['Normal', 'outpost-device-health', `device ${DEVICE} is back: heartbeats arrive again`],
    );
    const all = parseTable(await ok('events', '-A'));
    const reasons = new Set(all.rows.map((row) => row.REASON));
    for (const reason of [
      'Enrolled',
      'Approved',
      'Delivered',
      'CreateContainerConfigError',
      'Unreachable',
      'Online',
    ])
      assert.ok(reasons.has(reason), `kubectl events -A lists ${reason}`);
  });
});
