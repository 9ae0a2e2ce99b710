import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { applyConfiguration } from './apply.ts';
import { ApplyConflictError, InvalidApplyConfigError } from './errors.ts';
import { API_VERSION, Sim, schema, widget } from './widget.fixture.ts';

function conflictOf(fn: () => unknown): ApplyConflictError {
  try {
    fn();
  } catch (error) {
    if (error instanceof ApplyConflictError) return error;
    throw error;
  }
  assert.fail('expected an ApplyConflictError');
}

/** Scenarios from the Kubernetes Server-Side Apply documentation. */
const scenarios: { name: string; run: (sim: Sim) => void }[] = [
  {
    name: 'apply creates the object and records exactly the applied fields as an Apply entry',
    run(sim) {
      const r = sim.apply('kubectl', widget({ replicas: 2 }, { metadata: { labels: { app: 'web' } } }));
      assert.deepEqual(r.object.spec, { replicas: 2 });
      assert.equal(r.changed, true);
      assert.deepEqual(r.managedFields, [
        {
          manager: 'kubectl',
          operation: 'Apply',
          apiVersion: API_VERSION,
          time: '2025-01-01T00:00:01Z',
          fieldsType: 'FieldsV1',
          fieldsV1: { 'f:metadata': { 'f:labels': { 'f:app': {} } }, 'f:spec': { 'f:replicas': {} } },
        },
      ]);
      assert.deepEqual((r.object.metadata as { managedFields: unknown }).managedFields, r.managedFields);
    },
  },
  {
    name: 'two managers applying different fields both keep theirs without conflict',
    run(sim) {
      sim.apply('alice', widget({ replicas: 2 }));
      sim.apply('bob', widget({ paused: true }));
      assert.deepEqual(sim.spec(), { replicas: 2, paused: true });
      assert.deepEqual(sim.owned('alice'), ['.spec.replicas']);
      assert.deepEqual(sim.owned('bob'), ['.spec.paused']);
    },
  },
  {
    name: 'changing a field another applier owns conflicts, and force takes it over',
    run(sim) {
      sim.apply('alice', widget({ replicas: 2, paused: false }));
      const before = structuredClone(sim.object);
      const err = conflictOf(() => sim.apply('bob', widget({ replicas: 3 })));
      assert.deepEqual(err.conflicts, [
        {
          manager: 'alice',
          operation: 'Apply',
          apiVersion: API_VERSION,
          subresource: undefined,
          field: '.spec.replicas',
        },
      ]);
      assert.equal(err.message, 'Apply failed with 1 conflict: conflict with "alice": .spec.replicas');
      assert.deepEqual(sim.object, before, 'a failed apply changes nothing');

      sim.apply('bob', widget({ replicas: 3 }), true);
      assert.equal(sim.spec().replicas, 3);
      assert.deepEqual(sim.owned('bob'), ['.spec.replicas']);
      assert.deepEqual(sim.owned('alice'), ['.spec.paused']);
    },
  },
  {
    name: 'a conflict with an Update manager names its API version, as kubectl shows it',
    run(sim) {
      sim.update('kubectl-client-side-apply', (o) => {
        o.spec = { replicas: 1 };
      });
      const err = conflictOf(() => sim.apply('kubectl', widget({ replicas: 5 })));
      assert.equal(
        err.message,
        'Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using outpost.dev/v1alpha1: .spec.replicas',
      );
    },
  },
  {
    name: 'a field dropped from the applied configuration is removed from the object',
    run(sim) {
      sim.apply('alice', widget({ replicas: 2, paused: true, strategy: { type: 'Recreate' } }));
      const r = sim.apply('alice', widget({ replicas: 2 }));
      assert.deepEqual(r.object.spec, { replicas: 2 });
      assert.deepEqual(sim.owned('alice'), ['.spec.replicas']);
    },
  },
  {
    name: 'a field two appliers set to the same value is shared, and stays when one of them drops it',
    run(sim) {
      sim.apply('alice', widget({ replicas: 3, paused: true }));
      sim.apply('bob', widget({ replicas: 3 }));
      assert.deepEqual(sim.owned('alice'), ['.spec.paused', '.spec.replicas']);
      assert.deepEqual(sim.owned('bob'), ['.spec.replicas']);

      sim.apply('alice', widget({ paused: true }));
      assert.equal(sim.spec().replicas, 3);
      assert.deepEqual(sim.owned('bob'), ['.spec.replicas']);

      sim.apply('bob', widget());
      assert.deepEqual(sim.spec(), { paused: true });
      assert.equal(sim.entry('bob'), undefined, 'an entry that owns nothing is dropped');
    },
  },
  {
    name: 'a shared field changed by one of its owners conflicts with the other',
    run(sim) {
      sim.apply('alice', widget({ replicas: 3 }));
      sim.apply('bob', widget({ replicas: 3 }));
      const err = conflictOf(() => sim.apply('alice', widget({ replicas: 4 })));
      assert.deepEqual(
        err.conflicts.map((c) => `${c.manager} ${c.field}`),
        ['bob .spec.replicas'],
      );
    },
  },
  {
    name: 'map lists merge item by item on their keys and drop only the items an applier gave up',
    run(sim) {
      sim.apply('alice', widget({ containers: [{ name: 'a', image: 'a:1' }] }));
      sim.apply('bob', widget({ containers: [{ name: 'b', image: 'b:1' }] }));
      assert.deepEqual(sim.spec().containers, [
        { name: 'a', image: 'a:1' },
        { name: 'b', image: 'b:1' },
      ]);
      assert.deepEqual(sim.entry('alice')?.fieldsV1, {
        'f:spec': { 'f:containers': { 'k:{"name":"a"}': { '.': {}, 'f:image': {}, 'f:name': {} } } },
      });

      const err = conflictOf(() => sim.apply('bob', widget({ containers: [{ name: 'a', image: 'a:2' }] })));
      assert.deepEqual(
        err.conflicts.map((c) => c.field),
        ['.spec.containers[name="a"].image'],
      );

      sim.apply('alice', widget({ containers: [] }));
      assert.deepEqual(sim.spec().containers, [{ name: 'b', image: 'b:1' }]);
    },
  },
  {
    name: 'a list item another applier also owns survives when one applier drops it, without its fields',
    run(sim) {
      sim.apply('alice', widget({ containers: [{ name: 'a', image: 'a:1' }] }));
      sim.apply('bob', widget({ containers: [{ name: 'a', ports: [{ containerPort: 80 }] }] }));
      sim.apply('alice', widget({ replicas: 1 }));
      assert.deepEqual(sim.spec().containers, [{ name: 'a', ports: [{ containerPort: 80 }] }]);
    },
  },
  {
    name: 'map list keys use schema defaults for omitted key fields',
    run(sim) {
      sim.apply('alice', widget({ containers: [{ name: 'a', ports: [{ containerPort: 80 }] }] }));
      const ports = { 'k:{"containerPort":80,"protocol":"TCP"}': { '.': {}, 'f:containerPort': {} } };
      assert.deepEqual(sim.entry('alice')?.fieldsV1, {
        'f:spec': { 'f:containers': { 'k:{"name":"a"}': { '.': {}, 'f:name': {}, 'f:ports': ports } } },
      });
    },
  },
  {
    name: 'set lists are unioned between appliers and lose only the values an applier dropped',
    run(sim) {
      sim.apply('alice', widget({ tags: ['x', 'y'] }));
      sim.apply('bob', widget({ tags: ['z', 'x'] }));
      // Applied order first; items only in the live list keep their place after the shared ones.
      assert.deepEqual(sim.spec().tags, ['z', 'x', 'y']);
      assert.deepEqual(sim.entry('bob')?.fieldsV1, { 'f:spec': { 'f:tags': { 'v:"x"': {}, 'v:"z"': {} } } });

      sim.apply('alice', widget({ tags: ['x'] }));
      assert.deepEqual(sim.spec().tags, ['z', 'x'], 'y goes; x stays, bob shares it');
      sim.apply('bob', widget({ tags: ['z'] }));
      assert.deepEqual(sim.spec().tags, ['z', 'x'], 'x stays: alice still applies it');
    },
  },
  {
    name: 'atomic lists are replaced whole and owned as one field',
    run(sim) {
      sim.apply('alice', widget({ args: ['-a', '-b'] }));
      sim.apply('alice', widget({ args: ['-c'] }));
      assert.deepEqual(sim.spec().args, ['-c']);
      assert.deepEqual(sim.entry('alice')?.fieldsV1, { 'f:spec': { 'f:args': {} } });
      const err = conflictOf(() => sim.apply('bob', widget({ args: ['-c', '-d'] })));
      assert.deepEqual(
        err.conflicts.map((c) => c.field),
        ['.spec.args'],
      );
    },
  },
  {
    name: 'atomic maps are replaced whole and owned as one field',
    run(sim) {
      sim.apply('alice', widget({ selector: { matchLabels: { app: 'a', tier: 'web' } } }));
      sim.apply('alice', widget({ selector: { matchLabels: { app: 'b' } } }));
      assert.deepEqual(sim.spec().selector, { matchLabels: { app: 'b' } });
      assert.deepEqual(sim.entry('alice')?.fieldsV1, { 'f:spec': { 'f:selector': {} } });
    },
  },
  {
    name: 'an ordinary update takes the fields it changes from their appliers',
    run(sim) {
      sim.apply('alice', widget({ replicas: 1, paused: true }));
      sim.update('kubectl-edit', (o) => {
        (o.spec as { replicas: number }).replicas = 5;
      });
      assert.deepEqual(sim.owned('alice'), ['.spec.paused']);
      assert.deepEqual(sim.owned('kubectl-edit', 'Update'), ['.spec.replicas']);

      const err = conflictOf(() => sim.apply('alice', widget({ replicas: 1, paused: true })));
      assert.equal(err.conflicts[0]?.manager, 'kubectl-edit');
      sim.apply('alice', widget({ replicas: 1, paused: true }), true);
      assert.equal(sim.entry('kubectl-edit', 'Update'), undefined);
      assert.deepEqual(sim.owned('alice'), ['.spec.paused', '.spec.replicas']);
    },
  },
  {
    name: 'applying the same configuration twice changes nothing, not even the time',
    run(sim) {
      const config = widget({
        replicas: 2,
        tags: ['b', 'a'],
        containers: [{ name: 'x', image: 'x:1', ports: [{ containerPort: 1 }] }],
        config: { nested: { deep: [1, 2] } },
      });
      const first = sim.apply('alice', config);
      const second = sim.apply('alice', config);
      assert.deepEqual(second.object, first.object);
      assert.deepEqual(second.managedFields, first.managedFields);
      assert.equal(second.changed, false);
    },
  },
  {
    name: 'labels and annotations are owned key by key, finalizers value by value',
    run(sim) {
      sim.apply('alice', widget(undefined, { metadata: { labels: { a: '1' }, finalizers: ['x'] } }));
      sim.apply('bob', widget(undefined, { metadata: { labels: { b: '2' }, finalizers: ['y'] } }));
      const meta = sim.object?.metadata as Record<string, unknown>;
      assert.deepEqual(meta.labels, { a: '1', b: '2' });
      assert.deepEqual(meta.finalizers, ['x', 'y']);
      sim.apply('alice', widget());
      const after = sim.object?.metadata as Record<string, unknown>;
      assert.deepEqual(after.labels, { b: '2' });
      assert.deepEqual(after.finalizers, ['y']);
    },
  },
  {
    name: 'preserve-unknown objects are granular: keys are owned with "." and merged',
    run(sim) {
      sim.apply('alice', widget({ config: { a: { x: 1 } } }));
      sim.apply('bob', widget({ config: { a: { y: 2 }, b: true } }));
      assert.deepEqual(sim.spec().config, { a: { x: 1, y: 2 }, b: true });
      assert.deepEqual(sim.entry('bob')?.fieldsV1, {
        'f:spec': { 'f:config': { 'f:a': { '.': {}, 'f:y': {} }, 'f:b': {} } },
      });
    },
  },
  {
    name: 'an empty struct field is owned as a leaf and kept',
    run(sim) {
      sim.apply('alice', widget({ strategy: {} }));
      assert.deepEqual(sim.spec(), { strategy: {} });
      assert.deepEqual(sim.entry('alice')?.fieldsV1, { 'f:spec': { 'f:strategy': {} } });
    },
  },
  {
    name: 'null asks for a field to be absent: it is removed and owned, conflicting with its owner',
    run(sim) {
      sim.apply('alice', widget({ replicas: 1, paused: true }));
      const err = conflictOf(() => sim.apply('bob', widget({ paused: null })));
      assert.deepEqual(
        err.conflicts.map((c) => c.field),
        ['.spec.paused'],
      );
      sim.apply('bob', widget({ paused: null }), true);
      assert.deepEqual(sim.spec(), { replicas: 1 });
      assert.deepEqual(sim.owned('bob'), ['.spec.paused']);
      assert.deepEqual(sim.owned('alice'), ['.spec.replicas']);
    },
  },
  {
    name: 'status in an apply configuration is ignored; the status subresource applies only status',
    run(sim) {
      sim.apply('alice', widget({ replicas: 1 }, { status: { ready: 9 } }));
      assert.equal(sim.object?.status, undefined);
      const r = applyConfiguration({
        live: sim.object,
        applied: widget({ replicas: 7 }, { status: { ready: 1 } }),
        manager: 'controller',
        schema,
        now: sim.now(),
        subresource: 'status',
      });
      assert.deepEqual(r.object.status, { ready: 1 });
      assert.deepEqual(r.object.spec, { replicas: 1 });
      const entry = r.managedFields.find((e) => e.manager === 'controller');
      assert.deepEqual(entry?.subresource, 'status');
      assert.deepEqual(entry?.fieldsV1, { 'f:status': { 'f:ready': {} } });
    },
  },
  {
    name: 'an object without managedFields gives its fields to before-first-apply on the first apply',
    run(sim) {
      sim.object = widget({ replicas: 1, paused: true });
      const err = conflictOf(() => sim.apply('kubectl', widget({ replicas: 2 })));
      assert.match(
        err.message,
        /conflict with "before-first-apply" using outpost\.dev\/v1alpha1: \.spec\.replicas$/,
      );
      sim.apply('kubectl', widget({ paused: true }));
      assert.deepEqual(sim.owned('kubectl'), ['.spec.paused']);
      assert.ok(sim.owned('before-first-apply', 'Update').includes('.spec.replicas'));
    },
  },
  {
    name: 'several conflicts are listed per manager, managers sorted',
    run(sim) {
      sim.apply('zed', widget({ replicas: 1 }));
      sim.update('amy', (o) => {
        Object.assign(o.spec as object, { paused: true, args: ['x'] });
      });
      const err = conflictOf(() => sim.apply('me', widget({ replicas: 2, paused: false, args: ['y'] })));
      assert.equal(
        err.message,
        'Apply failed with 3 conflicts: conflicts with "amy" using outpost.dev/v1alpha1:\n- .spec.args\n- .spec.paused\n' +
          'conflicts with "zed":\n- .spec.replicas',
      );
    },
  },
];

