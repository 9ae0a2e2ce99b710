/**
 * A reader of the protobuf wire format and a decoder driven by field tables,
 * enough for the Kubernetes messages the hub accepts as request bodies.
 * No `.proto` files exist offline, so each message is described by a table of
 * its field numbers (checked against the upstream `generated.proto` files),
 * and decoding yields the object Go's `encoding/json` would print for it.
 */

/** The bytes are not a well-formed protobuf message (truncated, bad wire type, ...): a 400. */
export class ProtobufMalformedError extends Error {
  override readonly name = 'ProtobufMalformedError';
}

/** The bytes are well formed but name something the hub cannot decode (a kind, an encoding): a 415. */
export class ProtobufUnsupportedError extends Error {
  override readonly name = 'ProtobufUnsupportedError';
}

const VARINT = 0;
const FIXED64 = 1;
const BYTES = 2;
const START_GROUP = 3;
const END_GROUP = 4;
const FIXED32 = 5;
/** Nested groups in unknown fields deeper than this are refused rather than recursed into. */
const MAX_DEPTH = 64;

/** How one field's value is read and printed. */
export type FieldType =
  | 'string'
  | 'bool'
  | 'int32'
  | 'int64'
  /** Printed base64, as Go prints `[]byte`. */
  | 'bytes'
  /** `metav1.Time`: RFC 3339 to the second; the zero time is left out. */
  | 'time'
  /** `metav1.MicroTime`: RFC 3339 with six fraction digits; the zero time is left out. */
  | 'microTime'
  /** `metav1.FieldsV1`: field 1 holds JSON, printed as that JSON value. */
  | 'fieldsV1'
  | MessageSchema;

export interface FieldSpec {
  /** The JSON name. */
  readonly name: string;
  readonly type: FieldType;
  /** `repeated`: a JSON array. @default false */
  readonly repeated?: boolean;
  /** `map<string, type>` (entries key = 1, value = 2): a JSON object. @default false */
  readonly map?: boolean;
  /**
   * When a zero value is printed. By default it is left out, as `omitempty`
   * does. `present`: printed when on the wire, even zero (a Go pointer such
   * as `*bool`). `always`: printed even when absent, as its zero value (a
   * scalar without `omitempty`).
   */
  readonly keep?: 'present' | 'always';
}

/** A message: its name (for error messages) and its fields by number. Unknown numbers are skipped. */
export interface MessageSchema {
  readonly name: string;
  readonly fields: Readonly<Record<number, FieldSpec>>;
}

const utf8 = new TextDecoder('utf-8');

/** Reads tags and values from one message's bytes. Every problem names the message path. */
export class WireReader {
  #pos = 0;

  constructor(
    private readonly bytes: Uint8Array,
    readonly path: string,
  ) {}

  get done(): boolean {
    return this.#pos >= this.bytes.length;
  }

  fail(problem: string): ProtobufMalformedError {
    return new ProtobufMalformedError(`${this.path}: ${problem} at byte ${this.#pos}`);
  }

