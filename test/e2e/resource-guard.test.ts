/**
 * The resource guard end to end: an `outpost hub` process and an `outpost
 * agent` process (process runtime, `--reserve-memory 256Mi`).
 *
 * Determinism. Admission compares requests with the device's total memory
 * less the reserve (kubelet's allocatable), which the test reads from the
 * same /proc/meminfo: a request one MiB past it is refused whatever the
 * machine is doing. Pressure is the memory available below the reserve;
 * the test makes it by POSTing `memory` (percent used) to the agent's
 * loopback metrics endpoint, which the guard reads in place of its own
 * MemAvailable while the posted value is fresh (`--metric-ttl 10m`): the
 * machine's real free memory (22 GB here, shared with other tests) decides
 * nothing, nor does its disk (`disk` is posted too). The memory limit, on
 * the other hand, is the kernel's: a container reads three times its limit
 * and is killed (by the v1 memory cgroup here, by RLIMIT_AS on a second
 * agent run with `--cgroups off`).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import {
  type AgentProcess,
  type ApiClient,
  apiClient,
  createToken,
  freePort,
  getMailbox,
  type HubProcess,
  isAlive,
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

/** Whether this process may lower an oom_score_adj (CAP_SYS_RESOURCE, bit 24; this project's VMs drop it). */
function canLowerOomScore(): boolean {
  const hex = /^CapEff:\s+([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '0';
  return ((BigInt(`0x${hex}`) >> 24n) & 1n) === 1n;
}

const NS = 'guard-e2e';
const DEVICE = 'gw-guard-1';
const MiB = 2 ** 20;
const RESERVE = 256 * MiB;

type Resources = { requests?: Record<string, string>; limits?: Record<string, string> };

function workload(
  name: string,
  resources: Resources,
  script = 'sleep 3600',
  restartPolicy = 'Always',
  app = 'guarded',
) {
  return {
    apiVersion: 'outpost.dev/v1alpha1',
    kind: 'Workload',
    metadata: { name, namespace: NS, labels: { app } },
    spec: {
      resources: [
        {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name },
          spec: {
            restartPolicy,
            terminationGracePeriodSeconds: 1,
            containers: [
              { name: 'main', image: 'localhost/busybox:latest', command: ['sh', '-c', script], resources },
            ],
          },
        },
      ],
    },
  };
}

function memTotal(): number {
  const kib = /^MemTotal:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1];
  assert.ok(kib);
  return Number(kib) * 1024;
}

