/**
 * The agent end to end with the podman runtime: an `outpost hub` process, an
 * `outpost agent --runtime podman` process, Workloads and a Placement applied
 * with kubectl, and the real podman (runc, the locally built
 * localhost/busybox:latest). A placed Deployment runs as podman pods, a
 * change replaces them, removal stops them, status reaches the Mailbox; a
 * `rootless: true` Workload runs as the unprivileged user the agent sets up.
 * The agent stops its workloads on exit; whatever is left is removed by owner label.
 */
import assert from 'node:assert/strict';
import { hash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  type AgentProcess,
  type ApiClient,
  apiClient,
  createToken,
  currentStatus,
  getMailbox,
  type HubProcess,
  kubectl,
  kubectlApply,
  placementOf,
  ROOT,
  removeDir,
  run,
  startAgent,
  startHubProcess,
  tempDir,
  waitFor,
} from '../support/index.ts';

const NS = 'podman-e2e';
const DEVICE = 'gw-podman-1';
const ROOTLESS_USER = 'outpost-workloads';

function webWorkload(version: string) {
  return {
    apiVersion: 'outpost.dev/v1alpha1',
    kind: 'Workload',
    metadata: { name: 'web', namespace: NS, labels: { app: 'podman-e2e' } },
    spec: {
      resources: [
        {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name: 'web' },
          spec: {
            replicas: 2,
            selector: { matchLabels: { app: 'web' } },
            template: {
              metadata: { labels: { app: 'web' } },
              spec: {
                terminationGracePeriodSeconds: 0,
                containers: [
                  {
                    name: 'main',
                    image: 'localhost/busybox:latest',
                    command: ['sh', '-c', 'echo "version $VERSION"; exec sleep 3600'],
                    env: [{ name: 'VERSION', value: version }],
                  },
                ],
              },
            },
          },
        },
      ],
    },
  };
}

const rootlessWorkload = {
  apiVersion: 'outpost.dev/v1alpha1',
  kind: 'Workload',
  metadata: { name: 'unprivileged', namespace: NS, labels: { app: 'podman-e2e' } },
  spec: {
    rootless: true,
    resources: [
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'unprivileged' },
        spec: {
          terminationGracePeriodSeconds: 0,
          containers: [{ name: 'main', image: 'localhost/busybox:latest', command: ['sleep', '3607'] }],
        },
      },
    ],
  },
};

const placement = placementOf(NS, 'podman-devices', { app: 'podman-e2e', site: 'podman' });

/** The uid of a system user, from /etc/passwd. */
async function uidOf(name: string): Promise<number | undefined> {
  const line = (await readFile('/etc/passwd', 'utf8')).split('\n').find((l) => l.startsWith(`${name}:`));
  return line ? Number(line.split(':')[2]) : undefined;
}

/** Owners (uids) of the host processes whose command line is exactly `args`. */
async function processOwners(args: readonly string[]): Promise<number[]> {
  const wanted = `${args.join('\0')}\0`;
  const owners: number[] = [];
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmdline !== wanted) continue;
    const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
    const uid = /^Uid:\s+(\d+)/m.exec(status)?.[1];
    if (uid !== undefined) owners.push(Number(uid));
  }
  return owners;
}

