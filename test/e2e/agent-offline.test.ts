/**
 * The agent without its hub: workloads keep running, what changes meanwhile
 * reaches the hub once and in order after it returns, a SIGKILLed agent
 * adopts its workloads without duplicates, and an agent started while the
 * hub is unreachable runs from its local copy of the Mailbox.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { chmod, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  type AgentProcess,
  type ApiClient,
  apiClient,
  createToken,
  currentStatus,
  getMailbox,
  type HubProcess,
  isAlive,
  killWorkloads,
  kubectl,
  kubectlApply,
  liveGroupsOf,
  type MailboxJson,
  placementOf,
  recordedProcesses,
  removeDir,
  startAgent,
  startHubProcess,
  tempDir,
  waitFor,
} from '../support/index.ts';

const NS = 'agent-offline';
const DEVICE = 'gw-offline-1';

function workload(trigger: string) {
  // The workloads see only what they declare: the test's scratch folder, where the trigger appears.
  const scratch = dirname(trigger);
  const pod = (name: string, restartPolicy: string, script: string) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name },
    spec: {
      restartPolicy,
      terminationGracePeriodSeconds: 1,
      containers: [
        {
          name: 'main',
          image: 'localhost/busybox:latest',
          command: ['sh', '-c', script],
          volumeMounts: [{ name: 'scratch', mountPath: scratch, readOnly: true }],
        },
      ],
      volumes: [{ name: 'scratch', hostPath: { path: scratch } }],
    },
  });
  return {
    apiVersion: 'outpost.dev/v1alpha1',
    kind: 'Workload',
    metadata: { name: 'offline', namespace: NS, labels: { app: 'offline' } },
    spec: {
      resources: [
        pod('steady', 'Always', 'echo up; exec sleep 3600'),
        // Runs until the test creates the trigger file, then succeeds: a status change the test controls.
        pod('waiter', 'Never', `while [ ! -e ${trigger} ]; do sleep 0.1; done; echo done`),
      ],
    },
  };
}

const placement = placementOf(NS, 'offline', { app: 'offline', site: 'offline' });

type Statuses = NonNullable<NonNullable<MailboxJson['status']>['objects']>;

describe('agent while the hub is away', { timeout: 300_000 }, () => {
  let hub: HubProcess;
  let agent: AgentProcess;
  let api: ApiClient;
  let dataDir: string;
  let hubDir: string;
  let listen: string;
  let trigger: string;
  let scratch: string;

  const steady = () => recordedProcesses(dataDir).find((p) => p.unit.includes('pod-steady'))!;
  const restartHub = async () => {
    hub = await startHubProcess({ dataDir: hubDir, args: ['--listen', listen] });
    await api.close();
    api = apiClient(hub.kubeconfig);
  };
  /** Mailbox statuses waiting in the agent's outbox, oldest first. */
  const outboxStatuses = (): Statuses[] =>
    readdirSync(join(dataDir, 'outbox'))
      .filter((name) => /^\d+\.json$/.test(name))
      .sort()
      .map((name) => JSON.parse(readFileSync(join(dataDir, 'outbox', name), 'utf8')))
      .filter((entry) => entry.kind === 'mailbox-status')
      .map((entry) => entry.status.objects);

  before(async () => {
    hub = await startHubProcess();
    hubDir = hub.dataDir;
    listen = new URL(hub.url).host;
    api = apiClient(hub.kubeconfig);
    dataDir = await tempDir('outpost-agent-offline-');
    scratch = await tempDir('outpost-agent-offline-scratch-');
    await chmod(scratch, 0o755); // the workloads run as their own unprivileged uids
    trigger = join(scratch, 'trigger');
    const token = await createToken(hub, ['--labels', 'site=offline']);
    agent = await startAgent({ hubUrl: hub.url, token, dataDir, name: DEVICE });
    assert.equal((await kubectl(hub, ['create', 'namespace', NS])).code, 0);
    // hostPath volumes need the privileged Pod Security level.
    const label = ['label', 'namespace', NS, 'pod-security.kubernetes.io/enforce=privileged'];
    assert.equal((await kubectl(hub, label)).code, 0);
    await kubectlApply(hub, workload(trigger), placement);
    await waitFor('both pods running', async () => {
      const mailbox = await getMailbox(api, DEVICE);
      return ['steady', 'waiter'].every((name) => currentStatus(mailbox, 'Pod', name)?.phase === 'Running');
    });
  });

  after(async () => {
    await agent?.stop();
    if (dataDir) killWorkloads(dataDir);
    await api?.close();
    await hub?.stop();
    if (dataDir) await removeDir(dataDir);
    if (scratch) await removeDir(scratch);
    if (hubDir) await removeDir(hubDir);
  });

  it('keeps workloads running without the hub and reports what changed meanwhile once, in order', async () => {
    const before = await getMailbox(api, DEVICE);
    const since = before!.metadata.resourceVersion;
    const { pid } = steady();
    await hub.stop();

    // Two changes while the hub is away: the waiter succeeds, then steady's process is killed and restarted.
    writeFileSync(trigger, '');
    await waitFor('the success queued', () =>
      outboxStatuses().some((objects) => objects.find((o) => o.ref.name === 'waiter')?.phase === 'Succeeded'),
    );
    assert.ok(isAlive(pid), 'workloads keep running while the hub is away');
    process.kill(-pid, 'SIGKILL');
    await waitFor('the restart queued', () =>
      outboxStatuses().some((objects) => objects.find((o) => o.ref.name === 'steady')?.restarts === 1),
    );

    await restartHub();
    await waitFor('the restart reported', async () => {
      const mailbox = await getMailbox(api, DEVICE);
      return (
        currentStatus(mailbox, 'Pod', 'steady')?.restarts === 1 &&
        (currentStatus(mailbox, 'Pod', 'steady')?.ready ?? false)
      );
    });
    await waitFor('the outbox drained', () => outboxStatuses().length === 0);

    // Every status the hub stored since, in order: the success first, then the restart; each state once.
    const watch = await api.request(
      'GET',
      `/apis/outpost.dev/v1alpha1/mailboxes?watch=1&resourceVersion=${since}&fieldSelector=metadata.name%3D${DEVICE}&timeoutSeconds=1`,
    );
    const seen = watch.text
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { type: string; object: MailboxJson })
      .filter((event) => event.type === 'MODIFIED')
      .map((event) => {
        const objects = event.object.status?.objects ?? [];
        const of = (name: string) => objects.find((o) => o.ref.name === name)!;
        return `waiter=${of('waiter').phase} steady=${of('steady').phase}/${of('steady').ready}/${of('steady').restarts}`;
      });
    const succeeded = seen.filter((s) => s.startsWith('waiter=Succeeded'));
    assert.ok(succeeded.length > 0, seen.join('\n'));
    assert.equal(
      seen.indexOf(succeeded[0]!),
      seen.length - succeeded.length,
      'no state before the success follows it',
    );
    assert.equal(new Set(seen).size, seen.length, `each state is stored once:\n${seen.join('\n')}`);
    assert.equal(seen[0], 'waiter=Succeeded steady=Running/true/0', seen.join('\n'));
    assert.equal(seen.at(-1), 'waiter=Succeeded steady=Running/true/1', seen.join('\n'));
  });

  it('refuses a second agent on the same data dir', async () => {
    await assert.rejects(
      startAgent({ hubUrl: hub.url, dataDir, name: DEVICE }),
      /another agent \(pid \d+\) runs with the data dir/,
    );
  });

  it('adopts the running workloads after a SIGKILL of the agent, starting no duplicate', async () => {
    const { pid, unit } = steady();
    await agent.stop('SIGKILL');
    assert.ok(isAlive(pid), 'workloads survive the agent');
    agent = await startAgent({ hubUrl: hub.url, dataDir, name: DEVICE });
    const heartbeat = async () =>
      (await api.request('GET', `/apis/outpost.dev/v1alpha1/devices/${DEVICE}`)).json().status
        ?.lastHeartbeatTime;
    const first = await heartbeat();
    await waitFor('a heartbeat of the new agent', async () => (await heartbeat()) !== first);
    // A bounded look (not a sleep to pass): through several reconcile passes, one process group only.
    const deadline = performance.now() + 3000;
    while (performance.now() < deadline) {
      assert.deepEqual([...liveGroupsOf(unit)], [pid]);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    assert.equal(steady().pid, pid);
    assert.equal(currentStatus(await getMailbox(api, DEVICE), 'Pod', 'steady')?.restarts, 1);
  });

  it('runs from its local copy when started with the hub unreachable', async () => {
    // A device that lost everything but its data dir's Mailbox copy and credentials (as after a reboot).
    await agent.stop('SIGKILL');
    const { pid, unit } = steady();
    killWorkloads(dataDir);
    await waitFor('workloads gone', () => !isAlive(pid));
    await rm(join(dataDir, 'process'), { recursive: true, force: true });
    await hub.stop();
    agent = await startAgent({ hubUrl: hub.url, dataDir, name: DEVICE });
    const back = await waitFor('the workload back', () => {
      const found = recordedProcesses(dataDir).find((p) => p.unit === unit);
      return found && isAlive(found.pid) ? found : undefined;
    });
    assert.notEqual(back.pid, pid);
    await waitFor('its output', () => readFileSync(back.logPath, 'utf8').includes('up\n'));
    assert.match(agent.stderr(), /starting from local mailbox copy/);
    assert.match(agent.stderr(), /hub unreachable/);
  });
});
