/**
 * One live process per data dir: `DIR/<file>` records the holder's pid and
 * start time (see {@link startTimeOf}), so that a second hub or agent on the
 * same folder is refused while the first runs, and a record left by a dead
 * one (a kill -9, a power cut, a reused pid) is taken over.
 *
 * The record is written to a temporary file and linked into place: `link`
 * creates the name only if it does not exist, so a reader never sees a
 * half-written record and two starters never both create it. Taking over a
 * stale record removes it only while it still holds what was judged stale;
 * two starters taking over the same stale record at the same instant are
 * then settled by `link` (one creates, the other finds it and checks again).
 */
import { randomBytes } from 'node:crypto';
import { link, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startTimeOf } from './process-start-time.ts';

/** Another live process holds the data dir. */
export class DataDirLockedError extends Error {
  override readonly name = 'DataDirLockedError';
  constructor(
    message: string,
    /** The holder's pid. */
    readonly pid: number,
  ) {
    super(message);
  }
}

/** Options of {@link lockDataDir}. */
export interface DataDirLockOptions {
  /** The record's file name in the data dir, e.g. `hub.pid`. */
  readonly file: string;
  /** What holds it, for the refusal: `another <what> (pid N) runs with the data dir DIR`. */
  readonly what: string;
  /** Appended to the refusal (what to do about it). */
  readonly hint?: string;
}

/** A held data dir. */
export interface DataDirLock {
  /** The record's path. */
  readonly path: string;
  /** Removes the record if it is still ours (idempotent). */
  release(): Promise<void>;
}

interface HolderRecord {
  pid: number;
  startTime: string;
}

/** How many times a stale record is taken over before giving up (others keep taking it). */
const MAX_ATTEMPTS = 5;

/**
 * Takes `DIR/<file>` for this process. The folder must exist. This process
 * may take it again (a second start in one process, as tests do).
 * @throws DataDirLockedError when another live process holds it.
 */
export async function lockDataDir(dir: string, options: DataDirLockOptions): Promise<DataDirLock> {
  const path = join(dir, options.file);
  const own: HolderRecord = { pid: process.pid, startTime: startTimeOf(process.pid) ?? '' };
  const text = JSON.stringify(own);
  const temporary = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(temporary, text, { mode: 0o644 });
  try {
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      try {
        await link(temporary, path);
        return held(path, text);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const found = await readFile(path, 'utf8').catch(() => undefined);
      if (found === undefined) continue; // removed meanwhile: try again
      const holder = parse(found);
      if (holder?.pid === own.pid && holder.startTime === own.startTime) return held(path, text);
      if (holder && startTimeOf(holder.pid) === holder.startTime) {
        const hint = options.hint ? `: ${options.hint}` : '';
        throw new DataDirLockedError(
          `another ${options.what} (pid ${holder.pid}) runs with the data dir ${dir}${hint}`,
          holder.pid,
        );
      }
      // Stale (its process is gone) or unreadable: removed only if nobody replaced it meanwhile.
      if ((await readFile(path, 'utf8').catch(() => undefined)) === found) await unlink(path).catch(() => {});
    }
    throw new Error(`cannot take ${path}: other processes keep taking it`);
  } finally {
    await rm(temporary, { force: true });
  }
}

function held(path: string, text: string): DataDirLock {
  return {
    path,
    async release() {
      const found = await readFile(path, 'utf8').catch(() => undefined);
      if (found === text) await unlink(path).catch(() => {});
    },
  };
}

function parse(text: string): HolderRecord | undefined {
  try {
    const value = JSON.parse(text) as Partial<HolderRecord>;
    return typeof value.pid === 'number' && typeof value.startTime === 'string'
      ? { pid: value.pid, startTime: value.startTime }
      : undefined;
  } catch {
    return undefined;
  }
}
