// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${device...}` placeholders are what is measured.
/**
 * Placement fan-out: 10,000 Devices, 5 Workloads (each a Deployment and a
 * ConfigMap customised per device with `${device.name}` and
 * `${device.labels.site}`), one Placement over all of them. Then one change
 * of the Placement (an override for every device) and the time until every
 * Mailbox is rewritten and committed, with the number of writes; then a
 * no-op resync of every informer, which must write nothing.
 *
 * Baseline, in the same run and process: the same 10,000 Mailboxes (the text
 * the controller stored) written again directly through the Store with
 * `store.update` — first with as many writes in flight as the controller has
 * workers, then all 10,000 at once — the cost of the writes alone, without
 * informers, rendering, validation or managedFields.
 *
 * In process: ObjectService + SqliteStore (`synchronous=FULL`, as the hub
 * runs) + the placement controllers on the controller runtime.
 *
 *   npm run bench -- placement-fanout        (BENCH_DEVICES=N to change the fleet size)
 *
 * `BENCH_FANOUT_PROFILE=FILE` writes a CPU profile of the Placement change
 * phase (read it with `node --import tsx bench/profile-summary.ts FILE`).
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { ALL_KINDS, KindRegistry, type KubeObject } from '../src/api/index.ts';
import { Manager } from '../src/controller/index.ts';
import { addPlacementControllers } from '../src/hub/controllers/index.ts';
import { ObjectService, parse } from '../src/hub/kube-api/index.ts';
import { SqliteStore, type StoredObject } from '../src/store/index.ts';
import { removeDir, tempDir } from '../test/support/index.ts';
import { fmt, goalLine, machineLoad, ownCpuSeconds, report, table } from './support/index.ts';

const DEVICES = Number(process.env.BENCH_DEVICES) > 0 ? Number(process.env.BENCH_DEVICES) : 10_000;
const WORKLOADS = 5;
const SITES = 20;
const WORKERS = 64;
const GOAL_SECONDS = 5;
const GOAL_RATIO = 2;
const MAILBOXES = '/outpost.dev/mailboxes/';

const dir = await tempDir('outpost-bench-fanout-');
const store = new SqliteStore({ path: join(dir, 'outpost.db'), synchronous: 'FULL' });
const registry = new KindRegistry(ALL_KINDS);
const service = new ObjectService({ store, registry });
const kind = (name: string) => registry.kinds.find((k) => k.kind === name)!;
const abort = new AbortController();
let running: Promise<void> | undefined;

/** Resolves once the store has committed `count` writes under `prefix` from now on; counts every write. */
async function countWrites(prefix: string) {
  const keys = new Set<string>();
  let writes = 0;
  let target = Number.POSITIVE_INFINITY;
  let resolve: (ms: number) => void = () => {};
  const reached = new Promise<number>((r) => {
    resolve = r;
  });
  const stop = new AbortController();
  const watch = await store.watch(
    { prefix, afterRevision: await store.currentRevision(), signal: stop.signal },
    (events) => {
      for (const event of events) {
        writes++;
        keys.add(event.key);
      }
      if (keys.size >= target) resolve(performance.now());
    },
  );
  watch.done.catch(() => {});
  return {
    /** Resolves with the time (performance.now()) at which `count` distinct keys had been written. */
    until(count: number): Promise<number> {
      target = count;
      if (keys.size >= target) resolve(performance.now());
      return reached;
    },
    get writes() {
      return writes;
    },
    stop: () => stop.abort(),
  };
}

async function inBatches(count: number, batch: number, make: (i: number) => Promise<unknown>): Promise<void> {
  for (let first = 0; first < count; first += batch) {
    const pending: Promise<unknown>[] = [];
    for (let i = first; i < Math.min(count, first + batch); i++) pending.push(make(i));
    await Promise.all(pending);
  }
}

function workload(i: number): KubeObject {
  const name = `app-${i}`;
  return {
    apiVersion: 'outpost.dev/v1alpha1',
    kind: 'Workload',
    metadata: { name, namespace: 'fleet', labels: { fleet: 'all' } },
    spec: {
      resources: [
        {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name, labels: { app: name } },
          spec: {
            replicas: 1,
            selector: { matchLabels: { app: name } },
            template: {
              metadata: { labels: { app: name } },
              spec: {
                containers: [
                  {
                    name,
                    image: `registry.local/${name}:1.0.${i}`,
                    env: [
                      { name: 'SITE', value: '${device.labels.site}' },
                      { name: 'DEVICE', value: '${device.name}' },
                    ],
                    resources: { limits: { memory: '64Mi', cpu: '100m' } },
                  },
                ],
              },
            },
          },
        },
        {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: `${name}-config` },
          data: { 'config.yaml': `device: \${device.name}\nsite: \${device.labels.site}\nlevel: info\n` },
        },
      ],
    },
  };
}

