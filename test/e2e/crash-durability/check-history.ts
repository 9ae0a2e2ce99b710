import type { History, ObjectId, ObservedEvent, WatcherRecord, WriteRecord } from './records.ts';

interface Version {
  readonly revision: number;
  readonly digest?: string;
}

/** The reference sequence replayed: per revision its event and the object's previous revision. */
interface Replay {
  readonly byRevision: Map<number, ObservedEvent>;
  readonly previousOf: Map<number, number | undefined>;
  readonly finalState: Map<ObjectId, Version>;
}

const EXPECTED_TYPE = { create: 'ADDED', update: 'MODIFIED', delete: 'DELETED' } as const;

/**
 * Checks a recorded history against what a durable, linearizable store with
 * ordered, gap-free watches must show; returns one line per violation (none
 * when the history is sound). The reference sequence is `full`, the events
 * of one watch from `baseRevision` read at the end.
 */
export function checkHistory(history: History): string[] {
  const violations: string[] = [];
  const replay = replayReference(history, violations);
  checkFinalState(history, replay, violations);
  checkWrites(history, replay, violations);
  checkReads(history, replay, violations);
  checkRealTimeOrder(history, violations);
  for (const watcher of history.watchers) checkWatcher(history, watcher, violations);
  return violations;
}

function replayReference(history: History, violations: string[]): Replay {
  const byRevision = new Map<number, ObservedEvent>();
  const previousOf = new Map<number, number | undefined>();
  const state = new Map<ObjectId, Version>();
  let finalState: Map<ObjectId, Version> | undefined;
  let last = history.baseRevision;
  for (const event of history.full) {
    if (!(event.revision > last))
      violations.push(`reference: revision ${event.revision} follows ${last}: reused or out of order`);
    last = Math.max(last, event.revision);
    for (const problem of event.problems) violations.push(`reference event ${event.revision}: ${problem}`);
    if (event.revision > history.finalRevision && !finalState) finalState = new Map(state);
    const before = state.get(event.id);
    if (event.type === 'ADDED' && before)
      violations.push(`reference: ADDED ${event.id}@${event.revision} while it exists @${before.revision}`);
    if (event.type !== 'ADDED' && !before)
      violations.push(`reference: ${event.type} ${event.id}@${event.revision} of an absent object`);
    byRevision.set(event.revision, event);
    previousOf.set(event.revision, before?.revision);
    if (event.type === 'DELETED') state.delete(event.id);
    else state.set(event.id, { revision: event.revision, digest: event.digest });
  }
  return { byRevision, previousOf, finalState: finalState ?? state };
}

function checkFinalState(history: History, replay: Replay, violations: string[]): void {
  const listed = new Map(history.finalObjects.map((object) => [object.id, object]));
  for (const object of history.finalObjects) {
    for (const problem of object.problems) violations.push(`final object: ${problem}`);
    const replayed = replay.finalState.get(object.id);
    if (!replayed)
      violations.push(
        `final state has ${object.id}@${object.revision}; replaying the watch history does not`,
      );
    else if (replayed.revision !== object.revision || replayed.digest !== object.digest) {
      violations.push(
        `final state has ${object.id}@${object.revision}; replaying the watch history gives @${replayed.revision}`,
      );
    }
  }
  for (const [id, version] of replay.finalState) {
    if (!listed.has(id))
      violations.push(
        `replaying the watch history gives ${id}@${version.revision}; the final state lacks it`,
      );
  }
}

