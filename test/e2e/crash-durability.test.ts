// Kills the hub with SIGKILL in the middle of a concurrent write and watch
// load, restarts it on the same data dir several times, then checks the
// recorded history (etcd's robustness tests in miniature): no acknowledged
// write lost, revisions never reused, watches ordered and gap-free across
// resumes, nothing half-written. OUTPOST_CRASH_SEED=N replays a seed's choices
// (timing still varies from run to run).
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import {
  type ApiClient,
  apiClient,
  type HubProcess,
  removeDir,
  startHubProcess,
  tempDir,
} from '../support/index.ts';
import {
  checkHistory,
  checkStoreFile,
  collectionPath,
  digestOf,
  type FinalObject,
  inspectConfigMap,
  makeData,
  type ObservedEvent,
  Recorder,
  resumeRevision,
  seededRandom,
  type WatcherRecord,
  type WriteRecord,
  Writer,
  watchDispatcher,
  watchSession,
} from './crash-durability/index.ts';

const CYCLES = 5;
const NAMESPACES = ['crash-a', 'crash-b'] as const;
/** Six writers share ten objects in one namespace, two share four in the other: conflicts are frequent. */
const WRITER_NAMESPACES = [0, 0, 0, 0, 0, 0, 1, 1] as const;
const NAMES = [
  Array.from({ length: 10 }, (_, i) => `cm-${i}`),
  Array.from({ length: 4 }, (_, i) => `cm-${i}`),
];
/** Watchers join in different cycles; one watches every namespace; the last starts from a past revision. */
const WATCHERS = [
  { name: 'watcher-a', namespace: 'crash-a', fromCycle: 0, fromPast: false },
  { name: 'watcher-all', namespace: undefined, fromCycle: 1, fromPast: false },
  { name: 'watcher-b', namespace: 'crash-b', fromCycle: 2, fromPast: false },
  { name: 'watcher-a-late', namespace: 'crash-a', fromCycle: 3, fromPast: true },
] as const;
/** Load per cycle: until a seeded number of writes is acknowledged, or this long at most. */
const MIN_ACKS = 10;
const MAX_ACKS = 150;
const MAX_LOAD_MS = 2000;

interface Run {
  readonly t: TestContext;
  readonly seed: number;
  readonly random: () => number;
  readonly dataDir: string;
  readonly recorder: Recorder;
  readonly writers: readonly Writer[];
  readonly watchers: WatcherRecord[];
  readonly killedAt: number[];
  baseRevision: number;
}

test('no acknowledged write is lost, no revision reused and no watch event skipped when the hub is SIGKILLed mid-load', {
  timeout: 240_000, // a guard against hangs; the test takes well under a minute on an idle machine
}, async (t) => {
  const seed = Number(process.env.OUTPOST_CRASH_SEED ?? randomInt(2 ** 31));
  t.diagnostic(`seed ${seed} (replay with OUTPOST_CRASH_SEED=${seed})`);
  const random = seededRandom(seed);
  const recorder = new Recorder();
  const run: Run = {
    t,
    seed,
    random,
    dataDir: await tempDir('outpost-crash-'),
    recorder,
    writers: WRITER_NAMESPACES.map(
      (ns, i) => new Writer(i, NAMESPACES[ns], NAMES[ns]!, Math.floor(random() * 2 ** 32), recorder),
    ),
    watchers: [],
    killedAt: [],
    baseRevision: 0,
  };
  let hub: HubProcess | undefined;
  try {
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      hub = await startHubProcess({ dataDir: run.dataDir });
      await loadAndKill(run, hub, cycle);
    }
    hub = await startHubProcess({ dataDir: run.dataDir });
    await verify(run, hub);
  } finally {
    await hub?.stop('SIGKILL');
    await removeDir(run.dataDir);
  }
});

