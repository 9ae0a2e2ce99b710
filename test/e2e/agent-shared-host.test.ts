/**
 * Two agents on one host share nothing: one hub, two `outpost agent`
 * processes (two data dirs, two device names) on the same machine, both
 * placed the same Workload, whose container reads a ConfigMap file mounted
 * under /etc (a mount point the process runtime makes on the host). Both run
 * it, each in its own pods and uids; then one agent stops (removing its
 * workloads) and its data dir goes: the other's workload still runs and still
 * reads its file. On the process runtime and on podman.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  type AgentProcess,
  type ApiClient,
  apiClient,
  createToken,
  currentStatus,
  getMailbox,
  type HubProcess,
  killWorkloads,
  kubectl,
  kubectlApply,
  OUTPOST_BIN,
  placementOf,
  ROOT,
  recordedProcesses,
  removeDir,
  run,
  startAgent,
  startHubProcess,
  tempDir,
  waitFor,
} from '../support/index.ts';

/** The Workload both agents run: a Pod printing its ConfigMap file every second. */
function sharedWorkload(namespace: string, mountPath: string) {
  return {
    apiVersion: 'outpost.dev/v1alpha1',
    kind: 'Workload',
    metadata: { name: 'shared', namespace, labels: { app: 'shared' } },
    spec: {
      resources: [
        {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: 'greeting' },
          data: { text: 'hello-shared' },
        },
        {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: 'reader' },
          spec: {
            terminationGracePeriodSeconds: 1,
            containers: [
              {
                name: 'main',
                image: 'localhost/busybox:latest',
                command: [
                  'sh',
                  '-c',
                  `while true; do echo "tick $(cat ${mountPath}/text 2>&1)"; sleep 1; done`,
                ],
                volumeMounts: [{ name: 'greeting', mountPath, readOnly: true }],
              },
            ],
            volumes: [{ name: 'greeting', configMap: { name: 'greeting' } }],
          },
        },
      ],
    },
  };
}

