import { crc32 } from 'node:zlib';

/**
 * The record format of the telemetry outbox's segment files: each file is a
 * sequence of records, appended and never modified in place (a compaction
 * writes a new file and renames it over the old one).
 *
 *   u32 bodyLength | u32 crc32(body) | body
 *   body = u32 seqHigh | u32 seqLow | u8 kind | u8 flags | u16 topicLength | topic (UTF-8) | payload
 *
 * The checksum finds the torn tail an agent killed mid-write leaves: reading
 * stops at the first record that is incomplete or does not match, and the
 * outbox truncates the file there.
 */

/** What a local topic's first level says about a message: it decides the drop policy. */
export type MessageKind = 'telemetry' | 'status' | 'acks';

/** One queued message. */
export interface QueuedMessage {
  /** Increasing over the outbox's life, across restarts: the arrival order. */
  readonly seq: number;
  readonly kind: MessageKind;
  /** The local topic (without the device prefix). */
  readonly topic: string;
  readonly payload: Buffer;
  readonly retain: boolean;
}

const KINDS: readonly MessageKind[] = ['telemetry', 'status', 'acks'];
const HEADER = 8;
const FIXED = 12;
const RETAIN = 1;
/** No record is longer (a corrupt length must not make the reader allocate gigabytes). */
export const MAX_RECORD_BYTES = 16 * 1024 * 1024;

/** The kind of a local topic, or undefined when the topic is not forwarded to the hub. */
export function kindOfTopic(topic: string): MessageKind | undefined {
  const slash = topic.indexOf('/');
  if (slash <= 0 || slash === topic.length - 1) return undefined;
  const first = topic.slice(0, slash);
  return (KINDS as readonly string[]).includes(first) ? (first as MessageKind) : undefined;
}

/** The bytes of one record. */
export function encodeRecord(message: QueuedMessage): Buffer {
  const topic = Buffer.from(message.topic, 'utf8');
  const bodyLength = FIXED + topic.length + message.payload.length;
  const record = Buffer.allocUnsafe(HEADER + bodyLength);
  record.writeUInt32BE(bodyLength, 0);
  record.writeUInt32BE(Math.floor(message.seq / 2 ** 32), 8);
  record.writeUInt32BE(message.seq >>> 0, 12);
  record.writeUInt8(KINDS.indexOf(message.kind), 16);
  record.writeUInt8(message.retain ? RETAIN : 0, 17);
  record.writeUInt16BE(topic.length, 18);
  topic.copy(record, HEADER + FIXED);
  message.payload.copy(record, HEADER + FIXED + topic.length);
  record.writeUInt32BE(crc32(record.subarray(HEADER)), 4);
  return record;
}

/** The records read from a buffer, and how many bytes they used. */
export interface Decoded {
  readonly records: Array<{ message: QueuedMessage; offset: number; length: number }>;
  /** Bytes of whole, valid records from the start of the buffer. */
  readonly consumed: number;
  /** True when reading stopped at a record that is invalid (not merely cut off by the buffer's end). */
  readonly corrupt: boolean;
}

/**
 * Decodes the whole records at the start of `buffer` (at most `limit`).
 * `base` is the buffer's offset in its file (records report file offsets).
 */
export function decodeRecords(buffer: Buffer, base = 0, limit = Number.POSITIVE_INFINITY): Decoded {
  const records: Decoded['records'] = [];
  let offset = 0;
  while (records.length < limit && buffer.length - offset >= HEADER) {
    const bodyLength = buffer.readUInt32BE(offset);
    if (bodyLength < FIXED || bodyLength > MAX_RECORD_BYTES)
      return { records, consumed: offset, corrupt: true };
    if (buffer.length - offset < HEADER + bodyLength) break;
    const body = buffer.subarray(offset + HEADER, offset + HEADER + bodyLength);
    const kind = KINDS[body.readUInt8(8)];
    const topicLength = body.readUInt16BE(10);
    if (crc32(body) !== buffer.readUInt32BE(offset + 4) || !kind || FIXED + topicLength > bodyLength)
      return { records, consumed: offset, corrupt: true };
    records.push({
      message: {
        seq: body.readUInt32BE(0) * 2 ** 32 + body.readUInt32BE(4),
        kind,
        retain: (body.readUInt8(9) & RETAIN) !== 0,
        topic: body.toString('utf8', FIXED, FIXED + topicLength),
        // A copy: the read buffer is reused.
        payload: Buffer.from(body.subarray(FIXED + topicLength)),
      },
      offset: base + offset,
      length: HEADER + bodyLength,
    });
    offset += HEADER + bodyLength;
  }
  return { records, consumed: offset, corrupt: false };
}

/** The length a record will take on disk (for the byte bound before encoding). */
export function recordLength(topic: string, payload: Buffer): number {
  return HEADER + FIXED + Buffer.byteLength(topic, 'utf8') + payload.length;
}

/** The acknowledged-through marker file: u32 seqHigh | u32 seqLow | u32 crc32 of the 8 bytes. */
export function encodeHead(seq: number): Buffer {
  const buffer = Buffer.allocUnsafe(12);
  buffer.writeUInt32BE(Math.floor(seq / 2 ** 32), 0);
  buffer.writeUInt32BE(seq >>> 0, 4);
  buffer.writeUInt32BE(crc32(buffer.subarray(0, 8)), 8);
  return buffer;
}

/** The sequence number in a head file; 0 (nothing acknowledged: everything is sent again) when unreadable. */
export function decodeHead(buffer: Buffer): number {
  if (buffer.length < 12 || crc32(buffer.subarray(0, 8)) !== buffer.readUInt32BE(8)) return 0;
  return buffer.readUInt32BE(0) * 2 ** 32 + buffer.readUInt32BE(4);
}
