import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Type from 'typebox';
import { type JsonObject, toOpenApiSchema, UnsupportedSchemaError } from './schema-conversion.ts';

const v3 = (schema: unknown) => toOpenApiSchema(schema as JsonObject, { dialect: 'v3' });
const v2 = (schema: unknown) => toOpenApiSchema(schema as JsonObject, { dialect: 'v2' });

describe('toOpenApiSchema', () => {
  it('turns a literal into a one-value enum of its type', () => {
    assert.deepEqual(v3(Type.Literal('Always')), { type: 'string', enum: ['Always'] });
  });

  it('turns a union of literals into one enum', () => {
    const schema = Type.Union([Type.Literal('a'), Type.Literal('b')], { description: 'Letters.' });
    assert.deepEqual(v3(schema), { type: 'string', description: 'Letters.', enum: ['a', 'b'] });
  });

  it('gives an untyped enum the type of its values', () => {
    assert.deepEqual(v3(Type.Enum(['On', 'Off'])), { enum: ['On', 'Off'], type: 'string' });
    assert.deepEqual(v3({ enum: [1, 2] }), { enum: [1, 2], type: 'integer' });
  });

  it('turns patternProperties into additionalProperties', () => {
    assert.deepEqual(v3(Type.Record(Type.String(), Type.Integer())), {
      type: 'object',
      additionalProperties: { type: 'integer' },
    });
  });

  it('writes a nullable union as nullable in v3 and drops null in v2', () => {
    const schema = Type.Union([Type.String(), Type.Null()], { description: 'Maybe.' });
    assert.deepEqual(v3(schema), { type: 'string', description: 'Maybe.', nullable: true });
    assert.deepEqual(v2(schema), { type: 'string', description: 'Maybe.' });
  });

  it('writes an integer-or-string union as x-kubernetes-int-or-string', () => {
    assert.deepEqual(v3(Type.Union([Type.Integer(), Type.String()])), { 'x-kubernetes-int-or-string': true });
  });

  it('keeps other unions as anyOf in v3 only', () => {
    const schema = Type.Union([Type.Object({ a: Type.String() }), Type.Boolean()]);
    assert.equal((v3(schema).anyOf as unknown[]).length, 2);
    assert.deepEqual(v2(schema), {});
  });

  it('keeps descriptions, validations and Kubernetes extensions through nesting', () => {
    const schema = Type.Object({
      items: Type.Array(Type.String({ minLength: 1 }), {
        maxItems: 3,
        'x-kubernetes-list-type': 'set',
        description: 'Names.',
      }),
      free: Type.Object({}, { 'x-kubernetes-preserve-unknown-fields': true }),
      count: Type.Optional(Type.Integer({ minimum: 0, default: 1 })),
    });
    assert.deepEqual(v3(schema), {
      type: 'object',
      required: ['items', 'free'],
      properties: {
        items: {
          type: 'array',
          items: { type: 'string', minLength: 1 },
          maxItems: 3,
          'x-kubernetes-list-type': 'set',
          description: 'Names.',
        },
        free: { type: 'object', properties: {}, 'x-kubernetes-preserve-unknown-fields': true },
        count: { type: 'integer', minimum: 0, default: 1 },
      },
    });
  });

  it('drops a closed object marker and writes an open one as preserve-unknown-fields', () => {
    assert.deepEqual(v3({ type: 'object', additionalProperties: false }), { type: 'object' });
    assert.deepEqual(v3({ type: 'object', additionalProperties: true }), {
      type: 'object',
      'x-kubernetes-preserve-unknown-fields': true,
    });
  });

  it('writes numeric exclusive bounds as OpenAPI flags', () => {
    assert.deepEqual(v3(Type.Number({ exclusiveMinimum: 0 })), {
      type: 'number',
      minimum: 0,
      exclusiveMinimum: true,
    });
  });

  it('annotates fields with their strategic-merge-patch metadata', () => {
    const schema = Type.Object({
      owners: Type.Array(Type.Object({ uid: Type.String() })),
      tags: Type.Array(Type.String()),
    });
    const converted = toOpenApiSchema(schema as unknown as JsonObject, {
      dialect: 'v3',
      patchMeta: { fields: { owners: { strategy: 'merge', mergeKey: 'uid' }, tags: { strategy: 'merge' } } },
    });
    const properties = converted.properties as Record<string, JsonObject>;
    assert.equal(properties.owners?.['x-kubernetes-patch-strategy'], 'merge');
    assert.equal(properties.owners?.['x-kubernetes-patch-merge-key'], 'uid');
    assert.equal(properties.tags?.['x-kubernetes-patch-merge-key'], undefined);
  });

  it('lets the caller replace a property by a reference', () => {
    const schema = Type.Object({ metadata: Type.Object({ name: Type.String() }), spec: Type.Object({}) });
    const converted = toOpenApiSchema(schema as unknown as JsonObject, {
      dialect: 'v3',
      replace: (path) => (path.join('.') === 'metadata' ? { $ref: '#/components/schemas/Meta' } : undefined),
    });
    assert.deepEqual((converted.properties as JsonObject).metadata, { $ref: '#/components/schemas/Meta' });
  });

  it('refuses a JSON Schema reference it cannot resolve', () => {
    assert.throws(
      () => v3({ type: 'object', properties: { a: { $ref: '#/$defs/A' } } }),
      UnsupportedSchemaError,
    );
  });
});
