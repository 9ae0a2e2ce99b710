/**
 * Fetching before an update window opens (issue 19), against the real
 * podman (runc, the locally built localhost/busybox:latest): while a new
 * version of a rootless unit waits for its window, the agent's reconciler
 * has the runtime copy the new version's image from the rootful store into
 * the unprivileged user's store (images are never pulled: the rootful store
 * is where images are built or loaded, notes/podman.md), reports that the
 * image is on the device, and leaves the running version running. The
 * rootless store is read with its own podman, not through the runtime.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { describe, test } from 'node:test';
import pino from 'pino';
import { desiredStateOf, type MailboxStatus, UnitReconciler } from '../../src/agent/reconcile/index.ts';
import type { Mailbox, MailboxObject } from '../../src/api/index.ts';
import { PODMAN_TEST_IMAGE as IMAGE, podmanUnits, usePodmanTestEnvironment } from '../support/index.ts';

const ROOTLESS_USER = 'outpost-workloads';
const env = usePodmanTestEnvironment('podman-prefetch');
const { podman, cleanups } = env;
const { newRuntime, running } = podmanUnits(env);

/** Runs the rootless user's own podman (as the runtime runs it); resolves with whether it succeeded. */
async function rootlessPodman(...podmanArgs: string[]): Promise<boolean> {
  const passwd = await readFile('/etc/passwd', 'utf8');
  const fields = passwd
    .split('\n')
    .find((line) => line.startsWith(`${ROOTLESS_USER}:`))
    ?.split(':');
  assert.ok(fields, `user ${ROOTLESS_USER} exists once a rootless unit ran`);
  const args = [
    '-u',
    ROOTLESS_USER,
    '--',
    'env',
    `HOME=${fields[5]}`,
    `XDG_RUNTIME_DIR=/run/user/${fields[2]}`,
    `CONTAINERS_CONF=${env.conf}`,
    'podman',
    ...podmanArgs,
  ];
  return new Promise((resolve) => execFile('runuser', args, (error) => resolve(!error)));
}

const inRootlessStore = (image: string) => rootlessPodman('image', 'exists', image);

describe('podman: a unit waiting for its update window fetches its images', { timeout: 600_000 }, () => {
  test("copies the new version's image into the rootless store and says so, the old version running", async () => {
    const { runtime } = await newRuntime();
    const next = `localhost/outpost-prefetch-${process.pid}:2`;
    await podman('tag', IMAGE, next);
    cleanups.push(async () => void (await podman('untag', IMAGE, next)));
    // The window opens at 03:00 UTC; the reconciler's clock says 01:00.
    const updateWindow = { schedule: '0 3 * * *', duration: '1h', timeZone: 'UTC' };
    const entry = (hash: string, image: string): MailboxObject => ({
      source: { namespace: 'default', workload: 'prefetch', placement: 'p' },
      hash,
      rootless: true,
      updateWindow,
      object: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: `prefetch-${process.pid}`, namespace: 'default' },
        spec: {
          terminationGracePeriodSeconds: 0,
          containers: [{ name: 'main', image, command: ['sh', '-c', 'exec sleep 3600'] }],
        },
      } as MailboxObject['object'],
    });
    const mailbox = (objects: MailboxObject[]) =>
      ({
        apiVersion: 'outpost.dev/v1alpha1',
        kind: 'Mailbox',
        metadata: { name: 'dev', generation: 1 },
        spec: { objects },
      }) as Mailbox;
    const reports: MailboxStatus[] = [];
    const reconciler = new UnitReconciler({
      runtime,
      log: pino({ level: 'silent' }),
      now: () => new Date('2026-12-08T01:00:00Z'),
      onStatus: async (status) => void reports.push(status),
    });
    const first = [entry('sha256:v1', IMAGE)];
    const unit = desiredStateOf(first).units[0]!;
    reconciler.setDesired(mailbox(first));
    await reconciler.pass();
    const v1 = await running(runtime, unit.id, 120_000);
    assert.equal(await inRootlessStore(next), false, 'the new image is only in the rootful store so far');

    reconciler.setDesired(mailbox([entry('sha256:v2', next)]));
    await reconciler.pass();
    const status = reports.at(-1)!.objects![0]!;
    assert.deepEqual(
      { phase: status.phase, reason: status.reason, message: status.message },
      {
        phase: 'Pending',
        reason: 'WaitingForUpdateWindow',
        message: 'the update window opens at 2026-12-08T03:00:00.000Z; its images are on the device',
      },
    );
    assert.equal(await inRootlessStore(next), true, 'copied into the rootless store before the window');
    cleanups.push(async () => void (await rootlessPodman('untag', next)));
    const still = (await runtime.list()).find((u) => u.id === unit.id);
    assert.equal(still?.hash, v1.hash, 'the first version still runs');

    // An image no store has: the wait says which one is missing, and nothing changes.
    reconciler.setDesired(mailbox([entry('sha256:v3', `localhost/outpost-absent-${process.pid}:3`)]));
    await reconciler.pass();
    assert.equal(
      reports.at(-1)!.objects![0]!.message,
      `the update window opens at 2026-12-08T03:00:00.000Z; image localhost/outpost-absent-${process.pid}:3 not on the device yet`,
    );
    assert.equal((await runtime.list()).find((u) => u.id === unit.id)?.hash, v1.hash);
  });
});
