import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Type } from 'typebox';
import { fieldsOf } from './fields-of.ts';
import { formatPath } from './path.ts';
import { objectMetaInfo, type SchemaInfo, schemaInfoFrom } from './schema-info.ts';

function at(info: SchemaInfo, ...keys: string[]): SchemaInfo {
  let current = info;
  for (const key of keys) {
    const map = current.map;
    assert.ok(map, `no map at ${key}`);
    current = map.field(key).info;
  }
  return current;
}

function owned(info: SchemaInfo, value: unknown): string[] {
  return fieldsOf(value, info).paths().map(formatPath);
}

describe('schemaInfoFrom', () => {
  test('reads list types and map keys from the Kubernetes extensions; lists are atomic by default', () => {
    const info = schemaInfoFrom({
      type: 'object',
      properties: {
        plain: { type: 'array', items: { type: 'string' } },
        set: { type: 'array', items: { type: 'string' }, 'x-kubernetes-list-type': 'set' },
        map: {
          type: 'array',
          items: { type: 'object', properties: { name: { type: 'string' } } },
          'x-kubernetes-list-type': 'map',
          'x-kubernetes-list-map-keys': ['name'],
        },
        keyless: { type: 'array', items: { type: 'object' }, 'x-kubernetes-list-type': 'map' },
      },
    });
    assert.equal(at(info, 'plain').list?.type, 'atomic');
    assert.equal(at(info, 'set').list?.type, 'set');
    assert.deepEqual(at(info, 'map').list?.keys, ['name']);
    assert.equal(at(info, 'keyless').list?.type, 'atomic', 'a map list without keys cannot merge by key');
  });

  test('objects are granular unless x-kubernetes-map-type is atomic', () => {
    const info = schemaInfoFrom({
      type: 'object',
      properties: {
        granular: { type: 'object', properties: { a: { type: 'string' } } },
        atomic: { type: 'object', 'x-kubernetes-map-type': 'atomic' },
      },
    });
    assert.equal(at(info, 'granular').map?.atomic, false);
    assert.equal(at(info, 'atomic').map?.atomic, true);
  });

  test('untyped and preserve-unknown positions are granular objects and atomic lists', () => {
    const info = schemaInfoFrom({
      type: 'object',
      properties: { any: {}, kept: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
    });
    assert.deepEqual(owned(info, { any: { a: { b: 1 }, l: [1, 2] } }), ['.any.a', '.any.l', '.any.a.b']);
    assert.deepEqual(owned(info, { kept: { x: [{ y: 1 }] } }), ['.kept.x']);
  });

  test('metadata always follows ObjectMeta: labels granular, finalizers a set, ownerReferences keyed by uid', () => {
    const info = schemaInfoFrom({ type: 'object', properties: { metadata: { type: 'object' } } });
    const meta = at(info, 'metadata');
    assert.equal(meta, objectMetaInfo);
    assert.equal(at(meta, 'finalizers').list?.type, 'set');
    assert.deepEqual(at(meta, 'ownerReferences').list?.keys, ['uid']);
    assert.deepEqual(
      owned(info, { metadata: { labels: { a: '1' }, ownerReferences: [{ uid: 'u', name: 'o' }] } }),
      [
        '.metadata.labels.a',
        '.metadata.ownerReferences[uid="u"]',
        '.metadata.ownerReferences[uid="u"].name',
        '.metadata.ownerReferences[uid="u"].uid',
      ],
    );
  });

  test('embedded resources get ObjectMeta for their metadata too', () => {
    const info = schemaInfoFrom({
      type: 'object',
      properties: {
        spec: {
          type: 'object',
          properties: {
            resources: {
              type: 'array',
              items: {
                type: 'object',
                'x-kubernetes-embedded-resource': true,
                'x-kubernetes-preserve-unknown-fields': true,
              },
            },
          },
        },
      },
    });
    const item = at(info, 'spec', 'resources').list?.item;
    assert.ok(item);
    assert.equal(at(item, 'metadata'), objectMetaInfo);
  });

  test('understands TypeBox output: optional, unions with null, records, refs and cyclic types', () => {
    const Node = Type.Cyclic(
      {
        Node: Type.Object({
          id: Type.String(),
          children: Type.Array(Type.Ref('Node'), {
            'x-kubernetes-list-type': 'map',
            'x-kubernetes-list-map-keys': ['id'],
          }),
        }),
      },
      'Node',
    );
    const schema = Type.Object({
      spec: Type.Object({
        maybe: Type.Optional(Type.Union([Type.Object({ a: Type.String() }), Type.Null()])),
        data: Type.Record(Type.String(), Type.String()),
        tree: Node,
      }),
    });
    const info = schemaInfoFrom(schema);
    assert.equal(at(info, 'spec', 'maybe').map?.field('a').named, true);
    assert.equal(at(info, 'spec', 'data').map?.field('anything').named, false);
    const children = at(info, 'spec', 'tree', 'children').list;
    assert.deepEqual(children?.keys, ['id']);
    const grandChildren = children && at(children.item, 'children').list;
    assert.deepEqual(grandChildren?.keys, ['id'], 'the recursive reference resolves at every depth');
  });

  test('resolves JSON-pointer refs into definitions', () => {
    const info = schemaInfoFrom({
      definitions: { Tags: { type: 'array', items: { type: 'string' }, 'x-kubernetes-list-type': 'set' } },
      type: 'object',
      properties: { tags: { $ref: '#/definitions/Tags' } },
    });
    assert.equal(at(info, 'tags').list?.type, 'set');
  });

  test('marks required properties so emptied required objects are kept', () => {
    const info = schemaInfoFrom({
      type: 'object',
      required: ['spec'],
      properties: { spec: { type: 'object' }, extra: { type: 'object' } },
    });
    assert.equal(info.map?.field('spec').required, true);
    assert.equal(info.map?.field('extra').required, false);
  });
});