/** One cycle: writers and watchers against the hub until the seeded moment, then SIGKILL while requests are in flight. */
async function loadAndKill(run: Run, hub: HubProcess, cycle: number): Promise<void> {
  const { recorder, random } = run;
  const client = apiClient(hub.kubeconfig);
  const watch = watchDispatcher(hub.kubeconfig);
  if (cycle === 0) run.baseRevision = await createNamespaces(client);
  for (const spec of WATCHERS.filter((w) => w.fromCycle === cycle)) {
    const head = cycle === 0 ? run.baseRevision : await listRevision(client, spec.namespace);
    // A watcher from the past first replays history written before the last restarts.
    const startRevision = spec.fromPast
      ? run.baseRevision + Math.floor(random() * (head - run.baseRevision))
      : head;
    run.watchers.push({ name: spec.name, namespace: spec.namespace, startRevision, events: [], errors: [] });
  }
  const target = recorder.acks + MIN_ACKS + Math.floor(random() * (MAX_ACKS - MIN_ACKS));
  const halfway = Math.floor((recorder.acks + target) / 2);
  let killed = false;
  let signalKilled = () => {};
  const killing = new Promise<boolean>((resolve) => {
    signalKilled = () => resolve(false);
  });
  // Half the watchers resume only halfway through the load, so that they
  // replay a backlog while new commits arrive (the hand-over from history to live).
  const sessions = run.watchers.map(async (record, index) => {
    const late = index % 2 === cycle % 2;
    const go = late ? await Promise.race([recorder.waitForAcks(halfway).then(() => true), killing]) : true;
    if (go && !killed) await watchSession({ ...watch, record, afterRevision: resumeRevision(record) });
  });
  const running = run.writers.map((writer) => writer.run(client, cycle, () => killed));
  const loadStart = performance.now();
  const acksBefore = recorder.acks;
  await firstOf([recorder.waitForAcks(target), Promise.all(running)], MAX_LOAD_MS);
  run.killedAt[cycle] = performance.now();
  killed = true;
  signalKilled();
  await hub.stop('SIGKILL');
  run.t.diagnostic(
    `cycle ${cycle}: SIGKILL after ${recorder.acks - acksBefore} acknowledged writes in ${Math.round(run.killedAt[cycle]! - loadStart)} ms`,
  );
  await Promise.all(running);
  await firstOf([Promise.all(sessions)], 10_000, 'watch streams did not end after the hub died');
  await client.close();
  await watch.dispatcher.destroy();
}

/**
 * The last start: reads the final state, writes one sentinel per namespace
 * that every watcher (resumed first) must reach, reads the whole history
 * with one watch, stops the hub cleanly, and checks it all.
 */
async function verify(run: Run, hub: HubProcess): Promise<void> {
  const client = apiClient(hub.kubeconfig);
  const watch = watchDispatcher(hub.kubeconfig);
  const reference: WatcherRecord = {
    name: 'reference',
    namespace: undefined,
    startRevision: run.baseRevision,
    events: [],
    errors: [],
  };
  const targets = new Map<WatcherRecord, number>();
  const aborts = new Map<WatcherRecord, AbortController>();
  const follow = (record: WatcherRecord) => {
    const controller = new AbortController();
    aborts.set(record, controller);
    const onEvent = (event: ObservedEvent) => {
      if (event.revision >= (targets.get(record) ?? Number.POSITIVE_INFINITY)) controller.abort();
    };
    return watchSession({
      ...watch,
      record,
      afterRevision: resumeRevision(record),
      signal: controller.signal,
      onEvent,
    });
  };
  const sessions = run.watchers.map(follow);
  const { finalRevision, finalObjects } = await readFinalState(client);
  const sentinels = new Map<string, number>();
  for (const namespace of NAMESPACES)
    sentinels.set(namespace, await writeSentinel(client, run.recorder, namespace));
  const head = Math.max(...sentinels.values());
  targets.set(reference, head);
  for (const record of run.watchers) {
    targets.set(record, record.namespace === undefined ? head : sentinels.get(record.namespace)!);
    if (resumeRevision(record) >= targets.get(record)!) aborts.get(record)!.abort();
  }
  sessions.push(follow(reference));
  await firstOf([Promise.all(sessions)], 30_000, 'watchers did not reach the sentinels');
  await client.close();
  await watch.dispatcher.destroy();
  await hub.stop();
  assert.equal(hub.process.exitCode, 0, `the hub did not stop cleanly: ${hub.stderr()}`);

  const unfinished = [...run.watchers, reference].filter(
    (record) => resumeRevision(record) < targets.get(record)!,
  );
  const violations = [
    ...unfinished.map(
      (record) => `${record.name}: stopped at @${resumeRevision(record)} before its sentinel`,
    ),
    ...reference.errors.map((error) => `reference: ${error}`),
    ...checkHistory({
      namespaces: NAMESPACES,
      writes: run.recorder.writes,
      reads: run.recorder.reads,
      watchers: run.watchers,
      full: reference.events,
      baseRevision: run.baseRevision,
      finalRevision,
      finalObjects,
      killedAt: run.killedAt,
    }),
    ...(await checkStoreFile({
      path: join(run.dataDir, 'outpost.db'),
      expectedHead: head,
      baseRevision: run.baseRevision,
      namespaces: NAMESPACES,
      reference: reference.events,
    })),
  ];
  const summary = summarize(run, reference.events.length);
  run.t.diagnostic(summary);
  assert.deepEqual(
    violations.slice(0, 40),
    [],
    `seed ${run.seed}: ${violations.length} violations; ${summary}`,
  );
  const interrupted = run.recorder.writes.filter((write) => write.outcome === 'unknown').length;
  assert.ok(interrupted >= CYCLES, `seed ${run.seed}: the kills must interrupt writes in flight; ${summary}`);
}

