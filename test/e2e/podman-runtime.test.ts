/**
 * The podman runtime against the real podman (runc, the locally built
 * localhost/busybox:latest). Every test has its own data dir, hence its own
 * owner label: runtimes running side by side never see each other's pods.
 */
import assert from 'node:assert/strict';
import { hash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import {
  type ActualUnit,
  createPodmanRuntime,
  type DesiredUnit,
  type PodmanRuntimeOptions,
  type Runtime,
  unitIdOf,
} from '../../src/agent/runtime/index.ts';
import type { ConfigMap, KubeObject, Secret } from '../../src/api/index.ts';
import { PODMAN_TEST_IMAGE as IMAGE, waitFor as poll, usePodmanTestEnvironment } from '../support/index.ts';

const ROOTLESS_USER = 'outpost-workloads';
const { podman, cleanups } = usePodmanTestEnvironment('podman-test');

/** A runtime on a fresh data dir, closed (stopping its units) after the tests. */
async function newRuntime(
  options: Partial<PodmanRuntimeOptions> = {},
): Promise<{ runtime: Runtime; dataDir: string }> {
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'outpost-podman-')));
  const runtime = createPodmanRuntime({
    restartBackoff: { initialMs: 300, maxMs: 5000 },
    resyncMs: 1000,
    ...options,
    dataDir,
  });
  await runtime.start();
  cleanups.push(async () => {
    await runtime.close({ stopUnits: true });
    await rm(dataDir, { recursive: true, force: true });
  });
  return { runtime, dataDir };
}

let counter = 0;
/** A unit of a Pod (or Deployment with `replicas`) running busybox `sh -c script`. */
function unit(
  name: string,
  script: string,
  options: {
    hash?: string;
    kind?: 'Pod' | 'Deployment';
    replicas?: number;
    restartPolicy?: 'Always' | 'OnFailure' | 'Never';
    image?: string;
    rootless?: boolean;
    extra?: Record<string, unknown>;
    container?: Record<string, unknown>;
    configMaps?: ConfigMap[];
    secrets?: Secret[];
  } = {},
): DesiredUnit {
  const uniqueName = `${name}-${process.pid}-${counter++}`;
  const kind = options.kind ?? 'Pod';
  const podSpec = {
    terminationGracePeriodSeconds: 0,
    ...(options.restartPolicy ? { restartPolicy: options.restartPolicy } : {}),
    containers: [
      { name: 'main', image: options.image ?? IMAGE, command: ['sh', '-c', script], ...options.container },
    ],
    ...options.extra,
  };
  const object: KubeObject =
    kind === 'Pod'
      ? { apiVersion: 'v1', kind, metadata: { name: uniqueName, namespace: 'default' }, spec: podSpec }
      : {
          apiVersion: 'apps/v1',
          kind,
          metadata: { name: uniqueName, namespace: 'default' },
          spec: {
            replicas: options.replicas ?? 1,
            template: { metadata: { labels: { app: name } }, spec: podSpec },
          },
        };
  const source = { namespace: 'default', workload: 'test', placement: 'test' };
  const ref = { apiVersion: object.apiVersion, kind, namespace: 'default', name: uniqueName };
  return {
    id: unitIdOf(source, ref),
    source,
    ref,
    object,
    objectHash: options.hash ?? 'h1',
    hash: options.hash ?? 'h1',
    configMaps: new Map((options.configMaps ?? []).map((c) => [c.metadata?.name ?? '', c])),
    secrets: new Map((options.secrets ?? []).map((s) => [s.metadata?.name ?? '', s])),
    rootless: options.rootless ?? false,
  };
}

/** Podman answers slowly: a minute by default, polled every 250 ms. */
function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  return poll(what, probe, timeoutMs, 250);
}

async function unitOf(runtime: Runtime, id: string): Promise<ActualUnit | undefined> {
  return (await runtime.list()).find((u) => u.id === id);
}

function running(runtime: Runtime, id: string, timeoutMs?: number): Promise<ActualUnit> {
  return waitFor(
    `unit ${id} running`,
    async () => {
      const found = await unitOf(runtime, id);
      return found?.status.phase === 'Running' && found.status.ready ? found : undefined;
    },
    timeoutMs,
  );
}

async function logsOf(runtime: Runtime, id: string, options: { replica?: number; container?: string } = {}) {
  let text = '';
  for await (const chunk of runtime.logs(id, options)) text += chunk;
  return text;
}

