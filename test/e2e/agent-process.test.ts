// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${device.name}` is a placement parameter, written as users write it.
/**
 * The agent end to end with the process runtime: an `outpost hub` process,
 * an `outpost agent` process enrolled with a token from `outpost token
 * create`, and a Workload + Placement applied with kubectl. The workload's
 * containers are `sh` commands run as supervised host processes.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
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
  placementOf,
  recordedProcesses,
  removeDir,
  startAgent,
  startHubProcess,
  tempDir,
  waitFor,
} from '../support/index.ts';

const NS = 'agent-e2e';
const DEVICE = 'gw-process-1';

function workload(greeting: string) {
  return {
    apiVersion: 'outpost.dev/v1alpha1',
    kind: 'Workload',
    metadata: { name: 'ticker', namespace: NS, labels: { app: 'ticker' } },
    spec: {
      resources: [
        {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: 'ticker-config' },
          data: { GREETING: greeting },
        },
        {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name: 'ticker' },
          spec: {
            replicas: 2,
            selector: { matchLabels: { app: 'ticker' } },
            template: {
              metadata: { labels: { app: 'ticker' } },
              spec: {
                terminationGracePeriodSeconds: 2,
                containers: [
                  {
                    name: 'main',
                    image: 'localhost/busybox:latest',
                    command: [
                      'sh',
                      '-c',
                      'echo "started $GREETING on ${device.name}"; cat /etc/outpost-e2e/GREETING; echo; exec sleep 3600',
                    ],
                    envFrom: [{ configMapRef: { name: 'ticker-config' } }],
                    volumeMounts: [{ name: 'config', mountPath: '/etc/outpost-e2e' }],
                  },
                ],
                volumes: [{ name: 'config', configMap: { name: 'ticker-config' } }],
              },
            },
          },
        },
      ],
    },
  };
}

const placement = placementOf(NS, 'e2e-devices', { app: 'ticker', site: 'e2e' });

describe('agent with the process runtime', { timeout: 240_000 }, () => {
  let hub: HubProcess;
  let agent: AgentProcess;
  let api: ApiClient;
  let dataDir: string;

  const running = async () => {
    const status = currentStatus(await getMailbox(api, DEVICE), 'Deployment', 'ticker');
    return status?.phase === 'Running' && status.ready ? status : undefined;
  };
  const tickers = () => recordedProcesses(dataDir);

  before(async () => {
    hub = await startHubProcess();
    api = apiClient(hub.kubeconfig);
    dataDir = await tempDir('outpost-agent-');
    const token = await createToken(hub, ['--labels', 'site=e2e']);
    agent = await startAgent({ hubUrl: hub.url, token, dataDir, name: DEVICE });
    const ns = await kubectl(hub, ['create', 'namespace', NS]);
    assert.equal(ns.code, 0, ns.stderr);
  });

  after(async () => {
    await agent?.stop();
    if (dataDir) killWorkloads(dataDir);
    await api?.close();
    await hub?.stop();
    if (dataDir) await removeDir(dataDir);
    await removeDir(hub.dataDir);
  });

  it('runs a placed workload: every replica with its env and ConfigMap file, reported Running', async () => {
    await kubectlApply(hub, workload('hello'), placement);
    const status = await waitFor('the Deployment running', running);
    assert.equal(status.restarts, 0);
    const processes = tickers();
    assert.equal(processes.length, 2);
    for (const { pid, logPath } of processes) {
      assert.ok(isAlive(pid));
      await waitFor('output', () =>
        readFileSync(logPath, 'utf8').includes(`started hello on ${DEVICE}\nhello\n`),
      );
    }
    const device = (await api.request('GET', `/apis/outpost.dev/v1alpha1/devices/${DEVICE}`)).json();
    await waitFor('a heartbeat', async () => {
      const live = (await api.request('GET', `/apis/outpost.dev/v1alpha1/devices/${DEVICE}`)).json();
      return live.status?.phase === 'Online' && live.status?.lastHeartbeatTime ? live : undefined;
    });
    assert.equal(device.metadata.labels.site, 'e2e');
  });

  it('restarts a killed workload process', async () => {
    const [victim] = tickers();
    process.kill(-victim!.pid, 'SIGKILL');
    const status = await waitFor('a restart reported', async () => {
      const current = await running();
      return current && (current.restarts ?? 0) >= 1 ? current : undefined;
    });
    assert.equal(status.restarts, 1);
    const replaced = tickers().find((p) => p.replica === victim!.replica)!;
    assert.notEqual(replaced.pid, victim!.pid);
    assert.ok(isAlive(replaced.pid));
  });

  it('replaces the workload when its ConfigMap changes', async () => {
    const before = tickers().map((p) => p.pid);
    const oldHash = (await getMailbox(api, DEVICE))?.spec?.objects?.find(
      (o) => o.object.kind === 'Deployment',
    )?.hash;
    await kubectlApply(hub, workload('bonjour'));
    await waitFor('old processes stopped', () => before.every((pid) => !isAlive(pid)));
    await waitFor('the new content running', async () => {
      const processes = tickers();
      return (
        processes.length === 2 &&
        processes.every(
          (p) => isAlive(p.pid) && readFileSync(p.logPath, 'utf8').includes('started bonjour'),
        ) &&
        // A new run starts with no restarts; until the agent reports it, the status may still be
        // the old run's (restarted once by the test before).
        (await running())?.restarts === 0
      );
    });
    // The Deployment object did not change, only its ConfigMap: the same object hash, a new run.
    const status = await running();
    assert.equal(status?.observedHash, oldHash);
  });

  it('stops the workload when it leaves the Mailbox', async () => {
    const before = tickers();
    const unit = before[0]!.unit;
    const deleted = await kubectl(hub, ['delete', 'workload', 'ticker', '-n', NS]);
    assert.equal(deleted.code, 0, deleted.stderr);
    await waitFor('processes stopped', () => before.every((p) => !isAlive(p.pid)));
    await waitFor('no status left', async () => {
      const mailbox = await getMailbox(api, DEVICE);
      return (mailbox?.spec?.objects ?? []).length === 0 && (mailbox?.status?.objects ?? []).length === 0;
    });
    assert.equal(liveGroupsOf(unit).size, 0);
    assert.deepEqual(tickers(), []);
  });

  it('takes a new heartbeat period from the Device without a restart', async () => {
    const path = `/apis/outpost.dev/v1alpha1/devices/${DEVICE}`;
    const patched = await api.request('PATCH', path, {
      body: { spec: { heartbeat: { periodSeconds: 1 } } },
      contentType: 'application/merge-patch+json',
    });
    assert.equal(patched.status, 200, patched.text);
    const sequence = async () =>
      (await api.request('GET', path)).json().status?.resources?.outboxSequence as number;
    // The agent learns the period from the hub's answer to its next heartbeat (within one old period, 15 s).
    const start = await waitFor(
      'a heartbeat at the new period',
      async () => {
        const first = await sequence();
        await new Promise((resolve) => setTimeout(resolve, 1500));
        return (await sequence()) > first ? first : undefined;
      },
      40_000,
    );
    await waitFor('several heartbeats a second apart', async () => (await sequence()) >= start + 3, 10_000);
  });
});