/** Resolves when the first promise settles, or after `ms` (throwing `timeoutMessage` when given). */
async function firstOf(promises: Promise<unknown>[], ms: number, timeoutMessage?: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve, reject) => {
    timer = setTimeout(() => (timeoutMessage ? reject(new Error(timeoutMessage)) : resolve()), ms);
  });
  try {
    await Promise.race([...promises, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Creates the workload's namespaces; returns the revision after which every ConfigMap event comes. */
async function createNamespaces(client: ApiClient): Promise<number> {
  let revision = 0;
  for (const namespace of NAMESPACES) {
    const created = await client.request('POST', '/api/v1/namespaces', {
      body: { metadata: { name: namespace } },
    });
    assert.equal(created.status, 201, created.text);
    revision = Math.max(revision, Number(created.json().metadata.resourceVersion));
  }
  return revision;
}

async function listRevision(client: ApiClient, namespace: string | undefined): Promise<number> {
  const list = await client.request('GET', `${collectionPath(namespace)}?limit=1`);
  assert.equal(list.status, 200, list.text);
  return Number(list.json().metadata.resourceVersion);
}

/** Lists every ConfigMap of the workload's namespaces and GETs each one; both must agree. */
async function readFinalState(
  client: ApiClient,
): Promise<{ finalRevision: number; finalObjects: FinalObject[] }> {
  const list = await client.request('GET', collectionPath(undefined));
  assert.equal(list.status, 200, list.text);
  const body = list.json() as { metadata: { resourceVersion: string }; items: unknown[] };
  const finalObjects: FinalObject[] = [];
  for (const item of body.items) {
    const listed = inspectConfigMap(item);
    if (!(NAMESPACES as readonly string[]).includes(listed.namespace)) continue;
    const got = await client.request('GET', `/api/v1/namespaces/${listed.id.replace('/', '/configmaps/')}`);
    assert.equal(got.status, 200, got.text);
    const object = inspectConfigMap(got.json());
    const problems = [...listed.problems, ...object.problems];
    if (object.revision !== listed.revision || object.digest !== listed.digest) {
      problems.push(`${listed.id}: GET gives @${object.revision}, the list @${listed.revision}`);
    }
    finalObjects.push({ ...listed, problems });
  }
  return { finalRevision: Number(body.metadata.resourceVersion), finalObjects };
}

/** Creates the namespace's sentinel ConfigMap, recorded as an acknowledged write; returns its revision. */
async function writeSentinel(client: ApiClient, recorder: Recorder, namespace: string): Promise<number> {
  const token = `sentinel-${namespace}`;
  const data = makeData(token, -1, 16);
  const sentAt = performance.now();
  const created = await client.request('POST', `/api/v1/namespaces/${namespace}/configmaps`, {
    body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'sentinel' }, data },
  });
  assert.equal(created.status, 201, created.text);
  const { revision } = inspectConfigMap(created.json());
  const id = `${namespace}/sentinel`;
  const record: WriteRecord = {
    writer: -1,
    cycle: CYCLES,
    op: 'create',
    id,
    token,
    digest: digestOf(data),
    sentAt,
    endedAt: performance.now(),
    outcome: 'ok',
    revision,
  };
  recorder.writes.push(record);
  return revision;
}

function summarize(run: Run, referenceEvents: number): string {
  const count = (outcome: WriteRecord['outcome']) =>
    run.recorder.writes.filter((write) => write.outcome === outcome).length;
  const watched = run.watchers.map((watcher) => `${watcher.name} ${watcher.events.length}`).join(', ');
  return `writes: ${count('ok')} acknowledged, ${count('failed')} refused, ${count('unknown')} interrupted; ${run.recorder.reads.length} reads; ${referenceEvents} events; ${watched}`;
}
