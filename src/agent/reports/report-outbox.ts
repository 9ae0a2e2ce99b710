import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../util/index.ts';

/**
 * The agent's outbox: everything it reports to the hub (Mailbox status,
 * Device status with heartbeats) is appended here first, durably (one file
 * per entry, written atomically and fsynced), and sent in order by one
 * sender; an entry is deleted only after the hub acknowledged it. So what
 * happens while the hub is unreachable reaches it after it returns, in
 * order, and a crash of the agent loses nothing acknowledged to the outbox.
 *
 * Each entry has a sequence number, increasing across restarts. Each entry
 * is a full status (not a delta), so sending the head again after an
 * uncertain failure writes the same state twice, which the hub stores once
 * (it skips writes that change nothing); the sender also skips entries the
 * hub already holds (see reporter.ts).
 *
 * Bounded: past `maxEntries`, the oldest *droppable* entries (heartbeats,
 * status refreshes that change no phase) are dropped first; transitions are
 * never dropped (a hard cap of 10 × maxEntries then drops the oldest
 * transitions too, so a device offline for months cannot fill its disk).
 */

/** What an entry writes. */
export type ReportKind = 'mailbox-status' | 'device-status';

/** One report waiting to be sent. */
export interface ReportOutboxEntry {
  readonly seq: number;
  readonly kind: ReportKind;
  /** Never dropped while the outbox is within its hard cap. */
  readonly transition: boolean;
  /** The status to write. */
  readonly status: Record<string, unknown>;
  /** Wall-clock time of the report (for humans and logs only). */
  readonly createdAt: string;
}

/** Options of {@link ReportOutbox.open}. */
export interface ReportOutboxOptions {
  /** The outbox's folder, e.g. `DATA_DIR/outbox`. */
  readonly dir: string;
  /** Entries kept before droppable ones are dropped. @default 500 */
  readonly maxEntries?: number;
}

/** A durable, bounded, ordered queue of reports. Not safe for two processes. */
export class ReportOutbox {
  readonly #dir: string;
  readonly #max: number;
  readonly #entries: ReportOutboxEntry[];
  #nextSeq: number;
  #dropped = 0;

  private constructor(dir: string, max: number, entries: ReportOutboxEntry[], nextSeq: number) {
    this.#dir = dir;
    this.#max = max;
    this.#entries = entries;
    this.#nextSeq = nextSeq;
  }

  /** Opens (or creates) the outbox in `dir`, with what an earlier agent left in it. */
  static async open(options: ReportOutboxOptions): Promise<ReportOutbox> {
    await mkdir(options.dir, { recursive: true, mode: 0o700 });
    const entries: ReportOutboxEntry[] = [];
    let last = 0;
    for (const name of (await readdir(options.dir)).sort()) {
      if (name === 'next-seq') {
        last = Math.max(last, Number((await readFile(join(options.dir, name), 'utf8')).trim()) - 1 || 0);
        continue;
      }
      if (!/^\d{16}\.json$/.test(name)) continue; // temporary files of an interrupted write
      try {
        const entry = JSON.parse(await readFile(join(options.dir, name), 'utf8')) as ReportOutboxEntry;
        entries.push(entry);
        last = Math.max(last, entry.seq);
      } catch {
        await rm(join(options.dir, name), { force: true });
      }
    }
    entries.sort((a, b) => a.seq - b.seq);
    return new ReportOutbox(options.dir, options.maxEntries ?? 500, entries, last + 1);
  }

  /** Entries waiting. */
  get size(): number {
    return this.#entries.length;
  }

  /** Entries dropped to stay within the bound since the outbox was opened. */
  get dropped(): number {
    return this.#dropped;
  }

  /** The last entry of a kind that is waiting (to compare a new report with). */
  lastOf(kind: ReportKind): ReportOutboxEntry | undefined {
    for (let i = this.#entries.length - 1; i >= 0; i--)
      if (this.#entries[i]!.kind === kind) return this.#entries[i];
    return undefined;
  }

  /** Appends a report durably and returns it. */
  async append(
    kind: ReportKind,
    status: Record<string, unknown>,
    transition: boolean,
  ): Promise<ReportOutboxEntry> {
    const entry: ReportOutboxEntry = {
      seq: this.#nextSeq++,
      kind,
      transition,
      status,
      createdAt: new Date().toISOString(),
    };
    await writeFileAtomic(this.#pathOf(entry.seq), JSON.stringify(entry), 0o600);
    this.#entries.push(entry);
    await this.#enforceBound();
    return entry;
  }

  /** The oldest entry: the next to send. */
  peek(): ReportOutboxEntry | undefined {
    return this.#entries[0];
  }

  /** Removes the entry once the hub has it. */
  async ack(seq: number): Promise<void> {
    const index = this.#entries.findIndex((entry) => entry.seq === seq);
    if (index < 0) return;
    this.#entries.splice(index, 1);
    // The sequence must survive an empty outbox, so numbers never repeat.
    if (this.#entries.length === 0)
      await writeFileAtomic(join(this.#dir, 'next-seq'), `${this.#nextSeq}\n`, 0o600);
    await rm(this.#pathOf(seq), { force: true });
  }

  async #enforceBound(): Promise<void> {
    while (this.#entries.length > this.#max) {
      // Never the newest entry: it is the current state.
      let index = this.#entries.findIndex((entry, i) => !entry.transition && i < this.#entries.length - 1);
      if (index < 0) {
        if (this.#entries.length <= this.#max * 10) return;
        index = 0;
      }
      const [dropped] = this.#entries.splice(index, 1);
      this.#dropped++;
      await rm(this.#pathOf(dropped!.seq), { force: true });
    }
  }

  #pathOf(seq: number): string {
    return join(this.#dir, `${String(seq).padStart(16, '0')}.json`);
  }
}
