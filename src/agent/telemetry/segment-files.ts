import { readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { decodeRecords, type QueuedMessage } from './segment.ts';

/**
 * The telemetry outbox's files as a whole: scanning the folder at open
 * (cutting torn tails, deleting what was acknowledged), rewriting a segment
 * without some of its records (compaction), finding a sequence number's
 * offset. The outbox (telemetry-outbox.ts) keeps the state; these only read and write.
 */

/** One segment file as the outbox tracks it. */
export interface Segment {
  /** Sequence number the file is named after (no record in it is lower). */
  readonly first: number;
  readonly path: string;
  bytes: number;
  /** Highest sequence number in it (0: none yet). */
  last: number;
  /** May hold telemetry (or superseded status) that a compaction would drop. */
  droppable: boolean;
}

const SEGMENT = /^(\d{16})\.seg$/;

/** The path of the segment named after `first`. */
export function segmentPath(dir: string, first: number): string {
  return join(dir, `${String(first).padStart(16, '0')}.seg`);
}

/** What an earlier agent left in the folder, above `ackedThrough`. */
export interface Scanned {
  readonly segments: Segment[];
  /** The latest queued status per topic. */
  readonly latestStatus: Map<string, number>;
  /** The next sequence number to give. */
  readonly nextSeq: number;
  /** Messages not acknowledged. */
  readonly pending: number;
}

/**
 * Reads every segment in `dir` (oldest first): cuts a torn tail (logged),
 * deletes segments holding only acknowledged messages and leftovers of an
 * interrupted compaction.
 */
export async function scanSegments(
  dir: string,
  ackedThrough: number,
  log?: Pick<Logger, 'warn'>,
): Promise<Scanned> {
  const segments: Segment[] = [];
  const latestStatus = new Map<string, number>();
  let nextSeq = ackedThrough + 1;
  let pending = 0;
  for (const name of (await readdir(dir)).sort()) {
    const path = join(dir, name);
    const match = SEGMENT.exec(name);
    if (!match) {
      if (name.endsWith('.tmp')) await rm(path, { force: true });
      continue;
    }
    const data = await readFile(path);
    const decoded = decodeRecords(data);
    if (decoded.consumed < data.length) {
      log?.warn(
        { file: name, cut: data.length - decoded.consumed },
        'telemetry outbox: cut off a torn record (the agent stopped mid-write)',
      );
      await writeFile(path, data.subarray(0, decoded.consumed));
    }
    let last = 0;
    let unacked = 0;
    for (const { message } of decoded.records) {
      last = Math.max(last, message.seq);
      nextSeq = Math.max(nextSeq, message.seq + 1);
      if (message.seq <= ackedThrough) continue;
      unacked++;
      if (message.kind === 'status') latestStatus.set(message.topic, message.seq);
    }
    if (unacked === 0) {
      await rm(path, { force: true });
      continue;
    }
    pending += unacked;
    segments.push({ first: Number(match[1]), path, bytes: decoded.consumed, last, droppable: true });
  }
  return { segments, latestStatus, nextSeq, pending };
}

/** The outcome of {@link rewriteSegment}. */
export interface Rewritten {
  /** The segment's new size (0: the file was deleted). */
  readonly bytes: number;
  /** Highest sequence number kept. */
  readonly last: number;
  /** Records dropped (not acknowledged before), and how many of them were telemetry. */
  readonly dropped: number;
  readonly droppedTelemetry: number;
}

/**
 * Rewrites `segment` with only the records above `ackedThrough` that `keep`
 * accepts (a new file renamed over the old one, so a crash leaves either),
 * or deletes it when none is kept.
 */
export async function rewriteSegment(
  segment: Segment,
  ackedThrough: number,
  keep: (message: QueuedMessage) => boolean,
): Promise<Rewritten> {
  const data = await readFile(segment.path);
  const kept: Buffer[] = [];
  let last = 0;
  let dropped = 0;
  let droppedTelemetry = 0;
  for (const { message, offset, length } of decodeRecords(data.subarray(0, segment.bytes)).records) {
    if (message.seq <= ackedThrough) continue;
    if (keep(message)) {
      kept.push(data.subarray(offset, offset + length));
      last = message.seq;
    } else {
      dropped++;
      if (message.kind === 'telemetry') droppedTelemetry++;
    }
  }
  if (kept.length === 0) {
    await rm(segment.path, { force: true });
    return { bytes: 0, last, dropped, droppedTelemetry };
  }
  const tmp = `${segment.path}.tmp`;
  const content = Buffer.concat(kept);
  await writeFile(tmp, content, { mode: 0o600 });
  await rename(tmp, segment.path);
  return { bytes: content.length, last, dropped, droppedTelemetry };
}

/** The offset of the first record of `segment` numbered `seq` or above; its size when there is none. */
export async function offsetOf(segment: Segment, seq: number): Promise<number> {
  const data = await readFile(segment.path);
  const found = decodeRecords(data.subarray(0, segment.bytes)).records.find((r) => r.message.seq >= seq);
  return found ? found.offset : segment.bytes;
}
