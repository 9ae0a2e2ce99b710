/**
 * Rollout batches: 10,000 Devices, one Workload, one Placement rolling a new
 * revision out in 10 batches of 10 % (nine `limit: 10%` batches and the
 * implicit last one). The bench plays the agents: once a batch's Mailboxes
 * hold the new revision, it reports every one of them Running and ready (a
 * status write per Mailbox, 64 at a time). Measured per batch: the
 * controllers' overhead, from the last report of batch n committed to every
 * Mailbox of batch n+1 committed with the new revision (the rollout
 * controller noticing, its status write, the mailbox controller
 * re-rendering). Goal: under 1 s per batch of 1,000.
 *
 * Baseline, in the same run: the agents' reports of one batch (1,000 status
 * writes through ObjectService, 64 in flight) — what writing a batch's worth
 * of Mailboxes costs at all.
 *
 * In process: ObjectService + SqliteStore (`synchronous=FULL`) + the
 * placement controllers.
 *
 *   npm run bench -- rollout-batches        (BENCH_DEVICES=N to change the fleet size)
 */
import { join } from 'node:path';
import { ALL_KINDS, KindRegistry, type KubeObject, type Mailbox } from '../src/api/index.ts';
import { Manager } from '../src/controller/index.ts';
import { addPlacementControllers } from '../src/hub/controllers/index.ts';
import { ObjectService, parse } from '../src/hub/kube-api/index.ts';
import { SqliteStore } from '../src/store/index.ts';
import { removeDir, tempDir } from '../test/support/index.ts';
import { fmt, goalLine, machineLoad, report, table } from './support/index.ts';

const DEVICES = Number(process.env.BENCH_DEVICES) > 0 ? Number(process.env.BENCH_DEVICES) : 10_000;
const BATCHES = 10;
const IN_FLIGHT = 64;
const GOAL_SECONDS_PER_1000 = 1;

const dir = await tempDir('outpost-bench-rollout-');
const store = new SqliteStore({ path: join(dir, 'outpost.db'), synchronous: 'FULL' });
const registry = new KindRegistry(ALL_KINDS);
const service = new ObjectService({ store, registry });
const kind = (name: string) => registry.kinds.find((k) => k.kind === name)!;
const abort = new AbortController();
const fm = { fieldManager: 'bench' };
const names = Array.from({ length: DEVICES }, (_, i) => `gw-${String(i).padStart(5, '0')}`);

async function rolling(
  count: number,
  inFlight: number,
  work: (i: number) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(inFlight, count) }, async () => {
      while (next < count) await work(next++);
    }),
  );
}

function workload(version: string): KubeObject {
  return {
    apiVersion: 'outpost.dev/v1alpha1',
    kind: 'Workload',
    metadata: { name: 'app', namespace: 'fleet', labels: { fleet: 'all' } },
    spec: {
      resources: [
        {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: 'app' },
          spec: { containers: [{ name: 'app', image: `registry.local/app:${version}` }] },
        },
      ],
    },
  };
}

/**
 * Follows every Mailbox write as the agents do (a watch, not polling, which
 * would compete with the controllers for the event loop): each device's
 * latest Mailbox and when (performance.now(), at commit) it first held
 * each revision of the Placement's objects.
 */
const latest = new Map<string, KubeObject>();
const heldSince = new Map<string, Map<number, number>>();
let onMailbox: () => void = () => {};
const watchStop = new AbortController();
const mailboxWatch = await service.watch(
  kind('Mailbox'),
  undefined,
  { afterRevision: await service.currentRevision(), signal: watchStop.signal },
  (events) => {
    const at = performance.now();
    for (const event of events) {
      if (event.type === 'DELETED') continue;
      const mailbox = parse(event);
      const name = mailbox.metadata.name!;
      latest.set(name, mailbox);
      const objects = (mailbox.spec as Mailbox['spec'])?.objects ?? [];
      const revision = objects[0]?.revision;
      if (revision === undefined || !objects.every((o) => o.revision === revision)) continue;
      const since = heldSince.get(name) ?? new Map<number, number>();
      if (!since.has(revision)) since.set(revision, at);
      heldSince.set(name, since);
    }
    onMailbox();
  },
);
mailboxWatch.done.catch(() => {});
/** When (performance.now(), at commit) the Placement's status first released each batch count. */
const releasedAt = new Map<number, number>();
const placementWatch = await service.watch(
  kind('Placement'),
  'fleet',
  { afterRevision: await service.currentRevision(), signal: watchStop.signal },
  (events) => {
    const at = performance.now();
    for (const event of events) {
      const rollout = (parse(event).status as { rollout?: { releasedBatches?: number } } | undefined)
        ?.rollout;
      const released = rollout?.releasedBatches;
      if (released !== undefined && !releasedAt.has(released)) releasedAt.set(released, at);
    }
  },
);
placementWatch.done.catch(() => {});

/** Plays the agent: reports every object of the Mailbox Running and ready at its current hash. */
async function reportRunning(mailbox: KubeObject): Promise<void> {
  const objects = (mailbox.spec as Mailbox['spec'])?.objects ?? [];
  const status = {
    objects: objects.map((o) => ({
      ref: {
        apiVersion: o.object.apiVersion,
        kind: o.object.kind,
        namespace: o.object.metadata.namespace,
        name: o.object.metadata.name,
      },
      observedHash: o.hash,
      phase: 'Running',
      ready: true,
      restarts: 0,
    })),
  };
  await service.update(
    kind('Mailbox'),
    undefined,
    mailbox.metadata.name!,
    { ...mailbox, status },
    fm,
    'status',
  );
}

/**
 * Resolves when every named device's Mailbox holds `revision`: their latest
 * Mailboxes, and when the last of them was committed.
 */
