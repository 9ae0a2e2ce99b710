// The steps every crash-durability run shares around its own fault: seed,
// namespaces, writers, the final state, the sentinels that every watcher must
// reach, and the catch-up of watchers to them. The fault itself (SIGKILL of
// the hub, of one replica, a database restart) stays in each test.
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import type { TestContext } from 'node:test';
import type { Agent } from 'undici';
import type { ApiClient } from '../../support/index.ts';
import {
  digestOf,
  type FinalObject,
  inspectConfigMap,
  makeData,
  type ObservedEvent,
  type WatcherRecord,
} from './records.ts';
import {
  collectionPath,
  type Recorder,
  resumeRevision,
  seededRandom,
  Writer,
  watchSession,
} from './workload.ts';

/** The run's seed: `OUTPOST_CRASH_SEED` when set (a replay), else a random one; logged either way. */
export function crashSeed(t: TestContext): { seed: number; random: () => number } {
  const seed = Number(process.env.OUTPOST_CRASH_SEED ?? randomInt(2 ** 31));
  t.diagnostic(`seed ${seed} (replay with OUTPOST_CRASH_SEED=${seed})`);
  return { seed, random: seededRandom(seed) };
}

/**
 * One writer per entry of `writerNamespaces` (an index into `namespaces`),
 * each over `cm-0`..`cm-<n-1>` of its namespace, `n` from `objectCounts`:
 * many writers on few objects make conflicts frequent.
 */
export function makeWriters(options: {
  readonly namespaces: readonly string[];
  readonly objectCounts: readonly number[];
  readonly writerNamespaces: readonly number[];
  readonly random: () => number;
  readonly recorder: Recorder;
}): Writer[] {
  const names = options.objectCounts.map((count) => Array.from({ length: count }, (_, i) => `cm-${i}`));
  return options.writerNamespaces.map(
    (ns, i) =>
      new Writer(
        i,
        options.namespaces[ns]!,
        names[ns]!,
        Math.floor(options.random() * 2 ** 32),
        options.recorder,
      ),
  );
}

/** Creates the workload's namespaces; returns the revision after which every ConfigMap event comes. */
export async function createNamespaces(client: ApiClient, namespaces: readonly string[]): Promise<number> {
  let revision = 0;
  for (const namespace of namespaces) {
    const created = await client.request('POST', '/api/v1/namespaces', {
      body: { metadata: { name: namespace } },
    });
    assert.equal(created.status, 201, created.text);
    revision = Math.max(revision, Number(created.json().metadata.resourceVersion));
  }
  return revision;
}

/**
 * Lists every ConfigMap of `namespaces`: the final objects and the list's
 * revision. With `getEach`, also GETs each object; a GET that disagrees with
 * the list is a problem of that object.
 */
export async function readFinalState(
  client: ApiClient,
  namespaces: readonly string[],
  options: { readonly getEach?: boolean } = {},
): Promise<{ finalRevision: number; finalObjects: FinalObject[] }> {
  const list = await client.request('GET', collectionPath(undefined));
  assert.equal(list.status, 200, list.text);
  const body = list.json() as { metadata: { resourceVersion: string }; items: unknown[] };
  const finalObjects: FinalObject[] = [];
  for (const item of body.items) {
    const listed = inspectConfigMap(item);
    if (!namespaces.includes(listed.namespace)) continue;
    if (!options.getEach) {
      finalObjects.push(listed);
      continue;
    }
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

/** Creates the namespace's sentinel ConfigMap, recorded as an acknowledged write of `cycle`; returns its revision. */
export async function writeSentinel(
  client: ApiClient,
  recorder: Recorder,
  namespace: string,
  cycle: number,
): Promise<number> {
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
    cycle,
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

/** The sentinels' revisions: a watcher of one namespace ends at its sentinel, a watcher of all at the last. */
export interface Sentinels {
  readonly head: number;
  targetOf(record: WatcherRecord): number;
}

/** Writes one sentinel per namespace, the i-th through `clientFor(i)`. */
export async function writeSentinels(
  clientFor: (index: number) => ApiClient,
  recorder: Recorder,
  namespaces: readonly string[],
  cycle: number,
): Promise<Sentinels> {
  const revisions = new Map<string, number>();
  for (const [index, namespace] of namespaces.entries()) {
    revisions.set(namespace, await writeSentinel(clientFor(index), recorder, namespace, cycle));
  }
  const head = Math.max(...revisions.values());
  return {
    head,
    targetOf: (record) => (record.namespace === undefined ? head : revisions.get(record.namespace)!),
  };
}

/**
 * Resumes every record not yet at its target (the i-th on
 * `dispatchers[i mod n]`) and ends each session at its target; resolves
 * when all have ended. Callers bound it with `firstOf`.
 */
export function catchUp(
  records: readonly WatcherRecord[],
  dispatchers: readonly { readonly server: string; readonly dispatcher: Agent }[],
  targetOf: (record: WatcherRecord) => number,
): Promise<unknown> {
  return Promise.all(
    records.map((record, index) => {
      if (resumeRevision(record) >= targetOf(record)) return undefined;
      const controller = new AbortController();
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
  );
}

/** One violation per record whose watch ended before its target. */
export function stoppedEarly(
  records: readonly WatcherRecord[],
  targetOf: (record: WatcherRecord) => number,
): string[] {
  return records
    .filter((record) => resumeRevision(record) < targetOf(record))
    .map((record) => `${record.name}: stopped at @${resumeRevision(record)} before its sentinel`);
}

/** Resolves when the first promise settles, or after `ms` (throwing `timeoutMessage` when given). */
export async function firstOf(
  promises: Promise<unknown>[],
  ms: number,
  timeoutMessage?: string,
): Promise<void> {
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
