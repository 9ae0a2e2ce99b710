import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InvalidManagedFieldsError } from './errors.ts';
import { FieldSet } from './fieldset.ts';
import {
  ANCIENT_CHANGES_MANAGER,
  capUpdateManagers,
  decodeManagedFields,
  encodeManagedFields,
  type ManagedFieldsEntry,
  type ManagerFields,
  managedFieldsBase,
} from './managed-fields.ts';
import { recordUpdate } from './record-update.ts';
import { API_VERSION, Sim, schema, widget } from './widget.fixture.ts';

describe('recordUpdate', () => {
  test('a create gives every field to the creator, "." on containers that appeared, as the apiserver writes it', () => {
    const entries = recordUpdate({
      before: undefined,
      after: widget(
        { replicas: 1, containers: [{ name: 'a', image: 'a:1' }] },
        { metadata: { labels: { app: 'x' } } },
      ),
      managedFields: undefined,
      manager: 'kubectl-create',
      schema,
      now: new Date('2025-02-03T04:05:06.789Z'),
    });
    assert.deepEqual(entries, [
      {
        manager: 'kubectl-create',
        operation: 'Update',
        apiVersion: API_VERSION,
        time: '2025-02-03T04:05:06Z',
        fieldsType: 'FieldsV1',
        fieldsV1: {
          'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } },
          'f:spec': {
            '.': {},
            'f:containers': { '.': {}, 'k:{"name":"a"}': { '.': {}, 'f:image': {}, 'f:name': {} } },
            'f:replicas': {},
          },
        },
      },
    ]);
  });

  test('a writer rewriting only fields it alone owns keeps its set (the same document) and gets a new time', () => {
    const before = widget({ replicas: 1, containers: [{ name: 'a', image: 'a:1' }] });
    const created = recordUpdate({
      before: undefined,
      after: before,
      managedFields: undefined,
      manager: 'ctl',
      schema,
      now: new Date('2025-02-03T04:05:06Z'),
    });
    const other = { ...created[0]!, manager: 'other', fieldsV1: { 'f:metadata': { 'f:labels': {} } } };
    const after = widget({ replicas: 2, containers: [{ name: 'a', image: 'a:2' }] });
    const next = recordUpdate({
      before,
      after,
      managedFields: [...created, other],
      manager: 'ctl',
      schema,
      now: new Date('2025-02-03T05:00:00Z'),
    });
    const mine = next.find((e) => e.manager === 'ctl')!;
    assert.deepEqual(mine, { ...created[0]!, time: '2025-02-03T05:00:00Z' });
    assert.deepEqual(
      next.find((e) => e.manager === 'other'),
      other,
    );
    // Unchanged content: nothing moves, not even the time.
    const same = recordUpdate({
      before: after,
      after: structuredClone(after),
      managedFields: next,
      manager: 'ctl',
      schema,
      now: new Date('2025-02-03T06:00:00Z'),
    });
    assert.deepEqual(same, next);
  });

  test('changed fields move to the writer, unchanged fields stay with their owners', () => {
    const sim = new Sim();
    sim.apply('alice', widget({ replicas: 1, paused: true }));
    sim.update('scaler', (o) => {
      (o.spec as { replicas: number }).replicas = 3;
    });
    assert.deepEqual(sim.owned('alice'), ['.spec.paused']);
    assert.deepEqual(sim.owned('scaler', 'Update'), ['.spec.replicas']);
  });

  test('removed fields leave every owner and managers left with nothing are dropped', () => {
    const sim = new Sim();
    sim.apply('alice', widget({ paused: true }));
    sim.apply('bob', widget({ replicas: 1 }));
    sim.update('editor', (o) => {
      delete (o.spec as { paused?: boolean }).paused;
    });
    assert.equal(sim.entry('alice'), undefined);
    assert.equal(sim.entry('editor', 'Update'), undefined, 'removing fields gains nothing');
    assert.deepEqual(sim.owned('bob'), ['.spec.replicas']);
  });

  test('a write that changes nothing leaves the entries and their times alone', () => {
    const sim = new Sim();
    sim.update('creator', (o) => {
      o.spec = { replicas: 1 };
    });
    const before = structuredClone(sim.entries());
    sim.update('noop', () => {});
    assert.deepEqual(sim.entries(), before);
  });

  test('a later write by the same manager adds to its entry and refreshes its time', () => {
    const sim = new Sim();
    sim.update('m', (o) => {
      o.spec = { replicas: 1 };
    });
    sim.update('m', (o) => {
      (o.spec as { paused: boolean }).paused = true;
    });
    assert.deepEqual(sim.owned('m', 'Update'), ['.spec', '.spec.paused', '.spec.replicas']);
    assert.equal(sim.entry('m', 'Update')?.time, '2025-01-01T00:00:02Z');
  });

  test('the main resource ignores status changes and the status subresource ignores everything else', () => {
    const sim = new Sim();
    sim.update('creator', (o) => {
      o.spec = { replicas: 1 };
      o.status = { ready: 0 };
    });
    assert.ok(!sim.owned('creator', 'Update').some((p) => p.startsWith('.status')));
    const entries = sim.update(
      'controller',
      (o) => {
        o.status = { ready: 1 };
        (o.spec as { replicas: number }).replicas = 9;
      },
      'status',
    );
    const controller = entries.find((e) => e.manager === 'controller');
    assert.equal(controller?.subresource, 'status');
    assert.deepEqual(controller?.fieldsV1, { 'f:status': { 'f:ready': {} } });
  });

  test('a heartbeat (new values of fields only its writer owns) keeps ownership and re-times the entry; a shared field still moves', () => {
    const sim = new Sim();
    sim.update('creator', (o) => {
      o.spec = { replicas: 1 };
    });
    sim.update(
      'agent',
      (o) => {
        o.status = { ready: 1, phase: 'Online' };
      },
      'status',
    );
    const before = sim.entries();
    const entries = sim.update(
      'agent',
      (o) => {
        o.status = { ready: 2, phase: 'Online' };
      },
      'status',
    );
    const agent = entries.find((e) => e.manager === 'agent');
    assert.deepEqual(agent?.fieldsV1, { 'f:status': { '.': {}, 'f:phase': {}, 'f:ready': {} } });
    // The writer's entry gets the write's time and goes last (the apiserver's order: by time).
    assert.equal(agent?.time, '2025-01-01T00:00:03Z');
    assert.deepEqual(
      entries.map((e) => e.manager),
      ['creator', 'agent'],
    );
    assert.deepEqual(
      entries.find((e) => e.manager === 'creator'),
      before.find((e) => e.manager === 'creator'),
    );
    // Nothing changed: nothing re-timed.
    assert.deepEqual(
      sim.update('agent', () => {}, 'status'),
      entries,
    );
    // A field another manager took stays the other's until the agent changes it again; then it moves.
    sim.update(
      'health',
      (o) => {
        (o.status as { phase: string }).phase = 'Unreachable';
      },
      'status',
    );
    assert.deepEqual(sim.owned('health', 'Update'), ['.status.phase']);
    sim.update(
      'agent',
      (o) => {
        o.status = { ready: 3, phase: 'Online' };
      },
      'status',
    );
    assert.equal(sim.entry('health', 'Update'), undefined);
    assert.deepEqual(sim.owned('agent', 'Update'), ['.status', '.status.phase', '.status.ready']);
  });

  test('throws InvalidManagedFieldsError on managedFields it cannot decode', () => {
    assert.throws(
      () =>
        recordUpdate({
          before: widget(),
          after: widget({ replicas: 1 }),
          managedFields: [{ manager: 'x', operation: 'Patch' }] as unknown as ManagedFieldsEntry[],
          manager: 'm',
          schema,
          now: new Date(0),
        }),
      InvalidManagedFieldsError,
    );
  });
});

