/**
 * How the podman runtime replaces a running version (real podman, runc, the
 * locally built localhost/busybox:latest): a Deployment starts its new pod
 * first and the old one still gets its whole terminationGracePeriodSeconds;
 * a `Recreate` Deployment (and a Pod) stops the old one, gracefully, before
 * the new one starts.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  createPodmanRuntime,
  type DesiredUnit,
  type Runtime,
  unitIdOf,
} from '../../src/agent/runtime/index.ts';
import type { KubeObject } from '../../src/api/index.ts';
import { PODMAN_TEST_IMAGE as IMAGE, waitFor as poll, usePodmanTestEnvironment } from '../support/index.ts';

const { conf: CONF, podman, cleanups } = usePodmanTestEnvironment('podman-rollout');

/**
 * A runtime on a fresh data dir, and `dir`, the folder its containers write to (a hostPath).
 * Apart: a hostPath showing the data dir is refused (CreateContainerConfigError).
 */
async function newRuntime(): Promise<{ runtime: Runtime; dir: string; dataDir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'outpost-podman-rollout-'));
  const dataDir = await mkdtemp(join(tmpdir(), 'outpost-podman-rollout-data-'));
  const runtime = createPodmanRuntime({ dataDir, resyncMs: 1000 });
  await runtime.start();
  cleanups.push(async () => {
    await runtime.close({ stopUnits: true });
    await rm(dir, { recursive: true, force: true });
    await rm(dataDir, { recursive: true, force: true });
  });
  return { runtime, dir, dataDir };
}

/**
 * A unit whose container appends `<version> start` to DIR/log, and on
 * SIGTERM `<version> term`, then (2 s of graceful shutdown later) `<version>
 * done`. Grace period 10 s: a SIGKILL after 0 or 1 s would lose the `done`.
 */
function graceful(
  name: string,
  dir: string,
  version: string,
  options: { kind?: 'Pod' | 'Deployment'; strategy?: Record<string, unknown> } = {},
): DesiredUnit {
  const kind = options.kind ?? 'Deployment';
  const script = [
    `trap 'echo "$V term" >> /out/log; sleep 2; echo "$V done" >> /out/log; exit 0' TERM`,
    'echo "$V start" >> /out/log',
    'while true; do sleep 0.1; done',
  ].join('; ');
  const podSpec = {
    terminationGracePeriodSeconds: 10,
    containers: [
      {
        name: 'main',
        image: IMAGE,
        command: ['sh', '-c', script],
        env: [{ name: 'V', value: version }],
        volumeMounts: [{ name: 'out', mountPath: '/out' }],
      },
    ],
    volumes: [{ name: 'out', hostPath: { path: dir } }],
  };
  const metadata = { name, namespace: 'default' };
  const object: KubeObject =
    kind === 'Pod'
      ? { apiVersion: 'v1', kind, metadata, spec: podSpec }
      : {
          apiVersion: 'apps/v1',
          kind,
          metadata,
          spec: {
            replicas: 1,
            ...(options.strategy ? { strategy: options.strategy } : {}),
            template: { metadata: { labels: { app: name } }, spec: podSpec },
          },
        };
  const source = { namespace: 'default', workload: 'rollout', placement: 'test' };
  const ref = { apiVersion: object.apiVersion, kind, namespace: 'default', name };
  return {
    id: unitIdOf(source, ref),
    source,
    ref,
    object,
    objectHash: version,
    hash: version,
    configMaps: new Map(),
    secrets: new Map(),
    rootless: false,
  };
}

async function lines(dir: string): Promise<string[]> {
  return (await readFile(join(dir, 'log'), 'utf8').catch(() => '')).split('\n').filter(Boolean);
}

