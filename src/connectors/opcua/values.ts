import { DataType, type Variant, VariantArrayType } from 'node-opcua';

/** A command value that cannot become the node's DataType: acked `BadTypeMismatch`. */
export class TypeMismatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TypeMismatchError';
  }
}

/** A value as JSON: what goes into a telemetry payload's `value`. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/**
 * An OPC UA value as JSON: numbers, booleans and strings as they are, 64-bit
 * integers as numbers (precision past 2^53 is lost), dates as ISO-8601,
 * byte strings as base64, localized text as its text, arrays element by
 * element, NaN and infinities as null.
 */
export function variantToJson(variant: Variant): JsonValue {
  const { dataType, arrayType, value } = variant;
  if (arrayType !== VariantArrayType.Scalar && value && typeof value === 'object' && 'length' in value)
    return Array.from(value as ArrayLike<unknown>, (item) => scalarToJson(dataType, item));
  return scalarToJson(dataType, value);
}

function scalarToJson(dataType: DataType, value: unknown): JsonValue {
  if (value === null || value === undefined) return null;
  switch (typeof value) {
    case 'number':
      return Number.isFinite(value) ? value : null;
    case 'boolean':
    case 'string':
      return value;
    case 'bigint':
      return Number(value);
  }
  if ((dataType === DataType.Int64 || dataType === DataType.UInt64) && Array.isArray(value)) {
    const [high, low] = value as [number, number];
    return high * 2 ** 32 + low;
  }
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (Buffer.isBuffer(value)) return value.toString('base64');
  if (typeof value === 'object') {
    const record = value as { text?: unknown; name?: unknown };
    if (dataType === DataType.LocalizedText) return typeof record.text === 'string' ? record.text : null;
    if (dataType === DataType.QualifiedName) return typeof record.name === 'string' ? record.name : null;
    if (dataType === DataType.ExtensionObject && 'toJSON' in value)
      return (value as { toJSON(): JsonValue }).toJSON();
  }
  return String(value);
}

const INTEGER_RANGES: Partial<Record<DataType, readonly [number, number]>> = {
  [DataType.SByte]: [-128, 127],
  [DataType.Byte]: [0, 255],
  [DataType.Int16]: [-32768, 32767],
  [DataType.UInt16]: [0, 65535],
  [DataType.Int32]: [-2147483648, 2147483647],
  [DataType.UInt32]: [0, 4294967295],
  [DataType.Int64]: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  [DataType.UInt64]: [0, Number.MAX_SAFE_INTEGER],
};

/**
 * A command's JSON value converted to `dataType` for a write, or a
 * {@link TypeMismatchError} saying why it cannot be: no silent coercion of a
 * string to a number or of a fraction to an integer. Arrays convert element by
 * element.
 */
export function jsonToOpcUa(dataType: DataType, value: unknown): unknown {
  if (Array.isArray(value)) return value.map((item) => jsonToOpcUa(dataType, item));
  const fail = (expected: string): never => {
    throw new TypeMismatchError(
      `expected ${expected} for ${DataType[dataType]}, got ${JSON.stringify(value)}`,
    );
  };
  const range = INTEGER_RANGES[dataType];
  if (range) {
    if (typeof value !== 'number' || !Number.isInteger(value)) return fail('an integer');
    if (value < range[0] || value > range[1]) return fail(`an integer in ${range[0]}..${range[1]}`);
    return value;
  }
  switch (dataType) {
    case DataType.Double:
    case DataType.Float:
      return typeof value === 'number' && Number.isFinite(value) ? value : fail('a number');
    case DataType.Boolean:
      return typeof value === 'boolean' ? value : fail('true or false');
    case DataType.String:
      return typeof value === 'string' ? value : fail('a string');
    case DataType.LocalizedText:
      return typeof value === 'string' ? { text: value } : fail('a string');
    case DataType.DateTime: {
      const date = typeof value === 'string' ? new Date(value) : undefined;
      return date && !Number.isNaN(date.getTime()) ? date : fail('an ISO-8601 date');
    }
    case DataType.ByteString:
      return typeof value === 'string' ? Buffer.from(value, 'base64') : fail('a base64 string');
    default:
      throw new TypeMismatchError(`writing ${DataType[dataType] ?? dataType} values is not supported`);
  }
}