async function untilHeld(
  batch: readonly string[],
  revision: number,
): Promise<{ mailboxes: KubeObject[]; committed: number }> {
  const committedAt = () => {
    let last = 0;
    for (const name of batch) {
      const at = heldSince.get(name)?.get(revision);
      if (at === undefined) return undefined;
      last = Math.max(last, at);
    }
    return last;
  };
  await new Promise<void>((resolve) => {
    onMailbox = () => {
      if (committedAt() !== undefined) resolve();
    };
    onMailbox();
  });
  onMailbox = () => {};
  return { mailboxes: batch.map((name) => latest.get(name)!), committed: committedAt()! };
}

try {
  await service.create(
    kind('Namespace'),
    undefined,
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'fleet' } },
    fm,
  );
  await rolling(DEVICES, 500, (i) =>
    service.create(
      kind('Device'),
      undefined,
      {
        apiVersion: 'outpost.dev/v1alpha1',
        kind: 'Device',
        metadata: { name: names[i], labels: { tier: 'edge' } },
      },
      fm,
    ),
  );
  await service.create(kind('Workload'), 'fleet', workload('1.0'), fm);
  await service.create(
    kind('Placement'),
    'fleet',
    {
      apiVersion: 'outpost.dev/v1alpha1',
      kind: 'Placement',
      metadata: { name: 'everywhere', namespace: 'fleet' },
      spec: {
        workloadSelector: { matchLabels: { fleet: 'all' } },
        deviceSelector: { matchExpressions: [{ key: 'tier', operator: 'Exists' }] },
        rollout: {
          strategy: 'Batches',
          batches: Array.from({ length: BATCHES - 1 }, () => ({ limit: `${100 / BATCHES}%` })),
          progressDeadlineSeconds: 3600,
        },
      },
    },
    fm,
  );
  const manager = new Manager({ client: service });
  addPlacementControllers(manager, { rolloutRecheckMs: 60_000 });
  const running = manager.start(abort.signal);
  // Revision 1 everywhere, reported running.
  const first = (await untilHeld(names, 1)).mailboxes;
  await rolling(first.length, IN_FLIGHT, (i) => reportRunning(first[i]!));

  // Profiled from here when preloaded with bench/support/cpu-profiler.mjs (BENCH_HUB_PROFILE=DIR).
  if (process.env.BENCH_HUB_PROFILE) process.kill(process.pid, 'SIGUSR2');
  // Revision 2 in batches; batch k holds devices [k*size, (k+1)*size) in name order.
  const size = Math.ceil(DEVICES / BATCHES);
  const batches = Array.from({ length: BATCHES }, (_, k) => names.slice(k * size, (k + 1) * size));
  const stored = parse(await service.get(kind('Workload'), 'fleet', 'app'));
  await service.update(kind('Workload'), 'fleet', 'app', { ...stored, spec: workload('2.0').spec }, fm);
  const overheads: number[] = [];
  /** Of each overhead: from the last report to the rollout controller's status releasing the next batch. */
  const decisions: number[] = [];
  const reportTimes: number[] = [];
  let held = (await untilHeld(batches[0]!, 2)).mailboxes;
  for (let k = 0; k < BATCHES; k++) {
    const t0 = performance.now();
    await rolling(held.length, IN_FLIGHT, (i) => reportRunning(held[i]!));
    const reported = performance.now();
    reportTimes.push((reported - t0) / 1000);
    if (k + 1 === BATCHES) break;
    const next = await untilHeld(batches[k + 1]!, 2);
    held = next.mailboxes;
    overheads.push((next.committed - reported) / 1000);
    decisions.push(((releasedAt.get(k + 2) ?? Number.NaN) - reported) / 1000);
  }
  abort.abort();
  await running;

  const perThousand = (seconds: number, devices: number) => (seconds * 1000) / devices;
  const worst = Math.max(...overheads);
  const mean = overheads.reduce((a, b) => a + b, 0) / overheads.length;
  const baseline = reportTimes.reduce((a, b) => a + b, 0) / reportTimes.length;
  console.log(`rollout-batches: ${DEVICES} devices, one Workload, ${BATCHES} batches of ${size}`);
  console.log(
    '(in process: ObjectService + SqliteStore synchronous=FULL + placement controllers; the bench reports for the agents)',
  );
  console.log(`${machineLoad()}\n`);
  console.log(
    table(
      ['batch n -> n+1', 'overhead s', 'of which: batch released s', 'per 1,000 devices s'],
      overheads.map((s, k) => [
        `${k + 1} -> ${k + 2}`,
        fmt(s, 2),
        fmt(decisions[k]!, 2),
        fmt(perThousand(s, size), 2),
      ]),
    ),
  );
  console.log(
    `\nmean overhead ${fmt(mean, 2)} s, worst ${fmt(worst, 2)} s; baseline (one batch's ${size} agent reports, ${IN_FLIGHT} in flight) ${fmt(baseline, 2)} s; ratio mean/baseline ${fmt(mean / baseline, 2)}`,
  );
  const met = perThousand(worst, size) < GOAL_SECONDS_PER_1000;
  console.log(
    goalLine(
      `controller overhead per batch under ${GOAL_SECONDS_PER_1000} s per 1,000 devices (worst batch)`,
      met,
    ),
  );
  report('rollout-batches', {
    devices: DEVICES,
    batches: BATCHES,
    meanOverheadSeconds: mean,
    meanReleaseSeconds: decisions.reduce((a, b) => a + b, 0) / decisions.length,
    worstOverheadSeconds: worst,
    baselineSeconds: baseline,
    met,
  });
} finally {
  abort.abort();
  watchStop.abort();
  await store.close();
  await removeDir(dir);
}
