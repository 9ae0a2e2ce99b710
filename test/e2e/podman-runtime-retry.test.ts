/**
 * The podman runtime with a unit's retry policy (the Workload's `spec.retry`
 * as the Mailbox carries it), against the real podman (runc, the locally
 * built localhost/busybox:latest): a constant policy gives a container up
 * after `maxRetries`, a new runtime on the same data dir (an agent restart)
 * keeps it given up and restarts nothing, and a new version counts again.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  type ActualUnit,
  createPodmanRuntime,
  type DesiredUnit,
  type Runtime,
  unitIdOf,
} from '../../src/agent/runtime/index.ts';
import type { RetryTiming } from '../../src/api/index.ts';
import { PODMAN_TEST_IMAGE as IMAGE, usePodmanTestEnvironment, waitFor } from '../support/index.ts';

const { podman, cleanups } = usePodmanTestEnvironment('podman-retry-test');

async function newRuntime(dataDir: string): Promise<Runtime> {
  const runtime = createPodmanRuntime({ dataDir, resyncMs: 1000 });
  await runtime.start();
  cleanups.push(() => runtime.close({ stopUnits: true }));
  return runtime;
}

function crasher(hash: string, retry: RetryTiming): DesiredUnit {
  const name = `retry-${process.pid}`;
  const object = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default' },
    spec: {
      terminationGracePeriodSeconds: 0,
      containers: [{ name: 'main', image: IMAGE, command: ['sh', '-c', 'echo run; exit 3'] }],
    },
  };
  const source = { namespace: 'default', workload: 'retry', placement: 'retry' };
  const ref = { apiVersion: 'v1', kind: 'Pod', namespace: 'default', name };
  return {
    id: unitIdOf(source, ref),
    source,
    ref,
    object,
    objectHash: hash,
    hash,
    configMaps: new Map(),
    secrets: new Map(),
    rootless: false,
    retry,
  };
}

async function unitOf(runtime: Runtime, id: string): Promise<ActualUnit | undefined> {
  return (await runtime.list()).find((u) => u.id === id);
}

/** podman's start time of the unit's container (changes with every start). */
async function startedAt(id: string): Promise<string> {
  return (await podman('ps', '-a', '--filter', `label=outpost.dev/unit=${id}`, '--format', '{{.StartedAt}}'))
    .split('\n')
    .filter(Boolean)
    .join();
}

describe('podman runtime with a retry policy', () => {
  test('gives a container up after maxRetries, keeps it given up across an agent restart, counts again for a new version', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'outpost-podman-retry-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const retry: RetryTiming = { initialMs: 500, factor: 1, maxMs: 500, maxRetries: 2 };
    const first = crasher('h1', retry);
    const runtime = await newRuntime(dataDir);
    await runtime.apply(first);
    const failed = await waitFor(
      'given up',
      async () => {
        const found = await unitOf(runtime, first.id);
        return found?.status.phase === 'Failed' ? found : undefined;
      },
      120_000,
      100,
    );
    assert.equal(failed.status.reason, 'RetryLimitExceeded');
    assert.equal(failed.status.restarts, 2);
    assert.equal(failed.status.exitCode, 3);
    assert.equal(failed.status.nextRetryTime, undefined);
    assert.match(failed.status.message ?? '', /after 2 restarts: spec\.retry\.maxRetries is 2/);
    const output = await podman(
      'logs',
      (await podman('ps', '-a', '-q', '--filter', `label=outpost.dev/unit=${first.id}`)).trim(),
    );
    assert.equal(output.split('\n').filter((l) => l === 'run').length, 3, 'the first run and 2 restarts');

    // An agent restart: the new runtime adopts the pod, reads the count and the policy, restarts nothing.
    await runtime.close();
    const before = await startedAt(first.id);
    const next = await newRuntime(dataDir);
    const adopted = await unitOf(next, first.id);
    assert.equal(adopted?.status.phase, 'Failed');
    assert.equal(adopted?.status.reason, 'RetryLimitExceeded');
    assert.equal(adopted?.status.restarts, 2);
    await new Promise((resolve) => setTimeout(resolve, 2500)); // two resyncs, five delays
    assert.equal(await startedAt(first.id), before, 'not started again');
    assert.equal((await unitOf(next, first.id))?.status.reason, 'RetryLimitExceeded');

    // A new version (the Workload changed): counting starts again.
    const second = crasher('h2', retry);
    await next.apply(second);
    const retrying = await waitFor(
      'the new version retrying',
      async () => {
        const found = await unitOf(next, second.id);
        return found?.hash === 'h2' && found.status.nextRetryTime ? found : undefined;
      },
      120_000,
      50,
    );
    assert.equal(retrying.status.reason, 'CrashLoopBackOff');
    assert.match(retrying.status.message ?? '', /restart [12] of 2 in 500 ms/);
    const failedAgain = await waitFor(
      'the new version given up',
      async () => {
        const found = await unitOf(next, second.id);
        return found?.hash === 'h2' && found.status.phase === 'Failed' ? found : undefined;
      },
      120_000,
      100,
    );
    assert.equal(failedAgain.status.restarts, 2);
  });
});
