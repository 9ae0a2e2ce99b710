/**
 * Ready means what Kubernetes means, on both runtimes: an `outpost hub`, an
 * `outpost agent` (process runtime, then podman) and Workloads with probes.
 * Exec probes run inside the container's confinement (they see its private
 * /tmp), httpGet and tcpSocket probes reach it over the network; a failing
 * readiness probe keeps it not ready (and the Placement short of running), a
 * failing liveness probe restarts it (restarts counted), and a ConfigMap
 * volume whose ConfigMap is missing keeps it from running, saying which.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  type AgentProcess,
  type ApiClient,
  apiClient,
  createToken,
  currentStatus,
  freePort,
  getMailbox,
  type HubProcess,
  killWorkloads,
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

type Container = Record<string, unknown>;

/** A Workload `name` (label app=`name`) of one Pod `name` running `sh -c script` in busybox. */
function podWorkload(
  namespace: string,
  name: string,
  script: string,
  extra: Container = {},
  volumes?: unknown[],
) {
  return {
    apiVersion: 'outpost.dev/v1alpha1',
    kind: 'Workload',
    metadata: { name, namespace, labels: { app: name } },
    spec: {
      resources: [
        {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name },
          spec: {
            terminationGracePeriodSeconds: 1,
            containers: [
              { name: 'main', image: 'localhost/busybox:latest', command: ['sh', '-c', script], ...extra },
            ],
            ...(volumes ? { volumes } : {}),
          },
        },
      ],
    },
  };
}

const fast = { periodSeconds: 1, timeoutSeconds: 2 };

