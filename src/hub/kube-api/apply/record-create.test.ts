import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ALL_KINDS } from '../../../api/index.ts';
import { recordCreate } from './record-create.ts';
import { recordUpdate } from './record-update.ts';
import { schemaInfoFrom } from './schema-info.ts';
import type { JsonObject } from './shape.ts';
import { schema, widget } from './widget.fixture.ts';

const now = new Date('2025-02-03T04:05:06.789Z');

/** What the general path records for a create: the reference recordCreate must equal. */
function viaUpdate(after: JsonObject, info = schema) {
  return recordUpdate({ before: undefined, after, managedFields: [], manager: 'creator', schema: info, now });
}

function viaCreate(after: JsonObject, info = schema) {
  return recordCreate({ after, manager: 'creator', schema: info, now });
}

describe('recordCreate', () => {
  const widgets: Record<string, JsonObject> = {
    'every merge rule': widget(
      {
        replicas: 2,
        paused: false,
        selector: { matchLabels: { app: 'x' } },
        strategy: { type: 'Rolling', maxSurge: 1 },
        args: ['--a', '--b'],
        tags: ['b', 'a', 'c'],
        containers: [
          { name: 'z', image: 'z:1', ports: [{ containerPort: 80 }, { containerPort: 53, protocol: 'UDP' }] },
          { name: 'a', image: 'a:1' },
        ],
        config: { nested: { deep: [1, 2] }, empty: {} },
      },
      { metadata: { labels: { b: '2', a: '1' }, annotations: { note: 'x' }, finalizers: ['f'] } },
    ),
    'identity only': widget(),
    'empty containers and nulls': widget({ strategy: {}, args: [], tags: [], containers: [], paused: null }),
    'status is not owned through the main resource': widget({ replicas: 1 }, { status: { ready: 1 } }),
    'a list that cannot be keyed is a leaf': widget({
      containers: [{ name: 'a' }, { name: 'a' }],
      tags: [{ not: 'a scalar' }],
    }),
    'server-set metadata holding something keeps what it holds': widget(undefined, {
      metadata: { generation: { odd: 1 }, uid: 'u', managedFields: [{ manager: 'ignored' }] },
    }),
    'unknown top-level fields': widget({ replicas: 1 }, { extra: { a: [1] }, kind: { odd: true } }),
  };
  for (const [name, object] of Object.entries(widgets)) {
    test(`gives what recordUpdate gives for a create: ${name}`, () => {
      assert.deepEqual(viaCreate(object), viaUpdate(object));
    });
  }

  test('gives what recordUpdate gives for objects of the served kinds', () => {
    const byKind = new Map(ALL_KINDS.map((def) => [def.kind, def]));
    const samples: JsonObject[] = [
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'c', namespace: 'default', labels: { app: 'a' } },
        data: { 'b.txt': 'x', 'a.txt': 'y' },
        binaryData: { bin: 'AA==' },
      },
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'n' }, spec: { finalizers: ['kubernetes'] } },
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 's', namespace: 'default' },
        type: 'Opaque',
        stringData: { k: 'v' },
      },
    ];
    for (const sample of samples) {
      const def = byKind.get(sample.kind as string);
      assert.ok(def, `kind ${String(sample.kind)} is served`);
      const info = schemaInfoFrom(def.schema);
      assert.deepEqual(viaCreate(sample, info), viaUpdate(sample, info), String(sample.kind));
    }
  });

  test('an object that sets nothing owned has no entry', () => {
    assert.deepEqual(viaCreate({ apiVersion: 'v1', kind: 'X', metadata: { name: 'x' } }), []);
  });
});