async function settled(controllers: ReturnType<typeof addPlacementControllers>): Promise<void> {
  for (let quiet = 0; quiet < 3; ) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    quiet = controllers.idle() ? quiet + 1 : 0;
  }
}

try {
  const fm = { fieldManager: 'bench' };
  const started = performance.now();
  await service.create(
    kind('Namespace'),
    undefined,
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'fleet' } },
    fm,
  );
  await inBatches(DEVICES, 500, (i) =>
    service.create(
      kind('Device'),
      undefined,
      {
        apiVersion: 'outpost.dev/v1alpha1',
        kind: 'Device',
        metadata: {
          name: `gw-${String(i).padStart(5, '0')}`,
          labels: { site: `site-${i % SITES}`, tier: 'edge' },
        },
        spec: { heartbeat: { periodSeconds: 15 } },
      },
      fm,
    ),
  );
  for (let i = 0; i < WORKLOADS; i++) await service.create(kind('Workload'), 'fleet', workload(i), fm);
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
      },
    },
    fm,
  );
  const populated = (performance.now() - started) / 1000;

  // Start the controllers: the first fan-out creates every Mailbox.
  const manager = new Manager({ client: service });
  const controllers = addPlacementControllers(manager, { mailboxWorkers: WORKERS });
  const initial = await countWrites(MAILBOXES);
  const firstCpuBefore = ownCpuSeconds();
  const firstStart = performance.now();
  running = manager.start(abort.signal);
  const firstDone = await initial.until(DEVICES);
  const firstSeconds = (firstDone - firstStart) / 1000;
  const firstCpu = ownCpuSeconds() - firstCpuBefore;
  await settled(controllers);
  initial.stop();

  // One Placement change: an override for every device, so every Mailbox changes.
  const placement = parse(await service.get(kind('Placement'), 'fleet', 'everywhere'));
  const change = await countWrites(MAILBOXES);
  const profile = process.env.BENCH_FANOUT_PROFILE;
  const session = profile ? new Session() : undefined;
  if (session) {
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
  }
  const cpuBefore = ownCpuSeconds();
  const changeStart = performance.now();
  await service.update(
    kind('Placement'),
    'fleet',
    'everywhere',
    {
      ...placement,
      spec: {
        ...(placement.spec as object),
        customization: {
          overrides: [
            {
              deviceSelector: { matchLabels: { tier: 'edge' } },
              target: { kind: 'Deployment' },
              patch: [
                {
                  op: 'replace',
                  path: '/spec/template/spec/containers/0/resources/limits/memory',
                  value: '96Mi',
                },
              ],
            },
          ],
        },
      },
    },
    fm,
  );
  const changeDone = await change.until(DEVICES);
  const changeSeconds = (changeDone - changeStart) / 1000;
  const changeCpu = ownCpuSeconds() - cpuBefore;
  if (session && profile) {
    const { profile: data } = await session.post('Profiler.stop');
    writeFileSync(profile, JSON.stringify(data));
    session.disconnect();
  }
  await settled(controllers);
  const changeWrites = change.writes;
  change.stop();

  // A no-op resync of every informer: every key reconciled again, nothing written.
  const resync = await countWrites('/');
  const resyncStart = performance.now();
  for (const informer of Object.values(controllers.informers)) informer.resync();
  await settled(controllers);
  const resyncSeconds = (performance.now() - resyncStart) / 1000;
  const resyncWrites = resync.writes;
  resync.stop();
  abort.abort();
  await running;
  running = undefined;

  // Baseline: the same Mailboxes written again directly through the Store.
  const { items } = await service.list(kind('Mailbox'), undefined, {});
  const prepared = items.map((item: StoredObject) => ({ key: item.key, object: parse(item) }));
  const direct = async (inFlight: number) => {
    const current = new Map<string, number>();
    for (const item of (await service.list(kind('Mailbox'), undefined, {})).items)
      current.set(item.key, item.revision);
    const t0 = performance.now();
    const cpu0 = ownCpuSeconds();
    await inBatchesRolling(prepared.length, inFlight, async (i) => {
      const { key, object } = prepared[i]!;
      await store.update(key, current.get(key)!, (revision) => {
        object.metadata.resourceVersion = String(revision);
        return JSON.stringify(object);
      });
    });
    return { seconds: (performance.now() - t0) / 1000, cpu: ownCpuSeconds() - cpu0 };
  };
  const { seconds: baselineWorkers, cpu: baselineWorkersCpu } = await direct(WORKERS);
  const { seconds: baselineAll, cpu: baselineAllCpu } = await direct(prepared.length);
  // For attribution: the same Mailboxes through ObjectService.update (validation, managedFields,
  // size check), as the controller writes them (the body borrowed, the stored object at hand),
  // without informers or rendering.
  const throughService = async (inFlight: number) => {
    const current = (await service.list(kind('Mailbox'), undefined, {})).items.map(parse);
    const t0 = performance.now();
    const cpu0 = ownCpuSeconds();
    await inBatchesRolling(current.length, inFlight, async (i) => {
      const object = current[i]!;
      const body = {
        ...object,
        metadata: { ...object.metadata, annotations: { 'bench.outpost.dev/pass': '2' } },
      };
      await service.update(kind('Mailbox'), undefined, object.metadata.name!, body, {
        ...fm,
        borrowBody: true,
        stored: object,
      });
    });
    return { seconds: (performance.now() - t0) / 1000, cpu: ownCpuSeconds() - cpu0 };
  };
  const { seconds: serviceWorkers, cpu: serviceWorkersCpu } = await throughService(WORKERS);
  const cpuPerWrite = (cpu: number) => fmt((cpu * 1e6) / DEVICES, 0);
  const bytes = items.reduce((n, item) => n + item.value.length, 0) / items.length;

  console.log(
    `placement-fanout: ${DEVICES} devices, ${WORKLOADS} workloads (Deployment + ConfigMap, customised per device), one Placement`,
  );
  console.log(
    `(in process: ObjectService + SqliteStore synchronous=FULL + ${WORKERS} mailbox workers; populated in ${fmt(populated, 1)} s; Mailbox ${fmt(bytes / 1000, 1)} kB on average)`,
  );
  console.log(`${machineLoad()}\n`);
  console.log(
    table(
      ['phase', 'seconds', 'Mailbox writes', 'writes/s', 'CPU µs/write'],
      [
        [
          'first fan-out (creates every Mailbox)',
          fmt(firstSeconds, 2),
          String(DEVICES),
          fmt(DEVICES / firstSeconds, 0),
          cpuPerWrite(firstCpu),
        ],
        [
          'one Placement change -> every Mailbox',
          fmt(changeSeconds, 2),
          String(changeWrites),
          fmt(DEVICES / changeSeconds, 0),
          cpuPerWrite(changeCpu),
        ],
        ['no-op resync of every informer', fmt(resyncSeconds, 2), String(resyncWrites), '-', '-'],
        [
          `baseline: store.update, ${WORKERS} in flight`,
          fmt(baselineWorkers, 2),
          String(DEVICES),
          fmt(DEVICES / baselineWorkers, 0),
          cpuPerWrite(baselineWorkersCpu),
        ],
        [
          `baseline: store.update, all ${DEVICES} at once`,
          fmt(baselineAll, 2),
          String(DEVICES),
          fmt(DEVICES / baselineAll, 0),
          cpuPerWrite(baselineAllCpu),
        ],
        [
          `(attribution) ObjectService.update, ${WORKERS} in flight`,
          fmt(serviceWorkers, 2),
          String(DEVICES),
          fmt(DEVICES / serviceWorkers, 0),
          cpuPerWrite(serviceWorkersCpu),
        ],
      ],
    ),
  );
  const ratio = changeSeconds / baselineWorkers;
  const ratioAll = changeSeconds / baselineAll;
  console.log(
    `\nPlacement change / baseline: ${fmt(ratio, 2)}x (${WORKERS} in flight), ${fmt(ratioAll, 2)}x (all at once); ` +
      `process CPU during the change ${fmt(changeCpu, 2)} s; ` +
      `CPU per write: change / baseline ${fmt(changeCpu / baselineWorkersCpu, 2)}x, ObjectService.update / baseline ${fmt(serviceWorkersCpu / baselineWorkersCpu, 2)}x`,
  );
  console.log(machineLoad());
  const met =
    changeSeconds <= GOAL_SECONDS && ratio <= GOAL_RATIO && changeWrites === DEVICES && resyncWrites === 0;
  console.log(
    goalLine(
      `every Mailbox committed within ${GOAL_SECONDS} s and ${GOAL_RATIO}x the direct-write baseline, one write each, a no-op resync writes nothing`,
      met,
    ),
  );
  report('placement-fanout', {
    goalMet: met,
    devices: DEVICES,
    firstSeconds,
    changeSeconds,
    changeWrites,
    resyncWrites,
    baselineWorkers,
    baselineAll,
    serviceWorkers,
    ratio,
    changeCpu,
    baselineWorkersCpu,
    serviceWorkersCpu,
  });
} finally {
  abort.abort();
  await running;
  await store.close();
  await removeDir(dir);
}

/** Runs `make(0..count-1)` with at most `inFlight` pending at once. */
async function inBatchesRolling(
  count: number,
  inFlight: number,
  make: (i: number) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < count) await make(next++);
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, count) }, lane));
}
