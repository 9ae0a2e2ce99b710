import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { checkHistory } from './check-history.ts';
import { digestOf, type History, makeData, type ObservedEvent, type WriteRecord } from './records.ts';

// A small sound history, built by hand, that each test breaks in one way:
// the checker is only worth something if it fails on the bugs it hunts.

const digest = (token: string) => digestOf(makeData(token, 0, 8));

function event(
  type: ObservedEvent['type'],
  name: string,
  revision: number,
  token?: string,
  receivedAt = 100 + revision,
): ObservedEvent {
  return {
    type,
    id: `ns/${name}`,
    namespace: 'ns',
    revision,
    token,
    digest: token ? digest(token) : undefined,
    receivedAt,
    problems: [],
  };
}

function write(
  op: WriteRecord['op'],
  name: string,
  revision: number | undefined,
  at: number,
  extra: Partial<WriteRecord> = {},
): WriteRecord {
  const token = op === 'delete' ? undefined : `t${at}`;
  return {
    writer: 0,
    cycle: at < 50 ? 0 : 1,
    op,
    id: `ns/${name}`,
    ...(token ? { token, digest: digest(token) } : {}),
    sentAt: at,
    endedAt: at + 1,
    outcome: revision === undefined ? 'unknown' : 'ok',
    ...(revision === undefined ? {} : { revision }),
    ...extra,
  };
}

/** a created @11 and updated @12; b created @13 and deleted @14; the hub killed at t=30 with c's create in flight, which landed @15. */
function soundHistory(): History {
  const full = [
    event('ADDED', 'a', 11, 't10'),
    event('MODIFIED', 'a', 12, 't20'),
    event('ADDED', 'b', 13, 't22'),
    event('DELETED', 'b', 14),
    event('ADDED', 'c', 15, 't29'),
  ];
  return {
    namespaces: ['ns'],
    writes: [
      write('create', 'a', 11, 10),
      write('update', 'a', 12, 20, { precondition: 11 }),
      write('create', 'b', 13, 22),
      write('delete', 'b', 14, 24, { precondition: 13 }),
      { ...write('create', 'c', undefined, 29), endedAt: 31 },
      write('update', 'a', undefined, 26, { precondition: 11, outcome: 'failed', status: 409 }),
    ],
    reads: [
      {
        cycle: 1,
        id: 'ns/a',
        sentAt: 60,
        endedAt: 61,
        outcome: 'ok',
        revision: 12,
        token: 't20',
        digest: digest('t20'),
      },
    ],
    watchers: [{ name: 'w', namespace: 'ns', startRevision: 10, events: full.slice(0, 4), errors: [] }],
    full,
    baseRevision: 10,
    finalRevision: 15,
    finalObjects: [
      { id: 'ns/a', revision: 12, token: 't20', digest: digest('t20'), problems: [] },
      { id: 'ns/c', revision: 15, token: 't29', digest: digest('t29'), problems: [] },
    ],
    killedAt: [30],
  };
}

function violationsOf(change: (history: History & Record<string, unknown>) => History): string[] {
  return checkHistory(change(structuredClone(soundHistory()) as History & Record<string, unknown>));
}

describe('the crash-durability history checker', () => {
  test('accepts a sound history, including a write whose outcome is unknown', () => {
    assert.deepEqual(checkHistory(soundHistory()), []);
  });

  test('reports an acknowledged write missing from the history as lost', () => {
    const violations = violationsOf((h) => ({
      ...h,
      full: h.full.filter((e) => e.revision !== 12),
      watchers: [],
      reads: [],
      finalObjects: [{ ...h.finalObjects[0]!, revision: 11, digest: digest('t10') }, h.finalObjects[1]!],
    }));
    assert.ok(
      violations.some((v) =>
        v.includes('update ns/a (t20): acknowledged @12 but missing from the history (lost)'),
      ),
      violations.join('\n'),
    );
  });

  test('reports a revision handed out again after a restart', () => {
    const reused = { ...write('create', 'd', 13, 70), cycle: 1 };
    const violations = violationsOf((h) => ({ ...h, writes: [...h.writes, reused] }));
    assert.ok(
      violations.some((v) =>
        v.includes('create ns/d (t70): acknowledged @13 but that revision is ADDED ns/b (reused)'),
      ),
      violations.join('\n'),
    );
    assert.ok(
      violations.some((v) => v.includes('not above @14 seen earlier (delete ns/b)')),
      violations.join('\n'),
    );
  });

  test('reports a watcher that skipped, repeated or reordered an event', () => {
    const gap = violationsOf((h) => ({
      ...h,
      watchers: [{ ...h.watchers[0]!, events: [h.full[0]!, h.full[2]!, h.full[3]!] }],
    }));
    assert.deepEqual(gap, ['w: missed MODIFIED ns/a@12 (gap; saw 11,13,14)']);
    const twice = violationsOf((h) => ({
      ...h,
      watchers: [{ ...h.watchers[0]!, events: [h.full[0]!, h.full[1]!, h.full[1]!, h.full[2]!] }],
    }));
    assert.match(twice.join('\n'), /w: unexpected MODIFIED ns\/a@12: duplicate or out of order/);
    const reordered = violationsOf((h) => ({
      ...h,
      watchers: [{ ...h.watchers[0]!, events: [h.full[1]!, h.full[0]!] }],
    }));
    assert.match(reordered.join('\n'), /w: missed ADDED ns\/a@11/);
  });

  test('reports a refused write that took effect, and a change no request explains', () => {
    const refused = violationsOf((h) => {
      const writes = h.writes.map((w) =>
        w.token === 't20' ? { ...w, outcome: 'failed' as const, status: 409 } : w,
      );
      return { ...h, writes, reads: [] };
    });
    assert.ok(
      refused.some((v) => v.includes('MODIFIED ns/a@12: the request was refused with 409 yet took effect')),
      refused.join('\n'),
    );
    const phantom = violationsOf((h) => ({ ...h, writes: h.writes.filter((w) => w.op !== 'delete') }));
    assert.deepEqual(phantom, ['DELETED ns/b@14: no delete request explains it']);
  });

  test('reports a final state that replaying the history does not give, and a half-written object', () => {
    const violations = violationsOf((h) => ({
      ...h,
      finalObjects: [{ ...h.finalObjects[0]!, problems: ['ns/a: blob does not match token t20'] }],
    }));
    assert.deepEqual(violations, [
      'final object: ns/a: blob does not match token t20',
      'replaying the watch history gives ns/c@15; the final state lacks it',
    ]);
  });

  test('reports a read older than a write acknowledged before it began, and a request that failed while the hub was up', () => {
    const violations = violationsOf((h) => ({
      ...h,
      reads: [
        {
          cycle: 1,
          id: 'ns/a',
          sentAt: 60,
          endedAt: 61,
          outcome: 'ok',
          revision: 11,
          token: 't10',
          digest: digest('t10'),
        },
      ],
      writes: [...h.writes, { ...write('update', 'c', undefined, 25, { precondition: 15 }), endedAt: 27 }],
    }));
    assert.ok(
      violations.includes('read ns/a: returned @11 after update @12 was acknowledged (stale)'),
      violations.join('\n'),
    );
    assert.ok(
      violations.some((v) => v.startsWith('update ns/c (t25): connection failed while the hub was up')),
      violations.join('\n'),
    );
  });
});
