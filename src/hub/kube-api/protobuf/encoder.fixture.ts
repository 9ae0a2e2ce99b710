/**
 * Fixtures of the protobuf tests (`*.fixture.ts`: imported by tests only): a tiny protobuf encoder,
 * enough to build any message field by field, and a Kubernetes envelope around it.
 */
/** A protobuf varint. */
export function varint(value: number | bigint): number[] {
  let v = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  do {
    const byte = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v === 0n ? byte : byte | 0x80);
  } while (v !== 0n);
  return out;
}
export const tag = (field: number, wireType: number) => varint((field << 3) | wireType);
export const int = (field: number, value: number | bigint) => [...tag(field, 0), ...varint(value)];
export const bool = (field: number, value: boolean) => int(field, value ? 1 : 0);
export const bytes = (field: number, value: ArrayLike<number>) => [
  ...tag(field, 2),
  ...varint(value.length),
  ...Array.from(value),
];
export const str = (field: number, value: string) => bytes(field, Buffer.from(value, 'utf8'));
export const msg = (field: number, ...parts: number[][]) => bytes(field, parts.flat());
export const entry = (field: number, key: string, value: string | number[]) =>
  msg(field, str(1, key), typeof value === 'string' ? str(2, value) : bytes(2, value));
export const time = (field: number, seconds: number, nanos = 0) =>
  msg(field, int(1, seconds), ...(nanos ? [int(2, nanos)] : []));
export const envelope = (apiVersion: string, kind: string, raw: number[], ...extra: number[][]) =>
  Uint8Array.from([
    0x6b,
    0x38,
    0x73,
    0x00,
    ...msg(1, str(1, apiVersion), str(2, kind)),
    ...bytes(2, raw),
    ...extra.flat(),
  ]);
export const hex = (text: string) => Uint8Array.from(Buffer.from(text.replace(/\s+/g, ''), 'hex'));

/** 2026-01-02T03:04:05Z */
export const T = Date.UTC(2026, 0, 2, 3, 4, 5) / 1000;
