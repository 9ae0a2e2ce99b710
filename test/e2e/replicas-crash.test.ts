// Three hub replicas on one PostgreSQL database under a concurrent write and
// watch load spread over all of them; one replica is SIGKILLed in each cycle
// while requests are in flight (the others keep serving), then restarted.
// The recorded history must pass the crash-durability checks: every
// acknowledged write present, revisions never reused, and every watcher —
// resuming on another replica when its own dies — sees exactly the committed
// sequence of its scope, in order, without gap or duplicate.
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { type ReplicaSet, startReplicaSet } from '../support/index.ts';
import {
  catchUp,
  checkHistory,
  crashSeed,
  createNamespaces,
  firstOf,
  makeWriters,
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

const CYCLES = 3;
const NAMESPACES = ['crash-a', 'crash-b'] as const;
const WRITER_NAMESPACES = [0, 0, 0, 0, 0, 1, 1, 1, 1] as const;
/** ConfigMaps per namespace. */
const OBJECT_COUNTS = [10, 4];
/** Each watcher starts on its own replica and moves to the next live one when its replica dies. */
const WATCHERS = [
  { name: 'watcher-a', namespace: 'crash-a', home: 0 },
  { name: 'watcher-all', namespace: undefined, home: 1 },
  { name: 'watcher-b', namespace: 'crash-b', home: 2 },
] as const;
const MIN_ACKS = 20;
const MAX_ACKS = 120;
const MAX_LOAD_MS = 4000;

test('three replicas: a replica SIGKILLed mid-load loses no acknowledged write and no watcher skips or reorders an event', {
  timeout: 300_000,
}, async (t) => {
  const { seed, random } = crashSeed(t);
  const recorder = new Recorder();
  const set = await startReplicaSet();
  try {
    const baseRevision = await createNamespaces(set.clients[0]!, NAMESPACES);
    const writers = makeWriters({
      namespaces: NAMESPACES,
      objectCounts: OBJECT_COUNTS,
      writerNamespaces: WRITER_NAMESPACES,
      random,
      recorder,
    });
    const watchers: WatcherRecord[] = WATCHERS.map((spec) => ({
      name: spec.name,
      namespace: spec.namespace,
      startRevision: baseRevision,
      events: [],
      errors: [],
    }));
    const killedAt: number[] = [];
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      await loadAndKill({ t, set, random, recorder, writers, watchers, killedAt, cycle });
    }
    await verify({ t, set, recorder, watchers, killedAt, baseRevision, seed });
  } finally {
    await set.stop();
  }
});

interface Cycle {
  readonly t: TestContext;
  readonly set: ReplicaSet;
  readonly random: () => number;
  readonly recorder: Recorder;
  readonly writers: readonly Writer[];
  readonly watchers: WatcherRecord[];
  readonly killedAt: number[];
  readonly cycle: number;
}

/** One cycle: load through every replica; SIGKILL one while requests are in flight; the others go on; restart it. */
async function loadAndKill(c: Cycle): Promise<void> {
  const { set, recorder, random, cycle } = c;
  const victim = cycle % set.hubs.length;
  const down = new Set<number>();
  let stopped = false;
  const stop = new AbortController();
  const dispatchers = set.hubs.map((hub) => watchDispatcher(hub.kubeconfig));
  // A watcher follows its home replica; when that stream ends (the replica died) it resumes on
  // the next live one from its last event.
  const sessions = c.watchers.map(async (record, index) => {
    let replica = WATCHERS[index]!.home;
    while (!stopped) {
      if (down.has(replica)) replica = (replica + 1) % set.hubs.length;
      await watchSession({
        ...dispatchers[replica]!,
        record,
        afterRevision: resumeRevision(record),
        signal: stop.signal,
      });
      if (record.errors.length > 0) return;
      if (!stopped) await new Promise((resolve) => setTimeout(resolve, 20)); // not a busy loop while it dies
    }
  });
  const running = c.writers.map((writer) =>
    writer.run(set.clients[writer.index % set.hubs.length]!, cycle, () => stopped),
  );
  const target = recorder.acks + MIN_ACKS + Math.floor(random() * (MAX_ACKS - MIN_ACKS));
  const acksBefore = recorder.acks;
  await firstOf([recorder.waitForAcks(target)], MAX_LOAD_MS);
  c.killedAt[cycle] = performance.now();
  down.add(victim);
  await set.hubs[victim]!.stop('SIGKILL');
  const atKill = recorder.acks;
  // The survivors keep acknowledging writes.
  await firstOf(
    [recorder.waitForAcks(atKill + MIN_ACKS)],
    MAX_LOAD_MS * 2,
    'the surviving replicas stopped acknowledging writes',
  );
  stopped = true;
  await Promise.all(running);
  stop.abort();
  await firstOf([Promise.all(sessions)], 10_000, 'watch streams did not end');
  await Promise.all(dispatchers.map((d) => d.dispatcher.destroy()));
  c.t.diagnostic(
    `cycle ${cycle}: replica ${victim} SIGKILLed after ${atKill - acksBefore} acknowledged writes; ${recorder.acks - atKill} more on the survivors`,
  );
  await set.restart(victim);
}

/** Sentinels per namespace, every watcher resumed (on a replica of its own) up to them, and the checks. */
async function verify(v: {
  t: TestContext;
  set: ReplicaSet;
  recorder: Recorder;
  watchers: WatcherRecord[];
  killedAt: number[];
  baseRevision: number;
  seed: number;
}): Promise<void> {
  const { set } = v;
  const reference: WatcherRecord = {
    name: 'reference',
    namespace: undefined,
    startRevision: v.baseRevision,
    events: [],
    errors: [],
  };
  const dispatchers = set.hubs.map((hub) => watchDispatcher(hub.kubeconfig));
  const { finalRevision, finalObjects } = await readFinalState(set.clients[1]!, NAMESPACES);
  const { targetOf } = await writeSentinels((index) => set.clients[index]!, v.recorder, NAMESPACES, CYCLES);
  const all = [...v.watchers, reference];
  await firstOf([catchUp(all, dispatchers, targetOf)], 30_000, 'watchers did not reach the sentinels');
  await Promise.all(dispatchers.map((d) => d.dispatcher.destroy()));
  const violations = [
    ...stoppedEarly(all, targetOf),
    ...reference.errors.map((error) => `reference: ${error}`),
    ...checkHistory({
      namespaces: NAMESPACES,
      writes: v.recorder.writes,
      reads: v.recorder.reads,
      watchers: v.watchers,
      full: reference.events,
      baseRevision: v.baseRevision,
      finalRevision,
      finalObjects,
      killedAt: v.killedAt,
    }),
  ];
  const count = (outcome: WriteRecord['outcome']) =>
    v.recorder.writes.filter((write) => write.outcome === outcome).length;
  const summary = `writes: ${count('ok')} acknowledged, ${count('failed')} refused, ${count('unknown')} interrupted; ${reference.events.length} events; ${v.watchers.map((w) => `${w.name} ${w.events.length}`).join(', ')}`;
  v.t.diagnostic(summary);
  assert.deepEqual(
    violations.slice(0, 40),
    [],
    `seed ${v.seed}: ${violations.length} violations; ${summary}`,
  );
  assert.ok(count('unknown') >= 1, `the kills must interrupt writes in flight; ${summary}`);
}
