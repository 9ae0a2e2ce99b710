/**
 * Device profiles end to end on the podman runtime: an `outpost hub`
 * process, an `outpost agent --runtime podman` process and the real podman
 * (runc, the locally built localhost/busybox:latest). A Device declares a
 * profile, a Workload opts into its condition, and the test POSTs metrics to
 * the agent's loopback endpoint: the gated workload is held (no pod) while
 * the condition does not hold, its pod is played when it holds and removed
 * (with its grace period) when it stops holding, again and again; the
 * delays from the POST to the container running and to the pod gone are
 * measured and reported. The agent stops its workloads on exit; whatever is
 * left is removed by owner label.
 */
import assert from 'node:assert/strict';
import { hash } from 'node:crypto';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  type AgentProcess,
  type ApiClient,
  apiClient,
  createToken,
  freePort,
  getMailbox,
  type HubProcess,
  kubectl,
  kubectlApply,
  percentile,
  placementOf,
  ROOT,
  removeDir,
  run,
  startAgent,
  startHubProcess,
  tempDir,
  waitFor,
} from '../support/index.ts';

const NS = 'podman-profiles-e2e';
const DEVICE = 'gw-podman-profiles-1';
const ROUNDS = 5;

const gated = {
  apiVersion: 'outpost.dev/v1alpha1',
  kind: 'Workload',
  metadata: { name: 'gated', namespace: NS, labels: { app: 'podman-gated' } },
  spec: {
    profiles: [{ name: 'power', conditions: ['powered'] }],
    resources: [
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'gated' },
        spec: {
          // Long, so that a stop that waits it out cannot pass for one that ended on SIGTERM, however slow podman is.
          terminationGracePeriodSeconds: 60,
          containers: [
            {
              name: 'main',
              image: 'localhost/busybox:latest',
              // Ends on SIGTERM at once (as pid 1, sh has no default handler), well within the grace period.
              command: ['sh', '-c', 'trap "exit 0" TERM; sleep 3600 & wait $!'],
            },
          ],
        },
      },
    ],
  },
};

const PROFILES = [{ name: 'power', conditions: [{ name: 'powered', expression: 'x > 10% && x != nil' }] }];

