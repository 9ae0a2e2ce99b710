// Kills the hub with SIGKILL in the middle of a concurrent write and watch
// load, restarts it on the same data dir (20 kills under 16 writers), then checks the
// recorded history (etcd's robustness tests in miniature): no acknowledged
// write lost, revisions never reused, watches ordered and gap-free across
// resumes, nothing half-written. The SQLite store commits on a writer thread while the event
// loop prepares the next batch; every kill is taken while that pipeline runs (the hub's
// outpost_store_pipelined_commits_total counts batches prepared while the one before was
// committing), so kills land with one batch on the thread and the next being prepared, and
// the checks cover those interleavings. OUTPOST_CRASH_SEED=N replays a seed's choices
// (timing still varies from run to run).
import assert from 'node:assert/strict';
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
  crashSeed,
  createNamespaces,
  firstOf,
  makeWriters,
  type ObservedEvent,
  Recorder,
  readFinalState,
  resumeRevision,
  stoppedEarly,
  type WatcherRecord,
  type WriteRecord,
  type Writer,
  watchDispatcher,
  watchSession,
  writeSentinels,
} from './crash-durability/index.ts';

const CYCLES = 20;
const NAMESPACES = ['crash-a', 'crash-b'] as const;
/**
 * Sixteen writers: twelve share ten objects in one namespace, four share four in the other, so
 * conflicts are frequent and every group commit holds writes of several writers when a kill lands.
 */
const WRITER_NAMESPACES = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1] as const;
/** ConfigMaps per namespace. */
const OBJECT_COUNTS = [10, 4];
/** Watchers join in different cycles; one watches every namespace; the late ones start from a past revision. */
const WATCHERS = [
  { name: 'watcher-a', namespace: 'crash-a', fromCycle: 0, fromPast: false },
  { name: 'watcher-all', namespace: undefined, fromCycle: 1, fromPast: false },
  { name: 'watcher-b', namespace: 'crash-b', fromCycle: 2, fromPast: false },
  { name: 'watcher-a-late', namespace: 'crash-a', fromCycle: 3, fromPast: true },
  { name: 'watcher-all-late', namespace: undefined, fromCycle: 11, fromPast: true },
] as const;
/** Load per cycle: until a seeded number of writes is acknowledged, or this long at most. */
const MIN_ACKS = 10;
const MAX_ACKS = 150;
const MAX_LOAD_MS = 1500;
/** How long a cycle's load may go on past MAX_LOAD_MS waiting for the first pipelined commit. */
const MAX_PIPELINE_WAIT_MS = 8000;

interface Run {
  readonly t: TestContext;
  readonly seed: number;
  readonly random: () => number;
  readonly dataDir: string;
  readonly recorder: Recorder;
  readonly writers: readonly Writer[];
  readonly watchers: WatcherRecord[];
  readonly killedAt: number[];
  /** Per cycle, the batches the hub had prepared while the one before was committing, read just before the kill. */
  readonly pipelined: number[];
  baseRevision: number;
}

test('no acknowledged write is lost, no revision reused and no watch event skipped when the hub is SIGKILLed mid-load', {
  timeout: 600_000, // a guard against hangs; 21 hub starts take one to two minutes on an idle machine
}, async (t) => {
  const { seed, random } = crashSeed(t);
  const recorder = new Recorder();
  const run: Run = {
    t,
    seed,
    random,
    dataDir: await tempDir('outpost-crash-'),
    recorder,
    writers: makeWriters({
      namespaces: NAMESPACES,
      objectCounts: OBJECT_COUNTS,
      writerNamespaces: WRITER_NAMESPACES,
      random,
      recorder,
    }),
    watchers: [],
    killedAt: [],
    pipelined: [],
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
  if (cycle === 0) run.baseRevision = await createNamespaces(client, NAMESPACES);
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
  // The kill waits (a while at most) until a batch has been prepared while another committed, so
  // that it lands with the pipeline running; the writers go on while the counter is read.
  const pipelineDeadline = performance.now() + MAX_PIPELINE_WAIT_MS;
  run.pipelined[cycle] = await pipelinedCommits(client);
  while (run.pipelined[cycle] === 0 && performance.now() < pipelineDeadline) {
    await firstOf([recorder.waitForAcks(recorder.acks + 2)], 250);
    run.pipelined[cycle] = await pipelinedCommits(client);
  }
  run.killedAt[cycle] = performance.now();
  killed = true;
  signalKilled();
  await hub.stop('SIGKILL');
  run.t.diagnostic(
    `cycle ${cycle}: SIGKILL after ${recorder.acks - acksBefore} acknowledged writes in ${Math.round(run.killedAt[cycle]! - loadStart)} ms, ${run.pipelined[cycle]} pipelined commits`,
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
  const { finalRevision, finalObjects } = await readFinalState(client, NAMESPACES, { getEach: true });
  const { head, targetOf } = await writeSentinels(() => client, run.recorder, NAMESPACES, CYCLES);
  targets.set(reference, head);
  for (const record of run.watchers) {
    targets.set(record, targetOf(record));
    if (resumeRevision(record) >= targets.get(record)!) aborts.get(record)!.abort();
  }
  sessions.push(follow(reference));
  await firstOf([Promise.all(sessions)], 30_000, 'watchers did not reach the sentinels');
  await client.close();
  await watch.dispatcher.destroy();
  await hub.stop();
  assert.equal(hub.process.exitCode, 0, `the hub did not stop cleanly: ${hub.stderr()}`);

  const violations = [
    ...stoppedEarly([...run.watchers, reference], targetOf),
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
  const pipelinedCycles = run.pipelined.filter((count) => count > 0).length;
  assert.ok(
    pipelinedCycles >= CYCLES / 2,
    `seed ${run.seed}: batches must be prepared while others commit in most killed cycles (${run.pipelined.join(', ')})`,
  );
}

/** The hub's count of batches prepared while the batch before them was committing. */
async function pipelinedCommits(client: ApiClient): Promise<number> {
  const response = await client.request('GET', '/metrics');
  assert.equal(response.status, 200, response.text);
  const line = /^outpost_store_pipelined_commits_total (\d+)/m.exec(response.text);
  assert.ok(line, 'the hub exports outpost_store_pipelined_commits_total');
  return Number(line[1]);
}

async function listRevision(client: ApiClient, namespace: string | undefined): Promise<number> {
  const list = await client.request('GET', `${collectionPath(namespace)}?limit=1`);
  assert.equal(list.status, 200, list.text);
  return Number(list.json().metadata.resourceVersion);
}

function summarize(run: Run, referenceEvents: number): string {
  const count = (outcome: WriteRecord['outcome']) =>
    run.recorder.writes.filter((write) => write.outcome === outcome).length;
  const watched = run.watchers.map((watcher) => `${watcher.name} ${watcher.events.length}`).join(', ');
  return `writes: ${count('ok')} acknowledged, ${count('failed')} refused, ${count('unknown')} interrupted; ${run.recorder.reads.length} reads; ${referenceEvents} events; ${watched}`;
}