for (const runtime of ['process', 'podman'] as const) {
  describe(`probes and mounts on the ${runtime} runtime`, { timeout: 420_000 }, () => {
    const NS = `probes-${runtime}`;
    const DEVICE = `gw-probes-${runtime}`;
    const SITE = `probes-${runtime}`;
    let hub: HubProcess;
    let agent: AgentProcess;
    let api: ApiClient;
    let dataDir: string;
    const status = async (name: string) => currentStatus(await getMailbox(api, DEVICE), 'Pod', name);
    const place = (name: string) => placementOf(NS, name, { app: name, site: SITE });
    const placementStatus = async (name: string) =>
      (await api.request('GET', `/apis/outpost.dev/v1alpha1/namespaces/${NS}/placements/${name}`)).json()
        .status as { devices?: { applied: number; running: number } } | undefined;

    before(async () => {
      if (runtime === 'podman') {
        const setup = await run('bash', [join(ROOT, 'scripts/setup-system.sh')]);
        assert.equal(setup.code, 0, setup.stderr);
        const image = await run('bash', [join(ROOT, 'scripts/build-test-image.sh')], { timeoutMs: 120_000 });
        assert.equal(image.code, 0, image.stderr);
      }
      hub = await startHubProcess();
      api = apiClient(hub.kubeconfig);
      dataDir = await tempDir(`outpost-agent-probes-${runtime}-`);
      const token = await createToken(hub, ['--labels', `site=${SITE}`]);
      agent = await startAgent({
        hubUrl: hub.url,
        token,
        dataDir,
        name: DEVICE,
        args: ['--runtime', runtime, '--stop-workloads-on-exit'],
      });
      assert.equal((await kubectl(hub, ['create', 'namespace', NS])).code, 0);
    });

    after(async () => {
      await agent?.stop();
      if (dataDir && runtime === 'process') killWorkloads(dataDir);
      await api?.close();
      await hub?.stop();
      if (dataDir) await removeDir(dataDir);
      if (hub) await removeDir(hub.dataDir);
    });

    it('is ready once its exec, httpGet and tcpSocket probes pass; exec probes see the container’s own /tmp', async () => {
      const port = await freePort();
      await kubectlApply(
        hub,
        podWorkload(NS, 'exec-ready', 'sleep 2; echo yes > /tmp/ready; exec sleep 3600', {
          startupProbe: { exec: { command: ['test', '-f', '/tmp/ready'] }, ...fast, failureThreshold: 30 },
          readinessProbe: { exec: { command: ['cat', '/tmp/ready'] }, ...fast },
        }),
        place('exec-ready'),
        podWorkload(
          NS,
          'http-ready',
          `mkdir -p /tmp/www && echo ok > /tmp/www/index.html && exec busybox httpd -f -p ${port} -h /tmp/www`,
          {
            ports: [{ name: 'web', containerPort: port }],
            readinessProbe: { httpGet: { path: '/index.html', port: 'web' }, ...fast },
            livenessProbe: { tcpSocket: { port }, ...fast, initialDelaySeconds: 1 },
          },
        ),
        place('http-ready'),
      );
      for (const name of ['exec-ready', 'http-ready']) {
        const reported = await waitFor(
          `${name} ready`,
          async () => {
            const found = await status(name);
            return found?.phase === 'Running' && found.ready ? found : undefined;
          },
          180_000,
          250,
        );
        assert.equal(reported.restarts, 0, JSON.stringify(reported));
        await waitFor(
          `the ${name} Placement running`,
          async () => (await placementStatus(name))?.devices?.running === 1,
          60_000,
          250,
        );
      }
      // Still ready a few periods later: the liveness probe keeps passing, nothing restarts.
      await new Promise((resolve) => setTimeout(resolve, 4000));
      const later = await status('http-ready');
      assert.equal(later?.ready, true, JSON.stringify(later));
      assert.equal(later?.restarts, 0, JSON.stringify(later));
    });

    it('keeps a container whose readiness probe fails Running but not ready, naming the probe', async () => {
      const closed = await freePort();
      await kubectlApply(
        hub,
        podWorkload(NS, 'unready', 'exec sleep 3600', {
          readinessProbe: { httpGet: { path: '/healthz', port: closed }, ...fast, failureThreshold: 1 },
        }),
        place('unready'),
      );
      const reported = await waitFor(
        'unready reported with the failing probe',
        async () => {
          const found = await status('unready');
          return found?.phase === 'Running' && found.message?.includes('Readiness probe failed')
            ? found
            : undefined;
        },
        180_000,
        250,
      );
      assert.equal(reported.ready, false);
      assert.equal(reported.restarts, 0);
      const placement = await waitFor(
        'the Placement applied',
        async () => {
          const found = await placementStatus('unready');
          return found?.devices?.applied === 1 ? found : undefined;
        },
        60_000,
        250,
      );
      assert.equal(
        placement.devices?.running,
        0,
        'a device whose container is not ready does not count as running',
      );
    });

    it('restarts a container whose liveness probe fails, counting the restarts', async () => {
      const closed = await freePort();
      await kubectlApply(
        hub,
        podWorkload(NS, 'unlive', 'exec sleep 3600', {
          livenessProbe: { tcpSocket: { port: closed }, ...fast, failureThreshold: 2 },
        }),
        place('unlive'),
      );
      const reported = await waitFor(
        'restarts counted',
        async () => {
          const found = await status('unlive');
          return found && (found.restarts ?? 0) >= 2 ? found : undefined;
        },
        180_000,
        250,
      );
      assert.match(reported.message ?? '', /Liveness probe failed/, JSON.stringify(reported));
    });

    it('does not run a container whose ConfigMap volume has no ConfigMap, and names the missing one', async () => {
      await kubectlApply(
        hub,
        podWorkload(
          NS,
          'unmounted',
          'cat /etc/app/settings; exec sleep 3600',
          { volumeMounts: [{ name: 'settings', mountPath: '/etc/app' }] },
          [{ name: 'settings', configMap: { name: 'not-there' } }],
        ),
        place('unmounted'),
      );
      const reported = await waitFor(
        'unmounted reported with a reason',
        async () => {
          const found = await status('unmounted');
          return found?.reason && found.reason !== 'ContainerCreating' ? found : undefined;
        },
        180_000,
        250,
      );
      assert.equal(reported.phase, 'Pending', JSON.stringify(reported));
      assert.equal(reported.ready, false);
      assert.equal(reported.reason, 'CreateContainerConfigError');
      assert.match(reported.message ?? '', /configmap "not-there"/);
    });
  });
}