function logged(dir: string, line: string): Promise<string[]> {
  return poll(
    `"${line}" logged`,
    async () => {
      const found = await lines(dir);
      return found.includes(line) ? found : undefined;
    },
    60_000,
    100,
  );
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

describe('podman runtime rollouts', { concurrency: 2 }, () => {
  test('a Deployment starts its new pod first; the old one still gets its grace period', async () => {
    const { runtime, dir } = await newRuntime();
    const name = `surge-${process.pid}`;
    await runtime.apply(graceful(name, dir, 'v1'));
    await logged(dir, 'v1 start');
    const next = graceful(name, dir, 'v2');
    await runtime.apply(next);
    const overlap = await logged(dir, 'v2 start');
    assert.ok(!overlap.includes('v1 done'), `the new version did not wait for the old one: ${overlap}`);
    // Meanwhile the unit is its new version only: same status shape, one replica.
    const listed = (await runtime.list()).find((u) => u.id === next.id);
    assert.equal(listed?.hash, 'v2');
    assert.equal(listed?.status.phase, 'Running');
    assert.equal(listed?.status.restarts, 0);

    const done = await logged(dir, 'v1 done');
    assert.ok(done.indexOf('v1 term') < done.indexOf('v1 done'), done.join('|'));
    await poll('the old pod gone', async () => ((await podsOf(next.id)).length === 1 ? true : undefined));
    assert.deepEqual(await podsOf(next.id), [`${next.id}-0.1`]);
    assert.ok(!(await lines(dir)).includes('v2 term'), 'the new version keeps running');

    // The next version takes the first free name again.
    await runtime.apply(graceful(name, dir, 'v3'));
    await logged(dir, 'v3 start');
    await logged(dir, 'v2 done');
    await poll('the v2 pod gone', async () => ((await podsOf(next.id)).length === 1 ? true : undefined));
    assert.deepEqual(await podsOf(next.id), [`${next.id}-0`]);
  });

  test('an older version left behind (agent stopped mid-rollout) is stopped by the next runtime', async () => {
    const { runtime, dir, dataDir } = await newRuntime();
    const name = `leftover-${process.pid}`;
    await runtime.apply(graceful(name, dir, 'v1'));
    const current = graceful(name, dir, 'v2');
    await runtime.apply(current);
    await logged(dir, 'v1 done');
    await poll('one pod', async () => ((await podsOf(current.id)).length === 1 ? true : undefined));
    await runtime.close();
    // What an agent killed before stopping v1 would leave: v1's pod (revision 0) beside v2's (revision 1).
    // podman 4.3 prints one object for one pod (later versions an array).
    const parsed = JSON.parse(await podman('pod', 'inspect', await podName(current.id, '0.1'))) as unknown;
    const inspected = (Array.isArray(parsed) ? parsed[0] : parsed) as { Labels: Record<string, string> };
    const labels = { ...inspected.Labels, 'outpost.dev/revision': '0', 'outpost.dev/hash': 'v1' };
    const spec = (graceful(name, dir, 'v1').object.spec as { template: { spec: Record<string, unknown> } })
      .template.spec;
    const leftoverName = `${inspected.Labels['outpost.dev/owner']}-${current.id}-0`;
    // With its hostname, as the runtime plays it: else podman takes the pod name, longer than a hostname may be.
    const leftover = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: leftoverName, labels },
      spec: { ...spec, hostname: `${name}-0` },
    };
    const child = execFile('podman', ['play', 'kube', '--start=true', '-'], {
      env: { ...process.env, CONTAINERS_CONF: CONF },
    });
    child.stdin?.end(JSON.stringify(leftover));
    await new Promise((resolve) => child.on('close', resolve));
    await poll('v1 running again', async () =>
      (await lines(dir)).filter((l) => l === 'v1 start').length === 2 ? true : undefined,
    );
    assert.deepEqual(await podsOf(current.id), [`${current.id}-0`, `${current.id}-0.1`]);

    const next = createPodmanRuntime({ dataDir, resyncMs: 1000 });
    await next.start();
    cleanups.push(() => next.close({ stopUnits: true }));
    const adopted = (await next.list()).find((u) => u.id === current.id);
    assert.equal(adopted?.hash, 'v2', 'the newest revision is the unit');
    await poll('the leftover stopped', async () =>
      (await lines(dir)).filter((l) => l === 'v1 done').length === 2 ? true : undefined,
    );
    await poll('its pod gone', async () => ((await podsOf(current.id)).length === 1 ? true : undefined));
    assert.deepEqual(await podsOf(current.id), [`${current.id}-0.1`]);
  });

  for (const [what, options] of [
    ['a Recreate Deployment', { strategy: { type: 'Recreate' } }],
    ['a Pod', { kind: 'Pod' }],
  ] as const) {
    test(`${what} stops the old version gracefully before starting the new one`, async () => {
      const { runtime, dir } = await newRuntime();
      const name = `recreate-${options.kind ?? 'deploy'}-${process.pid}`.toLowerCase();
      await runtime.apply(graceful(name, dir, 'v1', options));
      await logged(dir, 'v1 start');
      const next = graceful(name, dir, 'v2', options);
      await runtime.apply(next);
      const order = await logged(dir, 'v2 start');
      assert.deepEqual(order, ['v1 start', 'v1 term', 'v1 done', 'v2 start']);
      assert.deepEqual(await podsOf(next.id), [`${next.id}-0`]);
    });
  }
});
