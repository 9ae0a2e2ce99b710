/**
 * The podman runtime's unit lifecycle against the real podman (runc, the
 * locally built localhost/busybox:latest): run and logs, replace, remove,
 * restarts and back-off, adoption by a new runtime. What reaches a
 * container (images, volumes, replicas, claims, rootless) is in
 * podman-runtime-content.test.ts: the two files run side by side.
 */
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { ConfigMap } from '../../src/api/index.ts';
import { PODMAN_TEST_IMAGE as IMAGE, podmanUnits, usePodmanTestEnvironment } from '../support/index.ts';

const env = usePodmanTestEnvironment('podman-test');
const { podman } = env;
const { newRuntime, unit, waitFor, unitOf, running, logsOf, podsOf, podName, pidOf } = podmanUnits(env);

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
    // Three podman starts: on a loaded machine each can take 20 s.
    const looping = await waitFor(
      'crash loop',
      async () => {
        const found = await unitOf(runtime, crash.id);
        return found && (found.status.restarts ?? 0) >= 2 && found.status.reason === 'CrashLoopBackOff'
          ? found
          : undefined;
      },
      180_000,
    );
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
});