function checkWrites(history: History, replay: Replay, violations: string[]): void {
  const byToken = new Map<string, WriteRecord>();
  const deletes = new Map<ObjectId, WriteRecord[]>();
  for (const write of history.writes) {
    const name = `${write.op} ${write.id}${write.token ? ` (${write.token})` : ''}`;
    if (write.token) byToken.set(write.token, write);
    if (write.op === 'delete') deletes.set(write.id, [...(deletes.get(write.id) ?? []), write]);
    if (write.outcome === 'pending') violations.push(`${name}: never completed`);
    if (write.outcome === 'failed' && write.status !== 404 && write.status !== 409) {
      violations.push(`${name}: unexpected status ${write.status}: ${write.detail}`);
    }
    if (
      write.outcome === 'unknown' &&
      write.endedAt < (history.killedAt[write.cycle] ?? Number.POSITIVE_INFINITY)
    ) {
      violations.push(`${name}: connection failed while the hub was up: ${write.detail}`);
    }
    if (write.outcome !== 'ok') continue;
    if (write.detail) violations.push(`${name}@${write.revision}: ${write.detail}`);
    const event = replay.byRevision.get(write.revision!);
    if (!event) {
      violations.push(`${name}: acknowledged @${write.revision} but missing from the history (lost)`);
      continue;
    }
    if (event.id !== write.id || event.type !== EXPECTED_TYPE[write.op]) {
      violations.push(
        `${name}: acknowledged @${write.revision} but that revision is ${event.type} ${event.id} (reused)`,
      );
    } else if (write.op !== 'delete' && event.digest !== write.digest) {
      violations.push(`${name}: acknowledged @${write.revision} but the stored content differs`);
    }
    if (write.precondition !== undefined && replay.previousOf.get(write.revision!) !== write.precondition) {
      violations.push(
        `${name}: conditioned on @${write.precondition} but applied over @${replay.previousOf.get(write.revision!)}`,
      );
    }
  }
  // Every change must come from a request that was acknowledged or whose outcome is unknown.
  const namespaces = new Set(history.namespaces);
  const seen = new Set<string>();
  for (const event of history.full) {
    if (!namespaces.has(event.namespace)) continue;
    const at = `${event.type} ${event.id}@${event.revision}`;
    if (event.type === 'DELETED') {
      const previous = replay.previousOf.get(event.revision);
      const source = (deletes.get(event.id) ?? []).find(
        (write) =>
          write.precondition === previous &&
          (write.outcome === 'unknown' || (write.outcome === 'ok' && write.revision === event.revision)),
      );
      if (!source) violations.push(`${at}: no delete request explains it`);
      continue;
    }
    const write = event.token ? byToken.get(event.token) : undefined;
    if (!write) violations.push(`${at}: no request wrote token ${event.token}`);
    else if (EXPECTED_TYPE[write.op] !== event.type)
      violations.push(`${at}: written by a ${write.op} request`);
    else if (write.outcome === 'failed')
      violations.push(`${at}: the request was refused with ${write.status} yet took effect`);
    else if (write.outcome === 'ok' && write.revision !== event.revision) {
      violations.push(`${at}: the request was acknowledged @${write.revision}`);
    }
    if (event.token && seen.has(event.token)) violations.push(`${at}: token ${event.token} applied twice`);
    if (event.token) seen.add(event.token);
  }
}

function checkReads(history: History, replay: Replay, violations: string[]): void {
  const acked = history.writes.filter((write) => write.outcome === 'ok');
  for (const read of history.reads) {
    const name = `read ${read.id}`;
    if (read.outcome === 'pending' || read.outcome === 'failed')
      violations.push(`${name}: ${read.outcome} ${read.detail ?? ''}`);
    if (
      read.outcome === 'unknown' &&
      read.endedAt < (history.killedAt[read.cycle] ?? Number.POSITIVE_INFINITY)
    ) {
      violations.push(`${name}: connection failed while the hub was up: ${read.detail}`);
    }
    if (read.outcome !== 'ok' && read.outcome !== 'absent') continue;
    // The newest acknowledged write of this object finished before the read began: the read must see it or later.
    let newest: WriteRecord | undefined;
    for (const write of acked) {
      if (
        write.id === read.id &&
        write.endedAt < read.sentAt &&
        (!newest || write.revision! > newest.revision!)
      )
        newest = write;
    }
    if (read.outcome === 'ok') {
      const event = replay.byRevision.get(read.revision!);
      if (!event || event.id !== read.id || event.type === 'DELETED' || event.digest !== read.digest) {
        violations.push(`${name}: returned @${read.revision}, which the history does not hold for it`);
      }
      if (
        newest &&
        (read.revision! < newest.revision! || (newest.op === 'delete' && read.revision === newest.revision))
      ) {
        violations.push(
          `${name}: returned @${read.revision} after ${newest.op} @${newest.revision} was acknowledged (stale)`,
        );
      }
    } else if (newest && newest.op !== 'delete') {
      const deletedSince = history.full.some(
        (e) => e.id === read.id && e.type === 'DELETED' && e.revision > newest.revision!,
      );
      if (!deletedSince)
        violations.push(`${name}: absent after ${newest.op} @${newest.revision} was acknowledged (lost)`);
    }
  }
}

