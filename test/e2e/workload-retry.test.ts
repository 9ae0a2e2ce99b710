/**
 * A Workload's retry policy end to end: an `outpost hub` process and an
 * `outpost agent` process (process runtime, default backoff shortened to
 * 200 ms by the test support). A container that exits at once is restarted
 * after the intervals of its exponential policy (measured from its own exit,
 * as it logs it, to the kernel's start time of its next process, within
 * 10 %); status shows the attempt count and the
 * next retry time; after `maxRetries` it is Failed with RetryLimitExceeded;
 * a change of the Workload starts counting again.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  type AgentProcess,
  type ApiClient,
  apiClient,
  createToken,
  getMailbox,
  type HubProcess,
  killWorkloads,
  kubectl,
  kubectlApply,
  placementOf,
  recordedProcesses,
  removeDir,
  startAgent,
  startHubProcess,
  tempDir,
  waitFor,
} from '../support/index.ts';

const NS = 'retry-e2e';
const DEVICE = 'gw-retry-1';

function crasher(generation: string) {
  return {
    apiVersion: 'outpost.dev/v1alpha1',
    kind: 'Workload',
    metadata: { name: 'crasher', namespace: NS, labels: { app: 'crasher' } },
    spec: {
      retry: { policy: 'exponential', interval: '1s', maxInterval: '4s', maxRetries: 4 },
      resources: [
        {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: 'crasher', annotations: { generation } },
          spec: {
            containers: [
              {
                name: 'main',
                image: 'localhost/busybox:latest',
                command: ['sh', '-c', 'echo "start $(date +%s%3N)"; echo "end $(date +%s%3N)"; exit 3'],
              },
            ],
          },
        },
      ],
    },
  };
}

describe('workload retry policy with an agent', { timeout: 240_000 }, () => {
  let hub: HubProcess;
  let agent: AgentProcess;
  let api: ApiClient;
  let dataDir: string;
  const statusOf = async () =>
    (await getMailbox(api, DEVICE))?.status?.objects?.find((s) => s.ref.name === 'crasher') as
      | { phase: string; reason?: string; restarts?: number; nextRetryTime?: string; message?: string }
      | undefined;

  before(async () => {
    hub = await startHubProcess();
    api = apiClient(hub.kubeconfig);
    dataDir = await tempDir('outpost-retry-');
    const token = await createToken(hub, ['--labels', 'site=retry']);
    agent = await startAgent({
      hubUrl: hub.url,
      token,
      dataDir,
      name: DEVICE,
      args: ['--metrics-port', 'off', '--stop-workloads-on-exit'],
    });
    assert.equal((await kubectl(hub, ['create', 'namespace', NS])).code, 0);
  });

  after(async () => {
    await agent?.stop();
    if (dataDir) killWorkloads(dataDir);
    await api?.close();
    await hub?.stop();
    if (dataDir) await removeDir(dataDir);
    if (hub) await removeDir(hub.dataDir);
  });

  it('restarts after the exponential intervals (within 10 %), shows attempts and the next retry, then fails', async () => {
    // Every process the runtime starts, by the kernel's start time (ticks since boot) in its state file.
    const created = new Map<string, number>();
    const watch = setInterval(() => {
      for (const { logPath } of recordedProcesses(dataDir)) {
        try {
          const { startTime } = JSON.parse(readFileSync(join(dirname(logPath), 'state.json'), 'utf8'));
          if (!created.has(startTime)) created.set(startTime, wallTimeOfTicks(Number(startTime)));
        } catch {
          // between writes
        }
      }
    }, 20);
    await kubectlApply(hub, crasher('1'), placementOf(NS, 'crasher', { app: 'crasher', site: 'retry' }));
    const waiting = await waitFor('a retry scheduled', async () => {
      const s = await statusOf();
      return s?.nextRetryTime ? s : undefined;
    });
    assert.equal(waiting.reason, 'CrashLoopBackOff');
    assert.match(waiting.message ?? '', /restart \d of 4/);
    const failed = await waitFor(
      'Failed with RetryLimitExceeded',
      async () => {
        const s = await statusOf();
        return s?.phase === 'Failed' ? s : undefined;
      },
      60_000,
    );
    clearInterval(watch);
    assert.equal(failed.reason, 'RetryLimitExceeded');
    assert.equal(failed.restarts, 4);
    const [recorded] = recordedProcesses(dataDir);
    const lines = readFileSync(recorded!.logPath, 'utf8').split('\n');
    const ends = lines.filter((l) => l.startsWith('end ')).map((l) => Number(l.slice(4)));
    assert.equal(ends.length, 5, 'the first run and 4 restarts');
    const starts = [...created.values()].sort((a, b) => a - b);
    assert.equal(starts.length, 5, 'five processes seen');
    const intervals = starts.slice(1).map((start, i) => Math.round(start - ends[i]!));
    console.log(`retry intervals (ms): ${intervals.join(', ')}; policy 1000, 2000, 4000, 4000`);
    [1000, 2000, 4000, 4000].forEach((expected, i) => {
      const measured = intervals[i]!;
      assert.ok(
        measured >= expected && measured <= expected * 1.1,
        `interval ${i + 1}: ${measured} ms, policy ${expected} ms`,
      );
    });
  });

  it('counts again when the Workload changes', async () => {
    await kubectlApply(hub, crasher('2'));
    const again = await waitFor('the new content retrying', async () => {
      const s = await statusOf();
      return s?.phase !== 'Failed' && s?.reason === 'CrashLoopBackOff' && (s.restarts ?? 0) <= 1
        ? s
        : undefined;
    });
    assert.ok((again.restarts ?? 0) <= 1);
  });
});

/** The wall time (ms) of a process start time in clock ticks since boot (100 per second on Linux). */
function wallTimeOfTicks(ticks: number): number {
  const uptimeSeconds = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
  return Date.now() - (uptimeSeconds * 1000 - ticks * 10);
}
