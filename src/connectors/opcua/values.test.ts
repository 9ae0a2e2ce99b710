import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DataType, Variant, VariantArrayType } from 'node-opcua';
import { jsonToOpcUa, TypeMismatchError, variantToJson } from './values.ts';

test('converts command values to the node type and refuses what does not fit', () => {
  assert.equal(jsonToOpcUa(DataType.Double, 55), 55);
  assert.equal(jsonToOpcUa(DataType.Int16, -3), -3);
  assert.equal(jsonToOpcUa(DataType.Boolean, true), true);
  assert.deepEqual(jsonToOpcUa(DataType.Float, [1, 2.5]), [1, 2.5]);
  assert.ok((jsonToOpcUa(DataType.DateTime, '2026-01-01T00:00:00Z') as Date) instanceof Date);
  for (const [type, value] of [
    [DataType.Double, 'hot'],
    [DataType.Double, '55'],
    [DataType.Int16, 1.5],
    [DataType.Byte, 256],
    [DataType.UInt32, -1],
    [DataType.Boolean, 1],
    [DataType.String, 5],
    [DataType.DateTime, 'yesterday'],
  ] as const)
    assert.throws(
      () => jsonToOpcUa(type, value),
      TypeMismatchError,
      `${DataType[type]} ${JSON.stringify(value)}`,
    );
});

test('turns OPC UA values into JSON', () => {
  assert.equal(variantToJson(new Variant({ dataType: DataType.Double, value: 21.5 })), 21.5);
  assert.equal(variantToJson(new Variant({ dataType: DataType.Double, value: Number.NaN })), null);
  assert.equal(
    variantToJson(
      new Variant({ dataType: DataType.Int64, arrayType: VariantArrayType.Scalar, value: [1, 2] }),
    ),
    2 ** 32 + 2,
  );
  assert.equal(
    variantToJson(new Variant({ dataType: DataType.DateTime, value: new Date('2026-01-01T00:00:00Z') })),
    '2026-01-01T00:00:00.000Z',
  );
  assert.deepEqual(
    variantToJson(
      new Variant({ dataType: DataType.Double, arrayType: VariantArrayType.Array, value: [1, 2] }),
    ),
    [1, 2],
  );
  assert.equal(variantToJson(new Variant({ dataType: DataType.LocalizedText, value: { text: 'hi' } })), 'hi');
});
