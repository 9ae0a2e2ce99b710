// Three hub replicas on one PostgreSQL database under a concurrent write and
// watch load spread over all of them; one replica is SIGKILLed in each cycle
// while requests are in flight (the others keep serving), then restarted.
// The recorded history must pass the crash-durability checks: every
// acknowledged write present, revisions never reused, and every watcher —
// resuming on another replica when its own dies — sees exactly the committed
// sequence of its scope, in order, without gap or duplicate.
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { type TestContext, test } from 'node:test';
import type { ApiClient } from '../support/index.ts';
import {
  checkHistory,
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
import { type ReplicaSet, startReplicaSet } from './replicas/cluster.ts';

const CYCLES = 3;
const NAMESPACES = ['crash-a', 'crash-b'] as const;
const WRITER_NAMESPACES = [0, 0, 0, 0, 0, 1, 1, 1, 1] as const;
const NAMES = [
  Array.from({ length: 10 }, (_, i) => `cm-${i}`),
  Array.from({ length: 4 }, (_, i) => `cm-${i}`),
];
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
  const seed = Number(process.env.OUTPOST_CRASH_SEED ?? randomInt(2 ** 31));
  t.diagnostic(`seed ${seed} (replay with OUTPOST_CRASH_SEED=${seed})`);
  const random = seededRandom(seed);
  const recorder = new Recorder();
  const set = await startReplicaSet();
  try {
    const baseRevision = await createNamespaces(set.clients[0]!);
    const writers = WRITER_NAMESPACES.map(
      (ns, i) => new Writer(i, NAMESPACES[ns], NAMES[ns]!, Math.floor(random() * 2 ** 32), recorder),
    );
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
  const { finalRevision, finalObjects } = await readFinalState(set.clients[1]!);
  const sentinels = new Map<string, number>();
  for (const [index, namespace] of NAMESPACES.entries())
    sentinels.set(namespace, await writeSentinel(set.clients[index]!, v.recorder, namespace));
  const head = Math.max(...sentinels.values());
  const all = [...v.watchers, reference];
  const targetOf = (record: WatcherRecord) =>
    record.namespace === undefined ? head : sentinels.get(record.namespace)!;
  await firstOf(
    [
      Promise.all(
        all.map((record, index) => {
          const controller = new AbortController();
          if (resumeRevision(record) >= targetOf(record)) return Promise.resolve();
          return watchSession({
            ...dispatchers[index % dispatchers.length]!,
            record,
            afterRevision: resumeRevision(record),
            signal: controller.signal,
            onEvent: (event: ObservedEvent) => {
              if (event.revision >= targetOf(record)) controller.abort();
            },
          });
        }),
      ),
    ],
    30_000,
    'watchers did not reach the sentinels',
  );
  await Promise.all(dispatchers.map((d) => d.dispatcher.destroy()));
  const violations = [
    ...all
      .filter((record) => resumeRevision(record) < targetOf(record))
      .map((record) => `${record.name}: stopped at @${resumeRevision(record)} before its sentinel`),
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
    finalObjects.push(listed);
  }
  return { finalRevision: Number(body.metadata.resourceVersion), finalObjects };
}

async function writeSentinel(client: ApiClient, recorder: Recorder, namespace: string): Promise<number> {
  const token = `sentinel-${namespace}`;
  const data = makeData(token, -1, 16);
  const sentAt = performance.now();
  const created = await client.request('POST', `/api/v1/namespaces/${namespace}/configmaps`, {
    body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'sentinel' }, data },
  });
  assert.equal(created.status, 201, created.text);
  const { revision } = inspectConfigMap(created.json());
  recorder.writes.push({
    writer: -1,
    cycle: CYCLES,
    op: 'create',
    id: `${namespace}/sentinel`,
    token,
    digest: digestOf(data),
    sentAt,
    endedAt: performance.now(),
    outcome: 'ok',
    revision,
  });
  return revision;
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