/** A write sent after a revision was observed (acknowledged, read or watched) must get a greater one, across restarts too. */
function checkRealTimeOrder(history: History, violations: string[]): void {
  const observations: Array<{ at: number; revision: number; what: string }> = [];
  for (const write of history.writes) {
    if (write.outcome === 'ok')
      observations.push({ at: write.endedAt, revision: write.revision!, what: `${write.op} ${write.id}` });
  }
  for (const read of history.reads) {
    if (read.outcome === 'ok')
      observations.push({ at: read.endedAt, revision: read.revision!, what: `read ${read.id}` });
  }
  for (const watcher of history.watchers) {
    for (const event of watcher.events) {
      observations.push({ at: event.receivedAt, revision: event.revision, what: `${watcher.name} event` });
    }
  }
  observations.sort((a, b) => a.at - b.at);
  const writes = history.writes.filter((write) => write.outcome === 'ok').sort((a, b) => a.sentAt - b.sentAt);
  let index = 0;
  let highest: (typeof observations)[number] | undefined;
  for (const write of writes) {
    while (index < observations.length && observations[index]!.at < write.sentAt) {
      const observation = observations[index++]!;
      if (!highest || observation.revision > highest.revision) highest = observation;
    }
    if (highest && write.revision! <= highest.revision) {
      violations.push(
        `${write.op} ${write.id} (cycle ${write.cycle}) got @${write.revision}, not above @${highest.revision} seen earlier (${highest.what}): revision reused`,
      );
    }
  }
}

/** The watcher's events must be exactly the reference events of its scope between its start and its last event. */
function checkWatcher(history: History, watcher: WatcherRecord, violations: string[]): void {
  for (const error of watcher.errors) violations.push(`${watcher.name}: ${error}`);
  const last = watcher.events.at(-1)?.revision ?? watcher.startRevision;
  const expected = history.full.filter(
    (event) =>
      event.revision > watcher.startRevision &&
      event.revision <= last &&
      (watcher.namespace === undefined || event.namespace === watcher.namespace),
  );
  const got = watcher.events;
  for (let i = 0; i < Math.max(expected.length, got.length); i++) {
    const want = expected[i];
    const saw = got[i];
    if (
      want &&
      saw &&
      want.revision === saw.revision &&
      want.type === saw.type &&
      want.id === saw.id &&
      want.digest === saw.digest
    ) {
      continue;
    }
    const context = got.slice(Math.max(0, i - 2), i + 3).map((event) => event.revision);
    if (!saw) violations.push(`${watcher.name}: missed ${want!.type} ${want!.id}@${want!.revision} (gap)`);
    else if (!want) violations.push(`${watcher.name}: extra event ${saw.type} ${saw.id}@${saw.revision}`);
    else if (saw.revision > want.revision) {
      violations.push(
        `${watcher.name}: missed ${want.type} ${want.id}@${want.revision} (gap; saw ${context.join(',')})`,
      );
    } else if (saw.revision < want.revision) {
      violations.push(
        `${watcher.name}: unexpected ${saw.type} ${saw.id}@${saw.revision}: duplicate or out of order (saw ${context.join(',')})`,
      );
    } else
      violations.push(
        `${watcher.name}: @${saw.revision} is ${saw.type} ${saw.id}, the history has ${want.type} ${want.id}`,
      );
    return; // the first divergence explains the rest
  }
}
