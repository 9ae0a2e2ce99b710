/**
 * What a workload of one team can reach on a device run by the podman
 * runtime: the snoop of agent-sandbox.test.ts as a podman container (the
 * agent's data dir, team B's Secret, the agent through /proc), read back
 * with `outpost logs`; and the two ways a pod could be given the data dir
 * that Pod Security does not refuse outright, which must never run: a
 * hostPath of the data dir in a privileged namespace (the agent refuses it)
 * and a Placement override adding a hostPath in a baseline namespace (the
 * hub leaves the object out of the Mailbox).
 */
import assert from 'node:assert/strict';
import { hash, randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  type AgentProcess,
  type ApiClient,
  apiClient,
  assertNothingLeaked,
  createToken,
  currentStatus,
  getMailbox,
  type HubProcess,
  kubectl,
  kubectlApply,
  OUTPOST_BIN,
  placementOf,
  ROOT,
  removeDir,
  run,
  SNOOP,
  startAgent,
  startHubProcess,
  teamWorkload,
  tempDir,
  waitFor,
} from '../support/index.ts';

const DEVICE = 'gw-podman-sandbox-1';
const SITE = 'podman-sandbox';

describe('a podman workload cannot reach the agent or another unit', { timeout: 420_000 }, () => {
  let hub: HubProcess;
  let agent: AgentProcess;
  let api: ApiClient;
  let dataDir: string;
  let owner: string;
  const secretA = `A-${randomBytes(8).toString('hex')}`;
  const secretB = `B-${randomBytes(8).toString('hex')}`;
  const logs = (name: string, namespace: string) =>
    run(
      process.execPath,
      [OUTPOST_BIN, 'logs', DEVICE, name, '-n', namespace, '--kubeconfig', hub.kubeconfig],
      {
        timeoutMs: 60_000,
      },
    );
  const podman = async (...args: string[]) =>
    run('podman', args, { env: { CONTAINERS_CONF: join(dataDir, 'podman', 'containers.conf') } });
  const statusOf = async (name: string) => currentStatus(await getMailbox(api, DEVICE), 'Pod', name);

  before(async () => {
    const setup = await run('bash', [join(ROOT, 'scripts/setup-system.sh')]);
    assert.equal(setup.code, 0, setup.stderr);
    const image = await run('bash', [join(ROOT, 'scripts/build-test-image.sh')], { timeoutMs: 120_000 });
    assert.equal(image.code, 0, image.stderr);
    hub = await startHubProcess();
    api = apiClient(hub.kubeconfig);
    dataDir = await tempDir('outpost-agent-podman-sandbox-');
    owner = hash('sha256', resolve(dataDir), 'hex').slice(0, 12);
    const token = await createToken(hub, ['--labels', `site=${SITE}`]);
    agent = await startAgent({
      hubUrl: hub.url,
      token,
      dataDir,
      name: DEVICE,
      args: ['--runtime', 'podman', '--stop-workloads-on-exit'],
    });
    for (const ns of ['team-a', 'team-b', 'open'])
      assert.equal((await kubectl(hub, ['create', 'namespace', ns])).code, 0);
  });

  after(async () => {
    await agent?.stop();
    if (dataDir) {
      const left = await podman('pod', 'ps', '-q', '--filter', `label=outpost.dev/owner=${owner}`);
      for (const id of left.stdout.split('\n').filter(Boolean)) await podman('pod', 'rm', '-f', id);
    }
    await api?.close();
    await hub?.stop();
    if (dataDir) await removeDir(dataDir);
    if (hub) await removeDir(hub.dataDir);
  });

  it("lets team A's container read neither the agent's key and kubeconfig nor team B's Secret, by path or through /proc", async () => {
    await kubectlApply(
      hub,
      teamWorkload(
        'team-b',
        'vault',
        secretB,
        'echo "own=$(cat /etc/own/token)"; echo "snoop done"; exec sleep 3600',
      ),
      placementOf('team-b', 'vault', { app: 'vault', site: SITE }),
    );
    await waitFor('team B running', async () => (await statusOf('vault'))?.phase === 'Running', 120_000);
    await kubectlApply(
      hub,
      teamWorkload('team-a', 'snoop', secretA, SNOOP, {
        DATA_DIR: dataDir,
        B_SECRET_FILE: join(dataDir, 'podman', 'units', 'team-b-vault', 'volumes', 'own', 'token'),
      }),
      placementOf('team-a', 'snoop', { app: 'snoop', site: SITE }),
    );
    let last = '';
    const output = await waitFor(
      'the snoop done, read back with outpost logs',
      async () => {
        const result = await logs('snoop', 'team-a');
        last = `${JSON.stringify(await statusOf('snoop'))}\n${result.stdout}${result.stderr}`;
        return result.code === 0 && result.stdout.includes('snoop done') ? result.stdout : undefined;
      },
      120_000,
    ).catch((error: Error) => {
      throw new Error(`${error.message}; last: ${last}`);
    });
    assertNothingLeaked(output, secretA, [secretB]);
  });

  it('never runs a hostPath of the data dir, even in a privileged namespace', async () => {
    await kubectl(hub, ['label', 'namespace', 'open', 'pod-security.kubernetes.io/enforce=privileged']);
    const grab = teamWorkload('open', 'grab', 'x', 'cat /agent/kubeconfig; exec sleep 3600');
    const pod = grab.spec.resources[1] as {
      spec: { containers: Record<string, unknown>[]; volumes: unknown[] };
    };
    pod.spec.volumes.push({ name: 'agent', hostPath: { path: dataDir } });
    (pod.spec.containers[0]!.volumeMounts as unknown[]).push({ name: 'agent', mountPath: '/agent' });
    await kubectlApply(hub, grab, placementOf('open', 'grab', { app: 'grab', site: SITE }));
    const status = await waitFor(
      'the pod refused by the agent',
      async () => {
        const found = await statusOf('grab');
        return found?.reason === 'CreateContainerConfigError' ? found : undefined;
      },
      120_000,
    );
    assert.match(
      (status as { message?: string }).message ?? '',
      /hostPath .* would show the agent's data dir/,
    );
    const pods = await podman(
      'pod',
      'ps',
      '-q',
      '--filter',
      `label=outpost.dev/owner=${owner}`,
      '--filter',
      'name=grab',
    );
    assert.equal(pods.stdout.trim(), '');
  });

  it("leaves out of the Mailbox an object a Placement's override would give a hostPath", async () => {
    await kubectlApply(hub, teamWorkload('team-a', 'plain', 'x', 'exec sleep 3600'));
    await kubectlApply(hub, {
      ...placementOf('team-a', 'sneaky', { app: 'plain', site: SITE }),
      spec: {
        ...placementOf('team-a', 'sneaky', { app: 'plain', site: SITE }).spec,
        customization: {
          overrides: [
            {
              deviceSelector: {},
              target: { kind: 'Pod' },
              patch: [
                { op: 'add', path: '/spec/volumes/-', value: { name: 'agent', hostPath: { path: dataDir } } },
              ],
            },
          ],
        },
      },
    });
    const excluded = await waitFor('the object left out', async () => {
      const mailbox = (await api.request('GET', `/apis/outpost.dev/v1alpha1/mailboxes/${DEVICE}`)).json() as {
        spec: { excluded?: { ref: { name: string }; reason: string; message: string }[] };
      };
      return mailbox.spec.excluded?.find((entry) => entry.ref.name === 'plain');
    });
    assert.equal(excluded.reason, 'PatchFailed');
    assert.match(excluded.message, /would add what Pod Security forbids \(spec\.volumes\[1\]\.hostPath/);
    assert.equal(await statusOf('plain'), undefined, 'never reported, never run');
  });
});
