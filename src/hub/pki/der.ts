/**
 * The little DER the enrollment fast path needs: reading the elements of a
 * PKCS#10 request and writing the fixed shape of a device certificate.
 * `@peculiar/x509` does the same generally, at about ten times the CPU, which
 * at enrollment rates is most of the hub's work.
 */

/** One DER element: its tag, where its header and its content start, and where it ends. */
export interface Element {
  readonly tag: number;
  readonly start: number;
  readonly contentStart: number;
  readonly end: number;
}

/** Reads the element at `offset`. @throws RangeError for truncated or unsupported (long-tag, indefinite) input. */
export function readElement(der: Uint8Array, offset: number): Element {
  if (offset + 2 > der.length) throw new RangeError('truncated DER');
  const tag = der[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new RangeError('multi-byte DER tags are not supported');
  let length = der[offset + 1]!;
  let contentStart = offset + 2;
  if (length & 0x80) {
    const bytes = length & 0x7f;
    if (bytes === 0 || bytes > 4) throw new RangeError('unsupported DER length');
    length = 0;
    for (let i = 0; i < bytes; i++) length = length * 256 + der[contentStart + i]!;
    contentStart += bytes;
  }
  const end = contentStart + length;
  if (end > der.length) throw new RangeError('truncated DER');
  return { tag, start: offset, contentStart, end };
}

/** The elements inside a constructed element. */
export function children(der: Uint8Array, parent: Element): Element[] {
  const list: Element[] = [];
  for (let offset = parent.contentStart; offset < parent.end; ) {
    const child = readElement(der, offset);
    list.push(child);
    offset = child.end;
  }
  return list;
}

/** Encodes one element. */
export function encode(tag: number, ...contents: Uint8Array[]): Buffer {
  const body = Buffer.concat(contents);
  const n = body.length;
  let header: number[];
  if (n < 0x80) header = [tag, n];
  else if (n < 0x100) header = [tag, 0x81, n];
  else if (n < 0x10000) header = [tag, 0x82, n >> 8, n & 0xff];
  else header = [tag, 0x83, n >> 16, (n >> 8) & 0xff, n & 0xff];
  return Buffer.concat([Buffer.from(header), body]);
}

export const sequence = (...contents: Uint8Array[]) => encode(0x30, ...contents);
export const set = (...contents: Uint8Array[]) => encode(0x31, ...contents);
export const octetString = (...contents: Uint8Array[]) => encode(0x04, ...contents);
export const utf8String = (text: string) => encode(0x0c, Buffer.from(text, 'utf8'));
export const bitString = (bytes: Uint8Array) => encode(0x03, Buffer.from([0]), bytes);
export const TRUE = Buffer.from([0x01, 0x01, 0xff]);

/** Encodes a dotted object identifier. */
export function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const bytes = [parts[0]! * 40 + parts[1]!];
  for (const part of parts.slice(2)) {
    const chunk = [part & 0x7f];
    for (let rest = Math.floor(part / 128); rest > 0; rest = Math.floor(rest / 128))
      chunk.unshift((rest & 0x7f) | 0x80);
    bytes.push(...chunk);
  }
  return encode(0x06, Buffer.from(bytes));
}

/** A positive INTEGER from unsigned big-endian bytes. */
export function unsignedInteger(bytes: Uint8Array): Buffer {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const trimmed = bytes.subarray(start);
  return encode(0x02, trimmed[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed);
}

/** UTCTime until 2049, GeneralizedTime from 2050 (RFC 5280 4.1.2.5), to the second. */
export function time(date: Date): Buffer {
  const iso = date.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const digits = iso.slice(0, 19).replace(/[-:T]/g, '');
  const year = date.getUTCFullYear();
  return year < 2050
    ? encode(0x17, Buffer.from(`${digits.slice(2)}Z`, 'ascii'))
    : encode(0x18, Buffer.from(`${digits}Z`, 'ascii'));
}
