// PostgreSQL restarted under load, with three hub replicas on it: the hubs
// reconnect by themselves (every replica acknowledges writes again without
// being restarted), watches either resume or end with 410 (the watcher then
// relists and watches from the list), and the recorded history passes the
// crash-durability checks: nothing acknowledged lost, no revision reused, every
// watch segment gap-free and in order. A write answered 503 while the database
// was down may or may not have happened, as a write whose connection dropped.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type ApiClient, startReplicaSet } from '../support/index.ts';
import {
  catchUp,
  checkHistory,
  collectionPath,
  crashSeed,
  createNamespaces,
  firstOf,
  makeWriters,
  Recorder,
  readFinalState,
  resumeRevision,
  stoppedEarly,
  type WatcherRecord,
  watchDispatcher,
  watchSession,
  writeSentinels,
} from './crash-durability/index.ts';

const NAMESPACES = ['pg-a', 'pg-b'] as const;
const WRITER_NAMESPACES = [0, 0, 0, 0, 0, 1, 1, 1, 1] as const;
/** ConfigMaps per namespace. */
const OBJECT_COUNTS = [10, 4];
const WATCHES = [
  { name: 'watcher-a', namespace: 'pg-a' },
  { name: 'watcher-all', namespace: undefined },
  { name: 'watcher-b', namespace: 'pg-b' },
] as const;
/** Acknowledged writes through each replica after the restart that prove it reconnected. */
const ACKS_AFTER = 15;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('PostgreSQL restarted under load: replicas reconnect, watches resume or end with 410, nothing acknowledged is lost', {
  timeout: 300_000,
}, async (t) => {
  const { seed, random } = crashSeed(t);
  const recorder = new Recorder();
  const set = await startReplicaSet();
  const dispatchers = set.hubs.map((hub) => watchDispatcher(hub.kubeconfig));
  try {
    const baseRevision = await createNamespaces(set.clients[0]!, NAMESPACES);
    const writers = makeWriters({
      namespaces: NAMESPACES,
      objectCounts: OBJECT_COUNTS,
      writerNamespaces: WRITER_NAMESPACES,
      random,
      recorder,
    });
    // Each watcher's life in segments: a 410 ends one, and the next starts from a fresh list.
    const segments: WatcherRecord[][] = WATCHES.map(() => []);
    let expired = 0;
    let stopped = false;
    const stop = new AbortController();
    const watching = WATCHES.map(async (spec, index) => {
      const client = set.clients[index]!;
      let record: WatcherRecord = { ...spec, startRevision: baseRevision, events: [], errors: [] };
      segments[index]!.push(record);
      while (!stopped) {
        await watchSession({
          ...dispatchers[index]!,
          record,
          afterRevision: resumeRevision(record),
          signal: stop.signal,
        });
        const error = record.errors.pop();
        if (error === undefined || /HTTP 5\d\d|"code":5\d\d/.test(error)) {
          if (!stopped) await sleep(50); // the stream ended or the database is down: resume
        } else if (/HTTP 410|"code":410/.test(error)) {
          expired++;
          const revision = await listRevision(client, spec.namespace, () => stopped);
          if (revision === undefined) return;
          record = { ...spec, startRevision: revision, events: [], errors: [] };
          segments[index]!.push(record);
        } else {
          record.errors.push(error);
          return;
        }
      }
    });
    // Writers spread over the replicas: writer i writes through replica i mod 3. Writer.run returns
    // only when a connection breaks; it then starts again.
    const running = writers.map(async (writer) => {
      while (!stopped) await writer.run(set.clients[writer.index % set.hubs.length]!, 0, () => stopped);
    });
    await recorder.waitForAcks(60);
    const restartAt = performance.now();
    await set.postgres.restart();
    const restartedAt = performance.now();
    t.diagnostic(`PostgreSQL restarted in ${Math.round(restartedAt - restartAt)} ms`);
    // Every replica must acknowledge writes again by itself.
    const acknowledgedSince = () =>
      set.hubs.map(
        (_, replica) =>
          recorder.writes.filter(
            (write) =>
              write.outcome === 'ok' &&
              write.writer % set.hubs.length === replica &&
              write.sentAt > restartedAt,
          ).length,
      );
    const deadline = Date.now() + 60_000;
    while (acknowledgedSince().some((count) => count < ACKS_AFTER)) {
      assert.ok(
        Date.now() < deadline,
        `replicas did not recover: acknowledged since ${acknowledgedSince().join(', ')}`,
      );
      await sleep(50);
    }
    t.diagnostic(
      `first write acknowledged again ${Math.round(Math.min(...recorder.writes.filter((w) => w.outcome === 'ok' && w.sentAt > restartedAt).map((w) => w.endedAt)) - restartedAt)} ms after the restart`,
    );
    stopped = true;
    await Promise.all(running);
    stop.abort();
    await Promise.all(watching);

    // A 503 while the database was down may or may not have been committed: uncertain, as a
    // dropped connection. Everything else must have its usual outcome.
    for (const write of recorder.writes)
      if (write.outcome === 'failed' && write.status === 503) Object.assign(write, { outcome: 'unknown' });
    for (const read of recorder.reads)
      if (read.outcome === 'failed' && read.detail?.startsWith('503')) read.outcome = 'unknown';

    const { finalRevision, finalObjects } = await readFinalState(set.clients[2]!, NAMESPACES);
    const { targetOf } = await writeSentinels((index) => set.clients[index]!, recorder, NAMESPACES, 1);
    const reference: WatcherRecord = {
      name: 'reference',
      namespace: undefined,
      startRevision: baseRevision,
      events: [],
      errors: [],
    };
    const lastSegments = [...segments.map((list) => list.at(-1)!), reference];
    // Bounded, not failed on timeout: a watcher short of its sentinel is reported below.
    await firstOf([catchUp(lastSegments, dispatchers, targetOf)], 30_000);
    const watchers = segments.flat();
    const violations = [
      ...stoppedEarly(lastSegments, targetOf),
      ...reference.errors.map((error) => `reference: ${error}`),
      ...checkHistory({
        namespaces: NAMESPACES,
        writes: recorder.writes,
        reads: recorder.reads,
        watchers,
        full: reference.events,
        baseRevision,
        finalRevision,
        finalObjects,
        // Uncertain outcomes are expected from the restart on.
        killedAt: [restartAt],
      }),
    ];
    const count = (outcome: string) => recorder.writes.filter((write) => write.outcome === outcome).length;
    const summary = `writes: ${count('ok')} acknowledged, ${count('failed')} refused, ${count('unknown')} uncertain; ${expired} watches ended with 410; ${watchers.length} watch segments; ${reference.events.length} events`;
    t.diagnostic(summary);
    assert.deepEqual(
      violations.slice(0, 40),
      [],
      `seed ${seed}: ${violations.length} violations; ${summary}`,
    );
  } finally {
    await Promise.all(dispatchers.map((d) => d.dispatcher.destroy()));
    await set.stop();
  }
});

/** The list revision a relisting watcher starts from; retried while the database is down. */
async function listRevision(
  client: ApiClient,
  namespace: string | undefined,
  stopped: () => boolean,
): Promise<number | undefined> {
  while (!stopped()) {
    const list = await client.request('GET', `${collectionPath(namespace)}?limit=1`).catch(() => undefined);
    if (list?.status === 200) return Number(list.json().metadata.resourceVersion);
    await sleep(100);
  }
  return undefined;
}