  varint(): bigint {
    let result = 0n;
    for (let i = 0; i < 10; i++) {
      const byte = this.bytes[this.#pos];
      if (byte === undefined) throw this.fail('truncated varint');
      this.#pos++;
      result |= BigInt(byte & 0x7f) << BigInt(7 * i);
      if ((byte & 0x80) === 0) return BigInt.asUintN(64, result);
    }
    throw this.fail('varint longer than 10 bytes');
  }

  /** A length-delimited value, as a view (no copy). */
  lengthDelimited(): Uint8Array {
    const length = this.varint();
    const remaining = this.bytes.length - this.#pos;
    if (length > BigInt(remaining))
      throw this.fail(`length ${length} runs past the end (${remaining} bytes left)`);
    const start = this.#pos;
    this.#pos += Number(length);
    return this.bytes.subarray(start, this.#pos);
  }

  tag(): { number: number; wireType: number } {
    const key = this.varint();
    const number = Number(key >> 3n);
    const wireType = Number(key & 7n);
    if (number === 0 || number > 0x1fffffff) throw this.fail(`invalid field number ${number}`);
    return { number, wireType };
  }

  /** Skips one value of a field this decoder does not know, whatever its wire type. */
  skip(wireType: number, number: number, depth = 0): void {
    switch (wireType) {
      case VARINT:
        this.varint();
        return;
      case FIXED64:
        this.#advance(8);
        return;
      case BYTES:
        this.lengthDelimited();
        return;
      case FIXED32:
        this.#advance(4);
        return;
      case START_GROUP: {
        if (depth >= MAX_DEPTH) throw this.fail('groups nested too deeply');
        for (;;) {
          if (this.done) throw this.fail(`group ${number} has no end`);
          const inner = this.tag();
          if (inner.wireType === END_GROUP) {
            if (inner.number !== number) throw this.fail(`group ${number} ended by ${inner.number}`);
            return;
          }
          this.skip(inner.wireType, inner.number, depth + 1);
        }
      }
      case END_GROUP:
        throw this.fail(`unexpected end of group ${number}`);
      default:
        throw this.fail(`invalid wire type ${wireType} for field ${number}`);
    }
  }

  #advance(count: number): void {
    if (this.bytes.length - this.#pos < count) throw this.fail(`fixed-width value runs past the end`);
    this.#pos += count;
  }
}

/** Decodes a message's bytes into the JSON object Go would print for it. */
export function decodeMessage(
  bytes: Uint8Array,
  schema: MessageSchema,
  path = schema.name,
): Record<string, unknown> {
  const reader = new WireReader(bytes, path);
  const out: Record<string, unknown> = {};
  while (!reader.done) {
    const { number, wireType } = reader.tag();
    const spec = schema.fields[number];
    if (!spec) {
      reader.skip(wireType, number);
      continue;
    }
    const expected = spec.map || typeof spec.type === 'object' || !isVarintType(spec.type) ? BYTES : VARINT;
    if (wireType !== expected)
      throw reader.fail(`field ${number} (${spec.name}) has wire type ${wireType}, expected ${expected}`);
    const fieldPath = `${path}.${spec.name}`;
    if (spec.map) {
      const [key, value] = decodeMapEntry(reader.lengthDelimited(), spec.type, fieldPath);
      const map = (out[spec.name] ?? {}) as Record<string, unknown>;
      // defineProperty: a key such as "__proto__" stays an own key, as JSON.parse makes it.
      Object.defineProperty(map, key, { value, enumerable: true, writable: true, configurable: true });
      out[spec.name] = map;
      continue;
    }
    const value = readValue(reader, spec.type, fieldPath);
    if (spec.repeated) {
      const list = (out[spec.name] ?? []) as unknown[];
      if (value !== undefined) list.push(value);
      out[spec.name] = list;
    } else {
      out[spec.name] = value;
    }
  }
  for (const spec of Object.values(schema.fields)) {
    const value = out[spec.name];
    if (value === undefined && spec.keep === 'always') out[spec.name] = zeroOf(spec.type);
    if (out[spec.name] === undefined || (spec.keep === undefined && isZero(value))) delete out[spec.name];
  }
  return out;
}

function isVarintType(type: FieldType): boolean {
  return type === 'bool' || type === 'int32' || type === 'int64';
}

/** `omitempty`: empty strings, zero numbers, false, empty lists. Messages stay, even empty ones. */
function isZero(value: unknown): boolean {
  if (value === '' || value === 0 || value === false) return true;
  if (Array.isArray(value)) return value.length === 0;
  return false;
}

/** The zero value Go prints for a scalar; nothing for times and messages here. */
function zeroOf(type: FieldType): unknown {
  if (type === 'string' || type === 'bytes') return '';
  if (type === 'int32' || type === 'int64') return 0;
  if (type === 'bool') return false;
  return undefined;
}

function readValue(reader: WireReader, type: FieldType, path: string): unknown {
  switch (type) {
    case 'bool':
      return reader.varint() !== 0n;
    case 'int32':
      return Number(BigInt.asIntN(32, reader.varint()));
    case 'int64':
      return Number(BigInt.asIntN(64, reader.varint()));
    case 'string':
      return utf8.decode(reader.lengthDelimited());
    case 'bytes':
      return Buffer.from(reader.lengthDelimited()).toString('base64');
    case 'time':
      return decodeTime(reader.lengthDelimited(), path, false);
    case 'microTime':
      return decodeTime(reader.lengthDelimited(), path, true);
    case 'fieldsV1':
      return decodeFieldsV1(reader.lengthDelimited(), path);
    default:
      return decodeMessage(reader.lengthDelimited(), type, path);
  }
}

function decodeMapEntry(bytes: Uint8Array, type: FieldType, path: string): [string, unknown] {
  // A missing key or value is the zero value of its type, as Go's map decoding leaves it.
  const entry = decodeMessage(bytes, {
    name: path,
    fields: {
      1: { name: 'key', type: 'string', keep: 'always' },
      2: { name: 'value', type, keep: 'always' },
    },
  });
  return [entry.key as string, entry.value ?? (typeof type === 'object' ? {} : undefined)];
}

const TIME_SCHEMA: MessageSchema = {
  name: 'Time',
  fields: { 1: { name: 'seconds', type: 'int64' }, 2: { name: 'nanos', type: 'int32' } },
};
/** 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z, the range RFC 3339 can print. */
const MIN_SECONDS = -62135596800;
const MAX_SECONDS = 253402300799;

/** `metav1.Time` marshals the zero time as an empty message: that prints as nothing (JSON null). */
function decodeTime(bytes: Uint8Array, path: string, micro: boolean): string | undefined {
  if (bytes.length === 0) return undefined;
  const { seconds = 0, nanos = 0 } = decodeMessage(bytes, TIME_SCHEMA, path) as {
    seconds?: number;
    nanos?: number;
  };
  if (!Number.isSafeInteger(seconds) || seconds < MIN_SECONDS || seconds > MAX_SECONDS) {
    throw new ProtobufMalformedError(`${path}: seconds ${seconds} is outside the years 1 to 9999`);
  }
  if (nanos < 0 || nanos > 999_999_999)
    throw new ProtobufMalformedError(`${path}: nanos ${nanos} is outside 0 to 999999999`);
  const iso = new Date(seconds * 1000).toISOString().slice(0, 19);
  if (!micro) return `${iso}Z`;
  return `${iso}.${String(Math.floor(nanos / 1000)).padStart(6, '0')}Z`;
}

/** `FieldsV1.Raw` holds JSON; Go prints it as that JSON. */
function decodeFieldsV1(bytes: Uint8Array, path: string): unknown {
  const reader = new WireReader(bytes, path);
  let raw: Uint8Array | undefined;
  while (!reader.done) {
    const { number, wireType } = reader.tag();
    if (number === 1 && wireType === BYTES) raw = reader.lengthDelimited();
    else if (number === 1) throw reader.fail(`field 1 (Raw) has wire type ${wireType}, expected ${BYTES}`);
    else reader.skip(wireType, number);
  }
  if (!raw || raw.length === 0) return undefined;
  try {
    return JSON.parse(utf8.decode(raw));
  } catch (error) {
    throw new ProtobufMalformedError(`${path}: Raw is not JSON: ${(error as Error).message}`);
  }
}