/** Unix uids of the processes in the process groups `pgids`, from /proc. */
function uidsOfGroups(pgids: readonly number[]): Set<number> {
  const uids = new Set<number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const pgrp = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
      if (!pgids.includes(pgrp)) continue;
      const uid = Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${entry}/status`, 'utf8'))?.[1]);
      if (uid !== 0) uids.add(uid);
    } catch {
      // gone meanwhile
    }
  }
  return uids;
}

for (const runtime of ['process', 'podman'] as const) {
  describe(`two agents on one host with the ${runtime} runtime`, { timeout: 480_000 }, () => {
    const NS = `shared-${runtime}`;
    const SITE = `shared-${runtime}`;
    // Inside /etc, a read-only folder of the process runtime's view: the mount point is made on the host.
    const MOUNT = `/etc/outpost-shared-${runtime}-${process.pid}`;
    const names = [`gw-shared-${runtime}-a`, `gw-shared-${runtime}-b`] as const;
    let hub: HubProcess;
    let api: ApiClient;
    const agents: AgentProcess[] = [];
    const dataDirs: string[] = [];
    const reader = async (device: string) => {
      const found = currentStatus(await getMailbox(api, device), 'Pod', 'reader');
      return found?.phase === 'Running' && found.ready ? found : undefined;
    };
    const logs = (device: string) =>
      run(
        process.execPath,
        [OUTPOST_BIN, 'logs', device, 'shared', '-n', NS, '--kubeconfig', hub.kubeconfig],
        {
          timeoutMs: 60_000,
        },
      );

    before(async () => {
      if (runtime === 'podman') {
        const setup = await run('bash', [join(ROOT, 'scripts/setup-system.sh')]);
        assert.equal(setup.code, 0, setup.stderr);
        const image = await run('bash', [join(ROOT, 'scripts/build-test-image.sh')], { timeoutMs: 120_000 });
        assert.equal(image.code, 0, image.stderr);
      }
      hub = await startHubProcess();
      api = apiClient(hub.kubeconfig);
      for (const name of names) {
        const dataDir = await tempDir(`outpost-agent-shared-${runtime}-`);
        dataDirs.push(dataDir);
        const token = await createToken(hub, ['--labels', `site=${SITE}`]);
        agents.push(
          await startAgent({
            hubUrl: hub.url,
            token,
            dataDir,
            name,
            args: ['--runtime', runtime, '--stop-workloads-on-exit'],
          }),
        );
      }
      assert.equal((await kubectl(hub, ['create', 'namespace', NS])).code, 0);
    });

    after(async () => {
      for (const agent of agents) await agent.stop();
      for (const dataDir of dataDirs) {
        if (runtime === 'process') killWorkloads(dataDir);
        await removeDir(dataDir);
      }
      await api?.close();
      await hub?.stop();
      if (hub) await removeDir(hub.dataDir);
    });

    it('runs the same Workload on both, each reading its ConfigMap file, in pods and uids of its own', async () => {
      await kubectlApply(
        hub,
        sharedWorkload(NS, MOUNT),
        placementOf(NS, 'shared', { app: 'shared', site: SITE }),
      );
      for (const device of names) {
        await waitFor(`${device} running the reader`, () => reader(device), 180_000, 250);
        await waitFor(
          `${device} reading its file`,
          async () => {
            const result = await logs(device);
            if (!/tick hello-shared/.test(result.stdout))
              throw new Error(`${result.stdout}\n${result.stderr}`);
            return true;
          },
          60_000,
          500,
        );
      }
      if (runtime === 'process') {
        const [a, b] = dataDirs.map((dir) => uidsOfGroups(recordedProcesses(dir).map((p) => p.pid)));
        assert.ok(a!.size > 0 && b!.size > 0, 'both run as unit uids');
        assert.deepEqual(
          [...a!].filter((uid) => b!.has(uid)),
          [],
          'no uid in common',
        );
      } else {
        const pods = await run('podman', [
          'pod',
          'ps',
          '--filter',
          'label=outpost.dev/unit',
          '--format',
          '{{.Name}} {{index .Labels "outpost.dev/owner"}}',
        ]);
        const ours = pods.stdout.split('\n').filter((line) => line.includes(`-${NS}-shared-pod-reader-`));
        const owners = new Set(ours.map((line) => line.split(' ')[1]));
        assert.equal(owners.size, 2, `one pod per agent, named apart:\n${pods.stdout}`);
      }
    });

    /** Asserts the remaining agent's reader still runs and reads its file (lines written from now on). */
    const stillReads = async (after: string) => {
      const since = (await logs(names[1])).stdout.split('\n').filter(Boolean).length;
      const fresh = await waitFor(
        `three new lines from the remaining agent after ${after}`,
        async () => {
          const lines = (await logs(names[1])).stdout.split('\n').filter(Boolean);
          return lines.length >= since + 3 ? lines.slice(since) : undefined;
        },
        60_000,
        500,
      );
      for (const line of fresh)
        assert.equal(line, 'tick hello-shared', `after ${after}:\n${fresh.join('\n')}`);
      const status = await reader(names[1]);
      assert.ok(status, `still Running and ready after ${after}`);
      assert.equal(status.restarts, 0);
    };

    it("keeps the other's workload running and reading its file when one removes the Workload", async () => {
      const relabel = await kubectl(hub, [
        'label',
        'device',
        names[0],
        `site=elsewhere-${runtime}`,
        '--overwrite',
      ]);
      assert.equal(relabel.code, 0, relabel.stderr);
      await waitFor(
        `${names[0]} has removed the reader`,
        async () => {
          const mailbox = await getMailbox(api, names[0]);
          return (mailbox?.spec?.objects ?? []).length === 0 && (mailbox?.status?.objects ?? []).length === 0;
        },
        120_000,
        250,
      );
      await stillReads('the other removed its unit');
    });

    it("keeps the other's workload running and reading its file when one agent stops and its data dir goes", async () => {
      await agents[0]!.stop();
      await removeDir(dataDirs[0]!);
      await stillReads('the other agent stopped');
    });
  });
}