describe('resource guard with an agent', { timeout: 300_000 }, () => {
  let hub: HubProcess;
  let agent: AgentProcess;
  /** A second device whose agent runs with `--cgroups off`: rlimits only. */
  let rlimitAgent: AgentProcess | undefined;
  let rlimitDir: string | undefined;
  let api: ApiClient;
  let dataDir: string;
  let port: number;

  const post = (name: string, value: number) =>
    fetch(`http://127.0.0.1:${port}/metrics`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name, value }),
    });
  const statusOf = async (name: string, device = DEVICE) =>
    (await getMailbox(api, device))?.status?.objects?.find((s) => s.ref.name === name);
  const deviceResources = async () =>
    (await (await api.request('GET', `/apis/outpost.dev/v1alpha1/devices/${DEVICE}`)).json()).status
      ?.resources as Record<string, unknown> | undefined;
  const pidsOf = (name: string) =>
    recordedProcesses(dataDir)
      .filter((p) => p.unit.includes(`-${name}-pod-${name}-`) && isAlive(p.pid))
      .map((p) => p.pid);
  const eventsOf = async (workload: string) =>
    (
      await api.request(
        'GET',
        `/api/v1/namespaces/${NS}/events?fieldSelector=${encodeURIComponent(`involvedObject.name=${workload}`)}`,
      )
    ).json().items as { reason: string; message: string; type: string }[];

  before(async () => {
    hub = await startHubProcess();
    api = apiClient(hub.kubeconfig);
    dataDir = await tempDir('outpost-guard-');
    port = await freePort();
    const token = await createToken(hub, ['--labels', 'site=guard']);
    agent = await startAgent({
      hubUrl: hub.url,
      token,
      dataDir,
      name: DEVICE,
      args: [
        '--metrics-port',
        String(port),
        '--metric-ttl',
        '10m',
        '--reserve-memory',
        '256Mi',
        '--stop-workloads-on-exit',
      ],
    });
    assert.equal((await kubectl(hub, ['create', 'namespace', NS])).code, 0);
    // Pressure comes from posted values only: 10 % of memory and 50 % of disk used leave far more than the reserves.
    assert.equal((await post('memory', 10)).status, 204);
    assert.equal((await post('disk', 50)).status, 204);
    await kubectlApply(hub, placementOf(NS, 'guarded', { app: 'guarded', site: 'guard' }));
  });

  after(async () => {
    await agent?.stop();
    await rlimitAgent?.stop();
    if (dataDir) killWorkloads(dataDir);
    if (rlimitDir) {
      killWorkloads(rlimitDir);
      await removeDir(rlimitDir);
    }
    await api?.close();
    await hub?.stop();
    if (dataDir) await removeDir(dataDir);
    if (hub) await removeDir(hub.dataDir);
  });

  it('refuses a workload whose memory requests cut into the reserve (InsufficientMemory), in status and as an Event', async () => {
    const allocatable = memTotal() - RESERVE;
    const hungry = `${Math.ceil(allocatable / MiB) + 1}Mi`;
    // A cron Workload's runs are admitted as any unit: each run of this one is refused.
    const hungryCron = workload('hungry-cron', { requests: { memory: hungry } }, 'true', 'Never');
    (hungryCron.spec as Record<string, unknown>).cron = { schedule: '*/2 * * * * *' };
    await kubectlApply(
      hub,
      workload('hungry', { requests: { memory: hungry } }),
      hungryCron,
      // Exactly what the reserve leaves: admitted (and removed again below, to leave room).
      workload('fits', { requests: { memory: `${Math.floor(allocatable / MiB)}Mi` } }),
    );
    const refused = await waitFor('hungry refused', async () => {
      const status = await statusOf('hungry');
      return status?.reason === 'InsufficientMemory' ? status : undefined;
    });
    assert.equal(refused.phase, 'Pending');
    assert.match(
      refused.message ?? '',
      /^requests [\d.]+(Gi|Mi) of memory; the device has [\d.]+(Gi|Mi|Ki)? left for workloads \(.* less --reserve-memory 256Mi less \S+ requested by running workloads\)$/,
    );
    await waitFor('fits running', async () => (await statusOf('fits'))?.phase === 'Running');
    assert.deepEqual(pidsOf('hungry'), []);
    const events = await waitFor('the InsufficientMemory Event on the Workload', async () => {
      const found = (await eventsOf('hungry')).filter((e) => e.reason === 'InsufficientMemory');
      return found.length > 0 ? found : undefined;
    });
    assert.equal(events[0]!.type, 'Warning');
    assert.match(events[0]!.message, new RegExp(`device ${DEVICE}: Pod ${NS}/hungry: requests`));
    const refusedRun = await waitFor('a refused run of hungry-cron', async () =>
      (await statusOf('hungry-cron'))?.cron?.runs.find((r) => r.reason === 'InsufficientMemory'),
    );
    assert.equal(refusedRun.phase, 'Failed');
    assert.equal(refusedRun.startTime, undefined);
    assert.match(refusedRun.message ?? '', /^requests [\d.]+(Gi|Mi) of memory; the device has/);
    assert.deepEqual(pidsOf('hungry-cron'), []);
    const runEvents = await waitFor('the InsufficientMemory Event of a run', async () => {
      const found = (await eventsOf('hungry-cron')).filter((e) => e.reason === 'InsufficientMemory');
      return found.length > 0 ? found : undefined;
    });
    assert.equal(runEvents[0]!.type, 'Warning');
    assert.match(
      runEvents[0]!.message,
      new RegExp(`device ${DEVICE}: Pod ${NS}/hungry-cron run \\d+: requests`),
    );
    assert.equal(
      (await kubectl(hub, ['delete', 'workload', '-n', NS, 'hungry', 'fits', 'hungry-cron'])).code,
      0,
    );
    await waitFor(
      'both gone from the Mailbox',
      async () => (await statusOf('fits')) === undefined && (await statusOf('hungry')) === undefined,
    );
  });

  it('kills a container past its memory limit by the enforced limit, saying how it was enforced', async () => {
    await kubectlApply(
      hub,
      workload(
        'leaky',
        { limits: { memory: '64Mi', cpu: '250m' } },
        'x=$(head -c 200000000 /dev/zero | tr "\\0" a); echo survived',
        'Never',
      ),
    );
    const failed = await waitFor('leaky killed', async () => {
      const status = await statusOf('leaky');
      return status?.phase === 'Failed' ? status : undefined;
    });
    assert.notEqual(failed.exitCode, 0);
    // cgroup v1 memory as root here (v2 is not delegated on this machine): the kernel's OOM killer; elsewhere RLIMIT_AS.
    if (failed.reason === 'OOMKilled') {
      assert.equal(failed.exitCode, 137);
      const events = await waitFor('the OOMKilled Event', async () => {
        const found = (await eventsOf('leaky')).filter((e) => e.reason === 'OOMKilled');
        return found.length > 0 ? found : undefined;
      });
      assert.match(events[0]!.message, /killed by its memory limit|limits: memory 64Mi/);
    } else {
      assert.match(failed.message ?? '', /RLIMIT_AS/);
    }
    assert.equal((await kubectl(hub, ['delete', 'workload', '-n', NS, 'leaky'])).code, 0);
  });

  it('without cgroups (--cgroups off) enforces the memory limit as RLIMIT_AS and says so', async () => {
    rlimitDir = await tempDir('outpost-guard-rlimit-');
    rlimitAgent = await startAgent({
      hubUrl: hub.url,
      token: await createToken(hub, ['--labels', 'site=guard-rlimit']),
      dataDir: rlimitDir,
      name: `${DEVICE}-rlimit`,
      args: ['--metrics-port', 'off', '--cgroups', 'off', '--stop-workloads-on-exit'],
    });
    const limits = { limits: { memory: '64Mi', cpu: '250m' } };
    await kubectlApply(
      hub,
      workload(
        'leaky-rlimit',
        limits,
        'x=$(head -c 200000000 /dev/zero | tr "\\0" a); echo survived',
        'Never',
        'rlimit',
      ),
      workload('calm-rlimit', limits, 'sleep 3600', 'Always', 'rlimit'),
      placementOf(NS, 'rlimit', { app: 'rlimit', site: 'guard-rlimit' }),
    );
    const failed = await waitFor('leaky-rlimit failed', async () => {
      const status = await statusOf('leaky-rlimit', `${DEVICE}-rlimit`);
      return status?.phase === 'Failed' ? status : undefined;
    });
    // The shell's allocation past RLIMIT_AS fails and it dies (SIGSEGV here, 139); nothing it printed after.
    assert.notEqual(failed.exitCode, 0);
    assert.match(
      failed.message ?? '',
      /^exited with code \d+; limits: memory 64Mi as RLIMIT_AS of each process \(prlimit\), cpu 250m not enforced \(no cgroup: cgroups turned off \(--cgroups off\)\)$/,
    );
    const calm = await waitFor('calm-rlimit running', async () => {
      const status = await statusOf('calm-rlimit', `${DEVICE}-rlimit`);
      return status?.phase === 'Running' ? status : undefined;
    });
    assert.match(
      calm.message ?? '',
      /limits: memory 64Mi as RLIMIT_AS of each process \(prlimit\), cpu 250m not enforced/,
    );
    assert.equal(
      (await kubectl(hub, ['delete', 'workload', '-n', NS, 'leaky-rlimit', 'calm-rlimit'])).code,
      0,
    );
    await rlimitAgent.stop();
    rlimitAgent = undefined;
  });

  it('under memory pressure evicts BestEffort, then Burstable, while the Guaranteed workload keeps running', async () => {
    await kubectlApply(
      hub,
      workload('guaranteed', { limits: { memory: '64Mi', cpu: '100m' } }),
      workload('burstable', { requests: { memory: '16Mi' } }),
      workload('best-effort', {}),
    );
    for (const name of ['guaranteed', 'burstable', 'best-effort'])
      await waitFor(`${name} running`, async () => (await statusOf(name))?.phase === 'Running');
    const guaranteedPids = pidsOf('guaranteed');
    assert.equal(guaranteedPids.length, 1);
    // Should the kernel's OOM killer act before the guard: BestEffort first, the Guaranteed unit and the agent last.
    const oomScore = (pid: number) => Number(readFileSync(`/proc/${pid}/oom_score_adj`, 'utf8'));
    // Lowering needs CAP_SYS_RESOURCE (this project's VMs drop it: then both keep the inherited 0).
    const lowered = canLowerOomScore();
    assert.equal(oomScore(agent.process.pid!), lowered ? -999 : 0);
    assert.equal(oomScore(guaranteedPids[0]!), lowered ? -997 : 0);
    assert.equal(oomScore(pidsOf('best-effort')[0]!), 1000);
    assert.ok(oomScore(pidsOf('burstable')[0]!) > 2 && oomScore(pidsOf('burstable')[0]!) < 1000);
    const running = await statusOf('guaranteed');
    assert.match(running?.message ?? '', /limits: memory 64Mi, cpu 100m by cgroup v1|RLIMIT_AS/);

    // 99.5 % used: 0.5 % of the device available, far below the 256Mi reserve.
    assert.equal((await post('memory', 99.5)).status, 204);
    const first = await waitFor('best-effort evicted', async () => {
      const status = await statusOf('best-effort');
      return status?.reason === 'Evicted' ? status : undefined;
    });
    assert.equal(first.phase, 'Failed');
    const pressed = await waitFor('memoryPressure in the Device status', async () => {
      const resources = await deviceResources();
      return resources?.memoryPressure === true ? resources : undefined;
    });
    assert.equal(pressed.reserveMemoryBytes, RESERVE);
    assert.equal(pressed.memoryAvailableSource, 'posted');
    assert.match(
      first.message ?? '',
      /evicted: the device was low on memory \([\d.]+(Mi|Gi) of memory available \(as posted\), below --reserve-memory 256Mi\); BestEffort, priority 0/,
    );
    assert.equal((await statusOf('burstable'))?.phase, 'Running');
    // The next eviction waits 10 s for the first one's effect: the pressure is still posted, so Burstable goes next.
    const second = await waitFor('burstable evicted', async () => {
      const status = await statusOf('burstable');
      return status?.reason === 'Evicted' ? status : undefined;
    });
    assert.match(second.message ?? '', /Burstable, priority 0/);
    assert.equal((await post('memory', 10)).status, 204);
    await waitFor(
      'no memoryPressure in the Device status',
      async () => (await deviceResources())?.memoryPressure === false,
    );

    const guaranteed = await statusOf('guaranteed');
    assert.equal(guaranteed?.phase, 'Running');
    assert.equal(guaranteed?.restarts ?? 0, 0);
    assert.deepEqual(pidsOf('guaranteed'), guaranteedPids);
    assert.deepEqual(pidsOf('best-effort'), []);
    assert.deepEqual(pidsOf('burstable'), []);
    const events = await waitFor('the Evicted Event', async () => {
      const found = (await eventsOf('best-effort')).filter((e) => e.reason === 'Evicted');
      return found.length > 0 ? found : undefined;
    });
    assert.match(
      events[0]!.message,
      new RegExp(`device ${DEVICE}: Pod ${NS}/best-effort: evicted: the device was low on memory`),
    );
    // An evicted Pod stays Failed (as Kubernetes leaves it), pressure gone or not, until its Workload changes.
    const mailboxNow = await statusOf('best-effort');
    assert.equal(mailboxNow?.reason, 'Evicted');
  });
});