describe('applyConfiguration', () => {
  for (const s of scenarios) test(s.name, () => s.run(new Sim()));

  describe('kubectl moving from client-side to server-side apply', () => {
    const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';
    function clientSideApplied(): Sim {
      const sim = new Sim();
      sim.update('kubectl-client-side-apply', (o) => {
        o.spec = { replicas: 1, paused: true };
        (o.metadata as Record<string, unknown>).annotations = {
          [LAST_APPLIED]: JSON.stringify(widget({ replicas: 1 })),
        };
      });
      return sim;
    }

    test('kubectl takes over fields that still hold their last client-side applied value', () => {
      const sim = clientSideApplied();
      const r = sim.apply('kubectl', widget({ replicas: 2 }));
      assert.equal(sim.spec().replicas, 2);
      assert.deepEqual(sim.owned('kubectl'), ['.spec.replicas']);
      const annotations = (r.object.metadata as { annotations: Record<string, string> }).annotations;
      assert.deepEqual(JSON.parse(annotations[LAST_APPLIED] ?? ''), widget({ replicas: 2 }));
    });

    test('kubectl still conflicts on fields client-side apply did not set', () => {
      const sim = clientSideApplied();
      const err = conflictOf(() => sim.apply('kubectl', widget({ replicas: 2, paused: false })));
      assert.deepEqual(
        err.conflicts.map((c) => c.field),
        ['.spec.paused'],
      );
    });

    test('other field managers get no such allowance', () => {
      const sim = clientSideApplied();
      const err = conflictOf(() => sim.apply('helm', widget({ replicas: 2 })));
      assert.deepEqual(
        err.conflicts.map((c) => c.field),
        ['.spec.replicas'],
      );
    });
  });

  test('identity and server metadata are never owned, and server metadata in the configuration is ignored', () => {
    const sim = new Sim();
    sim.apply(
      'alice',
      widget({ replicas: 1 }, { metadata: { uid: 'evil', resourceVersion: '9', generation: 4 } }),
    );
    const meta = sim.object?.metadata as Record<string, unknown>;
    assert.equal(meta.uid, undefined);
    assert.equal(meta.resourceVersion, undefined);
    assert.deepEqual(sim.entry('alice')?.fieldsV1, { 'f:spec': { 'f:replicas': {} } });
  });

  test('the live object keeps its server metadata and is not modified', () => {
    const live = {
      ...widget({ replicas: 1 }),
      metadata: { name: 'w', namespace: 'ns', uid: 'u1', resourceVersion: '5' },
    };
    const frozen = structuredClone(live);
    const r = applyConfiguration({
      live,
      applied: widget({ replicas: 2 }),
      manager: 'm',
      force: true,
      schema,
      now: new Date(0),
    });
    assert.deepEqual(live, frozen);
    assert.equal((r.object.metadata as Record<string, unknown>).uid, 'u1');
    assert.equal((r.object.spec as Record<string, unknown>).replicas, 2);
  });

  const invalid: [string, unknown, string][] = [
    ['a configuration that is not an object', ['x'], ''],
    ['a missing kind', { apiVersion: API_VERSION, metadata: { name: 'w' } }, '.kind'],
    ['a missing name', { apiVersion: API_VERSION, kind: 'Widget', metadata: {} }, '.metadata.name'],
    [
      'duplicate keys in a map list',
      widget({ containers: [{ name: 'a' }, { name: 'a' }] }),
      '.spec.containers',
    ],
    ['a map-list item without its key', widget({ containers: [{ image: 'x' }] }), '.spec.containers'],
    ['an object in a set list', widget({ tags: [{ a: 1 }] }), '.spec.tags'],
  ];
  for (const [what, applied, field] of invalid) {
    test(`rejects ${what} with InvalidApplyConfigError naming ${field || 'the configuration'}`, () => {
      assert.throws(
        () => applyConfiguration({ live: undefined, applied, manager: 'm', schema, now: new Date(0) }),
        (e: unknown) => e instanceof InvalidApplyConfigError && e.field === field,
      );
    });
  }

  test('rejects a configuration whose name differs from the live object', () => {
    const live = widget({ replicas: 1 });
    const applied = { ...widget(), metadata: { name: 'other' } };
    assert.throws(
      () => applyConfiguration({ live, applied, manager: 'm', schema, now: new Date(0) }),
      InvalidApplyConfigError,
    );
  });

  test('duplicate message says which key repeats, as the apiserver does', () => {
    assert.throws(
      () =>
        applyConfiguration({
          live: undefined,
          applied: widget({ containers: [{ name: 'a' }, { name: 'a' }] }),
          manager: 'm',
          schema,
          now: new Date(0),
        }),
      { message: '.spec.containers: duplicate entries for key [name="a"]' },
    );
  });
});