describe('device profiles with an agent on podman', { timeout: 420_000 }, () => {
  let hub: HubProcess;
  let agent: AgentProcess;
  let api: ApiClient;
  let dataDir: string;
  let owner: string;
  let port: number;

  /** `podman ARGS` in root's store, with the agent's containers.conf. */
  const podman = async (...args: string[]) => {
    const result = await run('podman', args, {
      env: { CONTAINERS_CONF: join(dataDir, 'podman', 'containers.conf') },
    });
    if (result.code !== 0) throw new Error(`podman ${args.join(' ')}: ${result.stderr}`);
    return result.stdout;
  };
  /** The states of the agent's app containers (one per pod here), as `podman ps` JSON says: `running`, `exited`, ... */
  const containerStates = async () =>
    (
      JSON.parse(
        (await podman('ps', '-a', '--format', 'json', '--filter', `label=outpost.dev/owner=${owner}`)) ||
          '[]',
      ) as { State: string; IsInfra: boolean }[]
    )
      .filter((c) => !c.IsInfra)
      .map((c) => c.State);
  const pods = async () =>
    (await podman('pod', 'ps', '-q', '--filter', `label=outpost.dev/owner=${owner}`))
      .split('\n')
      .filter(Boolean);
  const post = (body: unknown) =>
    fetch(`http://127.0.0.1:${port}/metrics`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  const statusOf = async () =>
    (await getMailbox(api, DEVICE))?.status?.objects?.find((s) => s.ref.name === 'gated');

  before(async () => {
    const setup = await run('bash', [join(ROOT, 'scripts/setup-system.sh')]);
    assert.equal(setup.code, 0, setup.stderr);
    const image = await run('bash', [join(ROOT, 'scripts/build-test-image.sh')], { timeoutMs: 120_000 });
    assert.equal(image.code, 0, image.stderr);
    hub = await startHubProcess();
    api = apiClient(hub.kubeconfig);
    dataDir = await tempDir('outpost-podman-profiles-');
    owner = hash('sha256', resolve(dataDir), 'hex').slice(0, 12);
    port = await freePort();
    const token = await createToken(hub, ['--labels', 'site=podman-profiles']);
    agent = await startAgent({
      hubUrl: hub.url,
      token,
      dataDir,
      name: DEVICE,
      // A posted metric stays for the whole test: every change is the test's own POST.
      args: [
        '--runtime',
        'podman',
        '--metrics-port',
        String(port),
        '--metric-ttl',
        '600s',
        '--stop-workloads-on-exit',
      ],
    });
    const ns = await kubectl(hub, ['create', 'namespace', NS]);
    assert.equal(ns.code, 0, ns.stderr);
    const patched = await api.request('PATCH', `/apis/outpost.dev/v1alpha1/devices/${DEVICE}`, {
      body: { spec: { profiles: PROFILES } },
      contentType: 'application/merge-patch+json',
    });
    assert.equal(patched.status, 200, patched.text);
    await kubectlApply(
      hub,
      gated,
      placementOf(NS, 'gated', { app: 'podman-gated', site: 'podman-profiles' }),
    );
  });

  after(async () => {
    await agent?.stop();
    // Left only if the agent could not stop them.
    if (dataDir)
      for (const id of await pods().catch(() => [])) await podman('pod', 'rm', '-f', id).catch(() => {});
    await api?.close();
    await hub?.stop();
    if (dataDir) await removeDir(dataDir);
    if (hub) await removeDir(hub.dataDir);
  });

  it('holds the gated workload back while its condition does not hold: no pod, Pending with the reason', async () => {
    const status = await waitFor(
      'gated held',
      async () => {
        const s = await statusOf();
        return s?.reason === 'ProfileConditionNotMet' ? s : undefined;
      },
      60_000,
      100,
    );
    assert.equal(status.phase, 'Pending');
    assert.match(status.message ?? '', /powered/);
    assert.deepEqual(await pods(), []);
  });

  it('plays its pod when a POSTed metric makes the condition hold and removes it when it stops holding', async () => {
    const toRunning: number[] = [];
    const toGone: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      let started = performance.now();
      assert.equal((await post({ name: 'x', value: 20 })).status, 204);
      let seen: unknown;
      await waitFor(
        'the gated container running',
        async () => {
          const states = await containerStates();
          seen = { states, status: await statusOf() };
          return states.join() === 'running';
        },
        60_000,
        50,
      ).catch((error: unknown) => {
        throw new Error(`round ${round}: ${JSON.stringify(seen)}`, { cause: error });
      });
      toRunning.push(performance.now() - started);
      const running = await waitFor(
        'Running in the Mailbox status',
        async () => {
          const s = await statusOf();
          return s?.phase === 'Running' ? s : undefined;
        },
        30_000,
        100,
      );
      assert.equal(running.restarts ?? 0, 0, 'allowed again, it starts as a new unit');
      started = performance.now();
      assert.equal((await post({ name: 'x', value: 5 })).status, 204);
      await waitFor('the gated pod removed', async () => (await pods()).length === 0, 120_000, 50);
      toGone.push(performance.now() - started);
      const held = await waitFor(
        'held again',
        async () => {
          const s = await statusOf();
          return s?.reason === 'ProfileConditionNotMet' ? s : undefined;
        },
        30_000,
        100,
      );
      assert.equal(held.phase, 'Pending');
    }
    const report = (samples: number[]) =>
      `p50 ${percentile(samples, 50).toFixed(0)} ms, max ${Math.max(...samples).toFixed(0)} ms`;
    console.log(
      `podman, ${ROUNDS} rounds: POST → container running: ${report(toRunning)}; POST → pod removed: ${report(toGone)}`,
    );
    // Far below the 60 s grace period, even on a loaded machine where a podman pod rm takes 10-16 s:
    // the container ended on SIGTERM, it was not waited out and killed.
    assert.ok(Math.max(...toGone) < 30_000, `POST → pod removed ${report(toGone)}`);
  });
});
