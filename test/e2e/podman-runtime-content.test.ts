/**
 * What reaches a podman container, against the real podman (runc, the
 * locally built localhost/busybox:latest): a missing image and its arrival,
 * ConfigMap and Secret volumes and env, replicas with their own logs, a
 * StatefulSet's claim volume, a rootless unit. The lifecycle is in
 * podman-runtime.test.ts.
 */
import assert from 'node:assert/strict';
import { hash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { type DesiredUnit, unitIdOf } from '../../src/agent/runtime/index.ts';
import type { ConfigMap, Secret } from '../../src/api/index.ts';
import { PODMAN_TEST_IMAGE as IMAGE, podmanUnits, usePodmanTestEnvironment } from '../support/index.ts';

const ROOTLESS_USER = 'outpost-workloads';
const env = usePodmanTestEnvironment('podman-content-test');
const { podman, cleanups } = env;
const { newRuntime, unit, waitFor, unitOf, running, logsOf, podsOf } = podmanUnits(env);

describe('podman runtime: what reaches a container', { concurrency: 3 }, () => {
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