/** The unit's pods, named without the `<owner>-` every pod name starts with (`<unit id>-<replica>[.<slot>]`), sorted. */
async function podsOf(id: string): Promise<string[]> {
  return (await fullPodNames(id)).map((name) => name.slice(name.indexOf(id))).sort();
}

/** The podman name of the unit's pod `<unit id>-<suffix>` (the owner in front). */
async function podName(id: string, suffix: string): Promise<string> {
  const found = (await fullPodNames(id)).find((name) => name.endsWith(`-${id}-${suffix}`));
  if (!found) throw new Error(`no pod ${id}-${suffix}`);
  return found;
}

async function fullPodNames(id: string): Promise<string[]> {
  const out = await podman('pod', 'ps', '--format', '{{.Name}}', '--filter', `label=outpost.dev/unit=${id}`);
  return out.split('\n').filter(Boolean);
}

/** The host pid of a running container. */
async function pidOf(name: string): Promise<number> {
  return Number((await podman('inspect', '--format', '{{.State.Pid}}', name)).trim());
}

describe('podman runtime', { concurrency: 3 }, () => {
  test('runs a Pod that reports Running, and serves its output as logs (tail and follow)', async (t) => {
    const { runtime } = await newRuntime();
    const pod = unit(
      'hello',
      'echo marker-hello; i=0; while true; do i=$((i+1)); echo tick-$i; sleep 1; done',
    );
    const started = performance.now();
    await runtime.apply(pod);
    const applied = performance.now();
    const actual = await running(runtime, pod.id);
    t.diagnostic(
      `apply: ${Math.round(applied - started)} ms, to Running: ${Math.round(performance.now() - started)} ms`,
    );
    assert.equal(actual.hash, 'h1');
    assert.deepEqual(actual.ref, pod.ref);
    assert.deepEqual(await podsOf(pod.id), [`${pod.id}-0`]);
    const logs = await waitFor('marker in logs', async () => {
      const text = await logsOf(runtime, pod.id);
      return text.includes('marker-hello') ? text : undefined;
    });
    assert.match(logs, /^marker-hello\n/);

    const controller = new AbortController();
    const seen: string[] = [];
    for await (const chunk of runtime.logs(pod.id, { tail: 1, follow: true, signal: controller.signal })) {
      seen.push(chunk);
      if (seen.join('').split('\n').filter(Boolean).length >= 3) controller.abort();
    }
    const lines = seen.join('').split('\n').filter(Boolean);
    assert.ok(lines.length >= 3 && lines.every((line) => line.startsWith('tick-')), lines.join('|'));
    await assert.rejects(() => logsOf(runtime, pod.id, { container: 'nope' }), { name: 'UnitNotFoundError' });
  });

  test('replaces a unit when its hash changes and leaves it alone when it does not', async () => {
    const { runtime } = await newRuntime();
    const first = unit('replace', 'echo version-1; sleep 3600', { hash: 'h1' });
    await runtime.apply(first);
    await running(runtime, first.id);
    const firstPod = await podName(first.id, '0');
    const podId = (await podman('pod', 'inspect', '--format', '{{.Id}}', firstPod)).trim();
    await runtime.apply(first);
    assert.equal((await podman('pod', 'inspect', '--format', '{{.Id}}', firstPod)).trim(), podId);

    const second = {
      ...first,
      hash: 'h2',
      object: { ...first.object, spec: { ...(first.object.spec as object) } },
    };
    (second.object.spec as { containers: { command: string[] }[] }).containers = [
      { name: 'main', image: IMAGE, command: ['sh', '-c', 'echo version-2; sleep 3600'] } as never,
    ];
    await runtime.apply(second);
    const actual = await running(runtime, first.id);
    assert.equal(actual.hash, 'h2');
    assert.deepEqual(await podsOf(first.id), [`${first.id}-0`]);
    assert.notEqual((await podman('pod', 'inspect', '--format', '{{.Id}}', firstPod)).trim(), podId);
    const logs = await waitFor('new output', async () => {
      const text = await logsOf(runtime, first.id);
      return text.includes('version-2') ? text : undefined;
    });
    assert.doesNotMatch(logs, /version-1/);
  });

  test('remove stops the pods and deletes what the runtime made for the unit', async () => {
    const { runtime, dataDir } = await newRuntime();
    const config: ConfigMap = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'cfg' },
      data: { a: '1' },
    };
    const pod = unit('remove', 'sleep 3600', {
      configMaps: [config],
      extra: { volumes: [{ name: 'cfg', configMap: { name: 'cfg' } }] },
      container: { volumeMounts: [{ name: 'cfg', mountPath: '/etc/cfg' }] },
    });
    await runtime.apply(pod);
    await running(runtime, pod.id);
    assert.ok((await readdir(join(dataDir, 'podman', 'units'))).includes(pod.id));
    await runtime.remove(pod.id);
    assert.equal(await unitOf(runtime, pod.id), undefined);
    assert.deepEqual(await podsOf(pod.id), []);
    assert.equal(
      await podman('ps', '-a', '--format', '{{.Names}}', '--filter', `label=outpost.dev/unit=${pod.id}`),
      '',
    );
    assert.ok(!(await readdir(join(dataDir, 'podman', 'units'))).includes(pod.id));
    await runtime.remove(pod.id); // unknown ids are a no-op
  });

  test('restarts a killed container under restartPolicy Always, and not under Never', async () => {
    // No resync within the test: the death must be seen through podman events.
    const { runtime } = await newRuntime({ resyncMs: 600_000 });
    const always = unit('always', 'echo started; sleep 3600');
    const never = unit('never', 'sleep 3600', { restartPolicy: 'Never' });
    await Promise.all([runtime.apply(always), runtime.apply(never)]);
    await Promise.all([running(runtime, always.id), running(runtime, never.id)]);
    process.kill(await pidOf(`${await podName(always.id, '0')}-main`), 'SIGKILL');
    process.kill(await pidOf(`${await podName(never.id, '0')}-main`), 'SIGKILL');

    const restarted = await waitFor('restart', async () => {
      const found = await unitOf(runtime, always.id);
      return found?.status.restarts === 1 && found.status.phase === 'Running' && found.status.ready
        ? found
        : undefined;
    });
    assert.equal(restarted.hash, 'h1');
    const failed = await waitFor('failed', async () => {
      const found = await unitOf(runtime, never.id);
      return found?.status.phase === 'Failed' ? found : undefined;
    });
    assert.equal(failed.status.exitCode, 137);
    assert.equal(failed.status.restarts, 0);
    assert.equal(failed.status.reason, 'Error');
    await waitFor('second start in logs', async () =>
      (await logsOf(runtime, always.id)).match(/started/g)?.length === 2 ? true : undefined,
    );
  });

  test('gives podman a container’s resources.limits as cgroup limits: past its memory limit it is killed', async () => {
    const { runtime } = await newRuntime();
    const limits = { resources: { limits: { memory: '64Mi', cpu: '500m' } } };
    const hungry = unit('hungry', 'x=$(head -c 200000000 /dev/zero | tr "\\0" a); echo survived', {
      restartPolicy: 'Never',
      container: limits,
    });
    const sleeper = unit('limited', 'sleep 3600', { container: limits });
    await Promise.all([runtime.apply(hungry), runtime.apply(sleeper)]);
    await running(runtime, sleeper.id);
    const name = `${await podName(sleeper.id, '0')}-main`;
    const [memory, quota, period] = (
      await podman(
        'inspect',
        '--format',
        '{{.HostConfig.Memory}} {{.HostConfig.CpuQuota}} {{.HostConfig.CpuPeriod}}',
        name,
      )
    )
      .trim()
      .split(' ')
      .map(Number);
    assert.equal(memory, 64 * 2 ** 20);
    assert.equal(quota! / (period || 100_000), 0.5);
    const failed = await waitFor('the hungry container killed', async () => {
      const found = await unitOf(runtime, hungry.id);
      return found?.status.phase === 'Failed' ? found : undefined;
    });
    assert.equal(failed.status.exitCode, 137);
    assert.doesNotMatch(await logsOf(runtime, hungry.id), /survived/);
  });

  test('a crashing container backs off (CrashLoopBackOff) instead of restarting in a tight loop', async () => {
    const { runtime } = await newRuntime({ restartBackoff: { initialMs: 500, maxMs: 60_000 } });
    const crash = unit('crash', 'echo boom; exit 3', { restartPolicy: 'OnFailure' });
    await runtime.apply(crash);
    const looping = await waitFor('crash loop', async () => {
      const found = await unitOf(runtime, crash.id);
      return found && (found.status.restarts ?? 0) >= 2 && found.status.reason === 'CrashLoopBackOff'
        ? found
        : undefined;
    });
    assert.equal(looping.status.exitCode, 3);
    assert.equal(looping.status.ready, false);
    assert.match(looping.status.message ?? '', /exit code 3/);
    // Delays double (0.5 s, 1 s, 2 s, 4 s, ...): a few seconds later only a few restarts more.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const later = await unitOf(runtime, crash.id);
    assert.ok(
      (later?.status.restarts ?? 0) <= (looping.status.restarts ?? 0) + 2,
      JSON.stringify(later?.status),
    );
  });

  test('a new runtime on the same data dir adopts running pods without starting duplicates', async () => {
    const { runtime, dataDir } = await newRuntime();
    const deployment = unit('adopt', 'sleep 3600', { kind: 'Deployment', replicas: 2 });
    await runtime.apply(deployment);
    await running(runtime, deployment.id);
    const pods = await podsOf(deployment.id);
    process.kill(await pidOf(`${await podName(deployment.id, '1')}-main`), 'SIGKILL');
    await waitFor('restart', async () =>
      (await unitOf(runtime, deployment.id))?.status.restarts === 1 ? true : undefined,
    );
    await running(runtime, deployment.id);
    await runtime.close();
    assert.deepEqual(await podsOf(deployment.id), pods, 'closing the runtime leaves the units running');

    const { runtime: next } = await newRuntime({ dataDir });
    const adopted = await unitOf(next, deployment.id);
    assert.equal(adopted?.hash, 'h1');
    assert.deepEqual(adopted?.source, deployment.source);
    assert.equal(adopted?.status.restarts, 1, 'restart counts survive the agent restart');
    assert.equal(adopted?.status.ready, true);
    await next.apply(deployment);
    assert.deepEqual(await podsOf(deployment.id), pods);
    const ids = await podman(
      'pod',
      'ps',
      '--format',
      '{{.Id}}',
      '--filter',
      `label=outpost.dev/unit=${deployment.id}`,
    );
    assert.equal(ids.split('\n').filter(Boolean).length, 2);
  });

  test('an image that is not present gives ImageNotPresent, and the unit starts once it appears', async () => {
    const { runtime } = await newRuntime();
    const image = `localhost/outpost-missing-${process.pid}:1`;
    const pod = unit('noimage', 'echo arrived; sleep 3600', { image });
    await runtime.apply(pod);
    const pending = await unitOf(runtime, pod.id);
    assert.equal(pending?.status.phase, 'Pending');
    assert.equal(pending?.status.reason, 'ImageNotPresent');
    assert.match(pending?.status.message ?? '', new RegExp(`image ${image} is not present`));
    assert.equal(
      pending?.hash,
      'h1',
      'reported with its hash, so the reconciler does not apply it again and again',
    );
    assert.deepEqual(await podsOf(pod.id), []);

    await podman('tag', IMAGE, image);
    // `untag`, not `rmi`: this cleanup runs before the runtime stops the container using the image,
    // and `rmi` would refuse then, leaving the tag for every later run.
    cleanups.push(async () => void (await podman('untag', IMAGE, image)));
    await running(runtime, pod.id);
  });

  test('ConfigMap volumes and Secret env and volumes reach the container; secret files are 0600', async () => {
    const { runtime, dataDir } = await newRuntime();
    const config: ConfigMap = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'app-config', namespace: 'default' },
      data: { 'app.conf': 'level=debug' },
    };
    const secret: Secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'app-secret', namespace: 'default' },
      data: { password: Buffer.from('s3cret').toString('base64') },
    } as Secret;
    const pod = unit(
      'config',
      'echo "conf=$(cat /etc/app/app.conf)"; echo "pw=$PASSWORD"; echo "mode=$(stat -c %a /etc/secret/password)"; sleep 3600',
      {
        configMaps: [config],
        secrets: [secret],
        extra: {
          volumes: [
            { name: 'conf', configMap: { name: 'app-config' } },
            { name: 'sec', secret: { secretName: 'app-secret' } },
          ],
        },
        container: {
          env: [{ name: 'PASSWORD', valueFrom: { secretKeyRef: { name: 'app-secret', key: 'password' } } }],
          volumeMounts: [
            { name: 'conf', mountPath: '/etc/app' },
            { name: 'sec', mountPath: '/etc/secret' },
          ],
        },
      },
    );
    await runtime.apply(pod);
    await running(runtime, pod.id);
    const logs = await waitFor('output', async () => {
      const text = await logsOf(runtime, pod.id);
      return text.includes('mode=') ? text : undefined;
    });
    assert.match(logs, /conf=level=debug/);
    assert.match(logs, /pw=s3cret/);
    assert.match(logs, /mode=600/);
    const onHost = await stat(join(dataDir, 'podman', 'units', pod.id, 'volumes', 'sec', 'password'));
    assert.equal(onHost.mode & 0o777, 0o600);
  });

  test('a Deployment with 2 replicas runs two pods, each with its own logs', async () => {
    const { runtime } = await newRuntime();
    const deployment = unit('replicas', 'echo "host=$(hostname)"; sleep 3600', {
      kind: 'Deployment',
      replicas: 2,
    });
    await runtime.apply(deployment);
    const actual = await running(runtime, deployment.id);
    assert.equal(actual.status.restarts, 0);
    assert.deepEqual(await podsOf(deployment.id), [`${deployment.id}-0`, `${deployment.id}-1`]);
    for (const replica of [0, 1]) {
      const text = await waitFor(`replica ${replica} output`, async () => {
        const logs = await logsOf(runtime, deployment.id, { replica });
        return logs.includes('host=') ? logs : undefined;
      });
      assert.match(text, new RegExp(`host=${deployment.ref.name}-${replica}`));
    }
  });

  test('a StatefulSet keeps its claim volume across a replacement and loses it on remove', async () => {
    const { runtime, dataDir } = await newRuntime();
    const owner = hash('sha256', resolve(dataDir), 'hex').slice(0, 12);
    const base = unit('stateful', 'unused', { kind: 'Deployment' });
    const script = 'echo x >> /data/boots; echo "boots=$(wc -l < /data/boots)"; sleep 3600';
    const statefulSet = (hash: string): DesiredUnit => {
      const ref = { ...base.ref, apiVersion: 'apps/v1', kind: 'StatefulSet' };
      const spec = {
        replicas: 1,
        serviceName: 'stateful',
        volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'] } }],
        template: {
          metadata: { labels: { app: 'stateful' } },
          spec: {
            terminationGracePeriodSeconds: 0,
            containers: [
              {
                name: 'main',
                image: IMAGE,
                command: ['sh', '-c', script],
                env: [{ name: 'VERSION', value: hash }],
                volumeMounts: [{ name: 'data', mountPath: '/data' }],
              },
            ],
          },
        },
      };
      const object = { ...base.object, kind: 'StatefulSet', spec };
      return { ...base, id: unitIdOf(base.source, ref), ref, object, hash, objectHash: hash };
    };
    const first = statefulSet('h1');
    await runtime.apply(first);
    await running(runtime, first.id);
    await runtime.apply(statefulSet('h2'));
    await running(runtime, first.id);
    await waitFor('the second pod sees the data of the first', async () =>
      (await logsOf(runtime, first.id)).includes('boots=2') ? true : undefined,
    );
    const volumes = async () =>
      (await podman('volume', 'ls', '--format', '{{.Name}}')).split('\n').filter((v) => v.includes(first.id));
    // Named after the agent (its owner id) too: another agent's StatefulSet of the same unit id has its own.
    assert.deepEqual(await volumes(), [`${owner}-${first.id}-data-0`]);
    await runtime.remove(first.id);
    assert.deepEqual(await volumes(), []);
  });

  test('a rootless unit runs as the unprivileged user, with the image copied into its store', async () => {
    const { runtime } = await newRuntime();
    const pod = unit('rootless', 'echo "uid=$(id -u)"; cat /proc/self/uid_map; exec sleep 3601', {
      rootless: true,
    });
    await runtime.apply(pod);
    await running(runtime, pod.id, 90_000);
    const passwd = await readFile('/etc/passwd', 'utf8');
    const uid = Number(
      passwd
        .split('\n')
        .find((l) => l.startsWith(`${ROOTLESS_USER}:`))
        ?.split(':')[2],
    );
    assert.ok(uid > 0);
    const logs = await waitFor('output', async () => {
      const text = await logsOf(runtime, pod.id);
      return text.includes('uid=') ? text : undefined;
    });
    assert.match(logs, /uid=0/, 'root inside the user namespace');
    assert.match(
      logs,
      new RegExp(`^\\s*0\\s+${uid}\\s+1\\s*$`, 'm'),
      'container root is the unprivileged user outside',
    );
    // Outside: the container's process belongs to that user.
    const owner = await waitFor('host process', async () => {
      for (const pid of await readdir('/proc')) {
        if (!/^\d+$/.test(pid)) continue;
        const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
        if (cmdline === 'sleep\u00003601\u0000') {
          const status = await readFile(`/proc/${pid}/status`, 'utf8');
          return Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
        }
      }
      return undefined;
    });
    assert.equal(owner, uid);
  });
});