describe('agent with the podman runtime', { timeout: 420_000 }, () => {
  let hub: HubProcess;
  let agent: AgentProcess;
  let api: ApiClient;
  let dataDir: string;
  let owner: string;

  /** `podman ARGS` in root's store, with the agent's containers.conf. */
  const podman = async (...args: string[]) => {
    const result = await run('podman', args, {
      env: { CONTAINERS_CONF: join(dataDir, 'podman', 'containers.conf') },
    });
    if (result.code !== 0) throw new Error(`podman ${args.join(' ')}: ${result.stderr}`);
    return result.stdout;
  };
  /** The agent's pods in root's store: name -> id. */
  const pods = async () => {
    const out = await podman(
      'pod',
      'ps',
      '--filter',
      `label=outpost.dev/owner=${owner}`,
      '--format',
      '{{.Name}} {{.Id}} {{.Status}}',
    );
    return out
      .split('\n')
      .filter(Boolean)
      .map((line) => line.split(' '))
      .map(([name, id, status]) => ({ name: name!, id: id!, status: status! }));
  };
  const status = async (kind: string, name: string) => {
    const found = currentStatus(await getMailbox(api, DEVICE), kind, name);
    return found?.phase === 'Running' && found.ready ? found : undefined;
  };

  before(async () => {
    const setup = await run('bash', [join(ROOT, 'scripts/setup-system.sh')]);
    assert.equal(setup.code, 0, setup.stderr);
    const image = await run('bash', [join(ROOT, 'scripts/build-test-image.sh')], { timeoutMs: 120_000 });
    assert.equal(image.code, 0, image.stderr);
    hub = await startHubProcess();
    api = apiClient(hub.kubeconfig);
    dataDir = await tempDir('outpost-agent-podman-');
    owner = hash('sha256', resolve(dataDir), 'hex').slice(0, 12);
    const token = await createToken(hub, ['--labels', 'site=podman']);
    agent = await startAgent({
      hubUrl: hub.url,
      token,
      dataDir,
      name: DEVICE,
      args: ['--runtime', 'podman', '--stop-workloads-on-exit'],
    });
    const ns = await kubectl(hub, ['create', 'namespace', NS]);
    assert.equal(ns.code, 0, ns.stderr);
  });

  after(async () => {
    await agent?.stop();
    // Left only if the agent could not stop them.
    if (dataDir)
      for (const { id } of await pods().catch(() => [])) await podman('pod', 'rm', '-f', id).catch(() => {});
    await api?.close();
    await hub?.stop();
    if (dataDir) await removeDir(dataDir);
    if (hub) await removeDir(hub.dataDir);
  });

  it('runs a placed Deployment as podman pods, one per replica, reported Running', async () => {
    await kubectlApply(hub, webWorkload('1'), placement);
    const reported = await waitFor('the Deployment running', () => status('Deployment', 'web'), 120_000, 250);
    assert.equal(reported.restarts, 0);
    const running = await pods();
    assert.equal(running.length, 2, JSON.stringify(running));
    assert.ok(running.every((pod) => pod.status === 'Running'));
    const device = (await api.request('GET', `/apis/outpost.dev/v1alpha1/devices/${DEVICE}`)).json();
    assert.equal(device.metadata.labels.site, 'podman');
  });

  it('replaces the pods when the Workload changes', async () => {
    const before = new Set((await pods()).map((pod) => pod.id));
    const oldHash = currentStatus(await getMailbox(api, DEVICE), 'Deployment', 'web')?.observedHash;
    await kubectlApply(hub, webWorkload('2'));
    const reported = await waitFor(
      'the new content running',
      async () => {
        const found = await status('Deployment', 'web');
        return found && found.observedHash !== oldHash ? found : undefined;
      },
      120_000,
      250,
    );
    assert.notEqual(reported.observedHash, oldHash);
    const now = await waitFor('only new pods', async () => {
      const current = await pods();
      return current.length === 2 && current.every((pod) => !before.has(pod.id)) ? current : undefined;
    });
    for (const pod of now) {
      const containers = await podman(
        'ps',
        '--filter',
        `pod=${pod.id}`,
        '--format',
        '{{.Names}} {{.IsInfra}}',
      );
      const main = containers
        .split('\n')
        .find((line) => line.endsWith(' false'))
        ?.split(' ')[0];
      assert.ok(main, containers);
      await waitFor('the new env in the output', async () => /version 2/.test(await podman('logs', main)));
    }
  });

  it('runs a rootless Workload as the unprivileged user', async () => {
    await kubectlApply(hub, rootlessWorkload);
    const mailbox = await getMailbox(api, DEVICE);
    const entry = (mailbox?.spec?.objects ?? []).find((o) => o.object.metadata.name === 'unprivileged') as
      | { rootless?: boolean }
      | undefined;
    assert.equal(entry?.rootless, true, 'the Mailbox carries the Workload rootless flag');
    await waitFor('the rootless Pod running', () => status('Pod', 'unprivileged'), 180_000, 250);
    // The agent creates the user when it first needs it: read its uid only now (a fresh machine has none before).
    const uid = (await uidOf(ROOTLESS_USER)) ?? -1;
    const owners = await waitFor('its process', async () => {
      const found = await processOwners(['sleep', '3607']);
      return found.length > 0 ? found : undefined;
    });
    assert.ok(uid > 0, `${ROOTLESS_USER} exists after the agent's setup`);
    assert.deepEqual(owners, [uid]);
    // Not in root's store: the rootful pods are the Deployment's two only.
    assert.equal((await pods()).length, 2);
  });

  it('stops every pod when the Workloads leave the Mailbox', async () => {
    for (const name of ['web', 'unprivileged']) {
      const deleted = await kubectl(hub, ['delete', 'workload', name, '-n', NS]);
      assert.equal(deleted.code, 0, deleted.stderr);
    }
    await waitFor(
      'no status left',
      async () => {
        const mailbox = await getMailbox(api, DEVICE);
        return (mailbox?.spec?.objects ?? []).length === 0 && (mailbox?.status?.objects ?? []).length === 0;
      },
      120_000,
      250,
    );
    await waitFor('no pods left', async () => (await pods()).length === 0, 60_000, 250);
    await waitFor(
      'the rootless process gone',
      async () => (await processOwners(['sleep', '3607'])).length === 0,
      60_000,
      250,
    );
  });
});