describe('managed fields entries', () => {
  const entry = (manager: string, time: string, operation: 'Apply' | 'Update' = 'Update'): ManagerFields => ({
    manager,
    operation,
    subresource: undefined,
    apiVersion: API_VERSION,
    time,
    fields: FieldSet.of(['f:spec', `f:${manager}`]),
  });

  test('are sorted Apply first, then by time and manager', () => {
    const encoded = encodeManagedFields([
      entry('b', '2025-01-01T00:00:02Z'),
      entry('a', '2025-01-01T00:00:02Z'),
      entry('c', '2025-01-01T00:00:01Z'),
      entry('z', '2025-01-01T00:00:09Z', 'Apply'),
    ]);
    assert.deepEqual(
      encoded.map((e) => e.manager),
      ['z', 'c', 'a', 'b'],
    );
  });

  test('keep at most ten Update entries by merging the oldest into ancient-changes', () => {
    const many = Array.from({ length: 12 }, (_, i) => entry(`m${i}`, `2025-01-01T00:00:${String(10 + i)}Z`));
    const capped = capUpdateManagers([entry('applier', '2025-01-01T00:00:00Z', 'Apply'), ...many]);
    const updates = capped.filter((m) => m.operation === 'Update');
    assert.equal(updates.length, 10);
    const bucket = capped.find((m) => m.manager === ANCIENT_CHANGES_MANAGER);
    assert.deepEqual(bucket?.fields.paths().length, 3, 'the three oldest merged');
    assert.equal(bucket?.time, '2025-01-01T00:00:12Z');
    assert.ok(capped.some((m) => m.manager === 'applier'));
  });

  test('reject duplicate entries for one manager', () => {
    const e = { manager: 'm', operation: 'Update', apiVersion: 'v1', fieldsType: 'FieldsV1', fieldsV1: {} };
    assert.throws(() => decodeManagedFields([e, e]), InvalidManagedFieldsError);
  });

  test('an update starts from the client list when valid, resets on [] or [{}], else keeps the live list', () => {
    const live = [
      { manager: 'a', operation: 'Update', apiVersion: 'v1', fieldsType: 'FieldsV1', fieldsV1: {} },
    ] as ManagedFieldsEntry[];
    const mine = [
      { manager: 'b', operation: 'Apply', apiVersion: 'v1', fieldsType: 'FieldsV1', fieldsV1: {} },
    ];
    assert.equal(managedFieldsBase({ live, incoming: undefined }), live);
    assert.deepEqual(managedFieldsBase({ live, incoming: [] }), []);
    assert.deepEqual(managedFieldsBase({ live, incoming: [{}] }), []);
    assert.deepEqual(managedFieldsBase({ live, incoming: mine }), mine);
    assert.equal(managedFieldsBase({ live, incoming: [{ manager: 1 }] }), live);
    assert.equal(managedFieldsBase({ live, incoming: mine, subresource: 'status' }), live);
  });
});
