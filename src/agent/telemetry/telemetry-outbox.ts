import { type FileHandle, mkdir, open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import {
  decodeHead,
  decodeRecords,
  encodeHead,
  encodeRecord,
  kindOfTopic,
  MAX_RECORD_BYTES,
  type QueuedMessage,
} from './segment.ts';
import {
  offsetOf,
  rewriteSegment,
  type Scanned,
  type Segment,
  scanSegments,
  segmentPath,
} from './segment-files.ts';

/**
 * The telemetry outbox: a disk-backed FIFO of the messages workloads publish
 * for the hub, in `DATA_DIR/telemetry-outbox`. Messages are appended to
 * segment files (one write per batch of messages arriving together: group
 * commit), read back in arrival order by the uplink, and forgotten once the
 * hub acknowledged them (PUBACK): a `head` file records the sequence number
 * acknowledged through, and segment files wholly below it are deleted. After
 * a restart, everything above the head is sent again, in order.
 *
 * Durability: written, not fsynced. What a local client got a PUBACK for
 * survives a crash or SIGKILL of the agent (it is in the kernel's page cache);
 * a power loss may lose the last seconds (an fsync per batch would cap the
 * rate at the disk's flush rate; telemetry is not worth it).
 *
 * Bounded by bytes and by messages. When a bound is passed, the oldest
 * segment holding telemetry is rewritten without its telemetry (so the
 * oldest telemetry goes first, a segment at a time); acks are never
 * dropped, and a status (retained) only when a newer status of the same
 * topic is queued: only the latest status per topic is sent at all. The
 * first drop is logged once, and again when the outbox is back under half
 * its bounds.
 */

/** Options of {@link TelemetryOutbox.open}. */
export interface TelemetryOutboxOptions {
  /** The folder, e.g. `DATA_DIR/telemetry-outbox`. */
  readonly dir: string;
  /** Bytes on disk before the oldest telemetry is dropped. @default 67108864 (64 MiB) */
  readonly maxBytes?: number;
  /** Queued messages before the oldest telemetry is dropped. @default 1000000 */
  readonly maxMessages?: number;
  /** Size at which a new segment file is started. @default min(1 MiB, maxBytes / 16) */
  readonly segmentBytes?: number;
  readonly log?: Pick<Logger, 'info' | 'warn'>;
}

interface Inflight {
  readonly seq: number;
  acked: boolean;
  /** Set for a status, to forget it as the latest of its topic once acknowledged. */
  readonly statusTopic?: string;
}

interface Pending {
  readonly record: Buffer;
  readonly seq: number;
  resolve(): void;
  reject(error: unknown): void;
}

const READ_CHUNK = 256 * 1024;

/** A durable, bounded, ordered queue of messages for the hub. One reader; not safe for two processes. */
export class TelemetryOutbox {
  readonly #dir: string;
  readonly #maxBytes: number;
  readonly #maxMessages: number;
  readonly #segmentBytes: number;
  readonly #log: Pick<Logger, 'info' | 'warn'> | undefined;
  readonly #segments: Segment[];
  readonly #latestStatus: Map<string, number>;
  readonly #listeners = new Set<() => void>();
  #head: FileHandle;
  #active: FileHandle | undefined;
  #nextSeq: number;
  #ackedThrough: number;
  #pending: number;
  #batch: Pending[] = [];
  #chain: Promise<unknown> = Promise.resolve();
  #persistScheduled = false;
  /** The reader's position: the next sequence number to hand out, and where it is. */
  #cursor: { nextSeq: number; segment?: Segment; offset: number };
  #reader: { segment: Segment; file: FileHandle } | undefined;
  readonly #inflight: Inflight[] = [];
  /** Acknowledged out of order before a rewind: not sent again when read again. */
  readonly #ackedAhead = new Set<number>();
  #dropped = 0;
  #dropping = false;
  #closed = false;

  private constructor(options: TelemetryOutboxOptions, state: OpenState) {
    this.#dir = options.dir;
    this.#maxBytes = options.maxBytes ?? 64 * 1024 * 1024;
    this.#maxMessages = options.maxMessages ?? 1_000_000;
    this.#segmentBytes = options.segmentBytes ?? Math.min(1024 * 1024, Math.ceil(this.#maxBytes / 16));
    this.#log = options.log;
    this.#segments = state.segments;
    this.#latestStatus = state.latestStatus;
    this.#head = state.head;
    this.#ackedThrough = state.ackedThrough;
    this.#nextSeq = state.nextSeq;
    this.#pending = state.pending;
    this.#cursor = { nextSeq: state.ackedThrough + 1, offset: 0 };
  }

  /** Opens the outbox with what an earlier agent left in it (a torn last record is cut off). */
  static async open(options: TelemetryOutboxOptions): Promise<TelemetryOutbox> {
    await mkdir(options.dir, { recursive: true, mode: 0o700 });
    const headPath = join(options.dir, 'head');
    const ackedThrough = decodeHead(await readFile(headPath).catch(() => Buffer.alloc(0)));
    const scanned = await scanSegments(options.dir, ackedThrough, options.log);
    // Always 12 bytes, rewritten in place (positional writes: not opened for appending).
    const head = await open(headPath, 'r+').catch(() => open(headPath, 'w+', 0o600));
    const outbox = new TelemetryOutbox(options, { ...scanned, ackedThrough, head });
    await outbox.#startSegment(scanned.nextSeq);
    return outbox;
  }

  /** Messages queued and not yet acknowledged by the hub. */
  get size(): number {
    return this.#pending;
  }

  /** Bytes of the segment files. */
  get bytes(): number {
    return this.#segments.reduce((sum, segment) => sum + segment.bytes, 0);
  }

  /** Telemetry messages dropped because the outbox was full, since it was opened. */
  get dropped(): number {
    return this.#dropped;
  }

  /**
   * Queues a message for the hub. Resolves once it is written (then a local
   * client may be acknowledged). Messages appended in some order are read
   * in that order.
   * @throws Error when the topic is not one the hub takes (`telemetry/`, `status/`, `acks/`) or the message is too large.
   */
  append(topic: string, payload: Buffer, retain = false): Promise<void> {
    if (this.#closed) return Promise.reject(new Error('the telemetry outbox is closed'));
    const kind = kindOfTopic(topic);
    if (!kind) return Promise.reject(new Error(`topic ${topic} is not forwarded to the hub`));
    const seq = this.#nextSeq;
    const record = encodeRecord({ seq, kind, topic, payload, retain });
    if (record.length > MAX_RECORD_BYTES) return Promise.reject(new Error('message too large'));
    this.#nextSeq++;
    this.#pending++;
    if (kind === 'status') this.#latestStatus.set(topic, seq);
    return new Promise<void>((resolve, reject) => {
      this.#batch.push({ record, seq, resolve, reject });
      if (this.#batch.length === 1) void this.#serial(() => this.#flush());
    });
  }

  /** Registers `listener`, called after messages were written. Returns the unsubscribe function. */
  onAppend(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * The next messages to send (at most `max`), in order, after those already
   * handed out since the last {@link rewind}; empty when there are none yet.
   * Each must be {@link ack}ed once the hub acknowledged it.
   */
  read(max: number): Promise<QueuedMessage[]> {
    return this.#serial(() => this.#read(max));
  }

  /** Forgets what was handed out and not acknowledged: it will be read again (after a reconnect). */
  rewind(): Promise<void> {
    return this.#serial(async () => {
      for (const entry of this.#inflight) if (entry.acked) this.#ackedAhead.add(entry.seq);
      this.#inflight.length = 0;
      this.#cursor = { nextSeq: this.#ackedThrough + 1, offset: 0 };
    });
  }

  /** The hub acknowledged message `seq` (handed out by {@link read}). */
  ack(seq: number): void {
    const entry = this.#inflight.find((e) => e.seq === seq && !e.acked);
    if (!entry) return; // handed out before a rewind: it will be read and acknowledged again
    entry.acked = true;
    this.#pending--;
    if (entry.statusTopic !== undefined && this.#latestStatus.get(entry.statusTopic) === seq)
      this.#latestStatus.delete(entry.statusTopic);
    this.#advance();
  }

  /** Waits for pending writes and closes the files. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#serial(async () => {
      await this.#writeHead();
      await this.#reader?.file.close();
      this.#reader = undefined;
      await this.#active?.close();
      this.#active = undefined;
      await this.#head.close();
    });
    this.#listeners.clear();
  }

  async #flush(): Promise<void> {
    const batch = this.#batch;
    this.#batch = [];
    if (batch.length === 0) return;
    let segment = this.#segments.at(-1)!;
    if (segment.bytes >= this.#segmentBytes) segment = await this.#startSegment(batch[0]!.seq);
    const data = batch.length === 1 ? batch[0]!.record : Buffer.concat(batch.map((p) => p.record));
    try {
      await this.#active!.write(data, 0, data.length, null);
    } catch (error) {
      // Nothing of a failed batch counts; cut what may have been written of it.
      await this.#active!.truncate(segment.bytes).catch(() => {});
      this.#pending -= batch.length;
      for (const pending of batch) pending.reject(error);
      return;
    }
    segment.bytes += data.length;
    segment.last = batch.at(-1)!.seq;
    segment.droppable = true;
    for (const pending of batch) pending.resolve();
    for (const listener of this.#listeners) listener();
    await this.#enforceBounds();
  }

  /** Makes a new empty segment, named after `first` (the next sequence number written), the one appended to. */
  async #startSegment(first: number): Promise<Segment> {
    await this.#active?.close();
    const segment: Segment = {
      first,
      path: segmentPath(this.#dir, first),
      bytes: 0,
      last: 0,
      droppable: false,
    };
    this.#active = await open(segment.path, 'w', 0o600);
    this.#segments.push(segment);
    return segment;
  }

  async #read(max: number): Promise<QueuedMessage[]> {
    const out: QueuedMessage[] = [];
    while (out.length < max) {
      const cursor = this.#cursor;
      if (!cursor.segment || !this.#segments.includes(cursor.segment)) await this.#locate();
      const segment = cursor.segment;
      if (!segment) break;
      if (cursor.offset >= segment.bytes) {
        const next = this.#segments[this.#segments.indexOf(segment) + 1];
        if (!next) break; // the active segment, read to its end
        cursor.segment = next;
        cursor.offset = 0;
        continue;
      }
      const file = await this.#readerOf(segment);
      const length = Math.min(segment.bytes - cursor.offset, READ_CHUNK);
      let { buffer } = await file.read(Buffer.allocUnsafe(length), 0, length, cursor.offset);
      let decoded = decodeRecords(buffer, cursor.offset, max - out.length);
      if (decoded.records.length === 0 && !decoded.corrupt) {
        // A record longer than one chunk.
        const whole = buffer.readUInt32BE(0) + 8;
        ({ buffer } = await file.read(Buffer.allocUnsafe(whole), 0, whole, cursor.offset));
        decoded = decodeRecords(buffer, cursor.offset, 1);
      }
      if (decoded.records.length === 0) {
        // Cannot happen with files this process wrote; skip the rest of the segment rather than spin.
        this.#log?.warn(
          { file: segment.path, offset: cursor.offset },
          'telemetry outbox: unreadable record skipped',
        );
        cursor.offset = segment.bytes;
        continue;
      }
      for (const { message, offset, length: size } of decoded.records) {
        cursor.offset = offset + size;
        if (message.seq < cursor.nextSeq) continue;
        cursor.nextSeq = message.seq + 1;
        if (this.#ackedAhead.delete(message.seq)) {
          this.#inflight.push({ seq: message.seq, acked: true });
          continue;
        }
        if (message.kind === 'status' && this.#latestStatus.get(message.topic) !== message.seq) {
          // Superseded by a newer status of the same topic: never sent.
          this.#pending--;
          this.#inflight.push({ seq: message.seq, acked: true });
          continue;
        }
        out.push(message);
        this.#inflight.push({
          seq: message.seq,
          acked: false,
          ...(message.kind === 'status' ? { statusTopic: message.topic } : {}),
        });
      }
    }
    this.#advance();
    return out;
  }

  /** Puts the cursor on the first record at or after its `nextSeq` (after a rewind or compaction). */
  async #locate(): Promise<void> {
    const cursor = this.#cursor;
    cursor.segment = undefined;
    cursor.offset = 0;
    for (const segment of this.#segments) {
      if (segment.last < cursor.nextSeq && segment !== this.#segments.at(-1)) continue;
      cursor.segment = segment;
      cursor.offset = await offsetOf(segment, cursor.nextSeq);
      return;
    }
  }

  async #readerOf(segment: Segment): Promise<FileHandle> {
    if (this.#reader?.segment === segment) return this.#reader.file;
    await this.#reader?.file.close();
    this.#reader = { segment, file: await open(segment.path, 'r') };
    return this.#reader.file;
  }

  /** Moves the acknowledged-through mark over the acknowledged prefix of what is in flight. */
  #advance(): void {
    let moved = false;
    while (this.#inflight[0]?.acked) {
      this.#ackedThrough = this.#inflight.shift()!.seq;
      moved = true;
    }
    if (!moved || this.#persistScheduled || this.#closed) return;
    this.#persistScheduled = true;
    setImmediate(() => {
      this.#persistScheduled = false;
      void this.#serial(async () => {
        await this.#writeHead();
        await this.#deleteAcked();
        this.#checkRecovered();
      }).catch((error: unknown) =>
        this.#log?.warn(
          { err: (error as Error).message },
          'telemetry outbox: cannot record acknowledgements',
        ),
      );
    });
  }

  async #writeHead(): Promise<void> {
    const head = encodeHead(this.#ackedThrough);
    await this.#head.write(head, 0, head.length, 0);
  }

  /** Deletes the segment files (not the active one) holding only acknowledged messages. */
  async #deleteAcked(): Promise<void> {
    while (this.#segments.length > 1 && this.#segments[0]!.last <= this.#ackedThrough) {
      const segment = this.#segments.shift()!;
      if (this.#reader?.segment === segment) {
        await this.#reader.file.close();
        this.#reader = undefined;
      }
      await rm(segment.path, { force: true });
    }
  }

  #over(): boolean {
    return this.bytes > this.#maxBytes || this.#pending > this.#maxMessages;
  }

  /** Drops the oldest telemetry, a segment at a time, until the outbox is within its bounds. */
  async #enforceBounds(): Promise<void> {
    while (this.#over()) {
      const oldest = this.#segments.slice(0, -1).find((s) => s.droppable);
      if (oldest) {
        await this.#compact(oldest);
        continue;
      }
      const active = this.#segments.at(-1)!;
      if (!active.droppable || active.bytes === 0) {
        // Only acks and latest statuses left: they are never dropped.
        return;
      }
      // The active segment becomes an old one that a compaction may drop from.
      await this.#startSegment(this.#nextSeq - this.#batch.length);
    }
  }

  /** Rewrites `segment` without its droppable messages (telemetry and superseded status not in flight). */
  async #compact(segment: Segment): Promise<void> {
    const inflight = new Set(this.#inflight.map((e) => e.seq));
    if (this.#reader?.segment === segment) {
      await this.#reader.file.close();
      this.#reader = undefined;
    }
    const result = await rewriteSegment(
      segment,
      this.#ackedThrough,
      (message) =>
        inflight.has(message.seq) ||
        message.kind === 'acks' ||
        (message.kind === 'status' && this.#latestStatus.get(message.topic) === message.seq),
    );
    this.#pending -= result.dropped;
    this.#dropped += result.droppedTelemetry;
    const index = this.#segments.indexOf(segment);
    if (result.bytes === 0) this.#segments.splice(index, 1);
    else this.#segments[index] = { ...segment, bytes: result.bytes, last: result.last, droppable: false };
    if (result.dropped > 0 && !this.#dropping) {
      this.#dropping = true;
      this.#log?.warn(
        { maxBytes: this.#maxBytes, maxMessages: this.#maxMessages, dropped: result.dropped },
        'telemetry outbox full: dropping the oldest telemetry',
      );
    }
  }

  /** Logs once when a full outbox has drained back under half its bounds. */
  #checkRecovered(): void {
    if (!this.#dropping) return;
    if (this.bytes > this.#maxBytes / 2 || this.#pending > this.#maxMessages / 2) return;
    this.#dropping = false;
    this.#log?.info({ dropped: this.#dropped }, 'telemetry outbox below its bounds again');
  }

  /** Runs `work` after every earlier disk operation (writes, reads, compactions, deletions). */
  #serial<T>(work: () => Promise<T>): Promise<T> {
    const next = this.#chain.then(work);
    this.#chain = next.catch(() => {});
    return next;
  }
}

interface OpenState extends Scanned {
  readonly ackedThrough: number;
  readonly head: FileHandle;
}
