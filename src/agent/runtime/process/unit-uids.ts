/**
 * The uids process units run as: one per unit, so that two units (of two
 * teams, say) cannot read each other's folders, taken from a range that no
 * user of the device and no subordinate range (`/etc/subuid`, e.g. rootless
 * podman's `outpost-workloads`) uses. A uid needs no passwd entry to own files
 * or run processes; gid = uid.
 *
 * Agents on one host share nothing: each takes the range its data dir
 * hashes to ({@link unitUidRangeOf}), and no uid that owns a running process
 * (another agent's unit, whatever its range) is handed out.
 *
 * Allocation goes round the range from a cursor kept on disk, so a uid freed
 * by a removed unit is handed out again only after the whole range: files a
 * unit left where units can write (a hostPath volume) do not fall to the next
 * unit at once.
 */
import { hash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '../../../util/index.ts';

/** A range of uids: `first` .. `first + count - 1`. */
export interface UidRange {
  readonly first: number;
  readonly count: number;
}

/**
 * The default range: 65,536 uids from 0x70000000 (1879048192), above
 * systemd-nspawn's container range and below 2^31 (some tools read uids as
 * signed), far from the 100000.. ranges useradd gives subordinate ids.
 */
export const DEFAULT_UNIT_UIDS: UidRange = { first: 0x7000_0000, count: 65_536 };

/** Ranges of {@link DEFAULT_UNIT_UIDS}' size from its start: 2048 of them end at 0x78000000, below 2^31. */
const SLOTS = 2048;

/**
 * The range of the agent whose runtime folder is `dir`: one of 2048 ranges
 * of 65,536 uids from 0x70000000, chosen by a hash of the folder, so that
 * two agents on one host (two data dirs) hand out different uids.
 */
export function unitUidRangeOf(dir: string): UidRange {
  const slot = Number.parseInt(hash('sha256', resolve(dir), 'hex').slice(0, 8), 16) % SLOTS;
  return { first: DEFAULT_UNIT_UIDS.first + slot * DEFAULT_UNIT_UIDS.count, count: DEFAULT_UNIT_UIDS.count };
}

const CURSOR = 'unit-uids.json';

/** Hands out and takes back unit uids; see the module comment. */
export class UnitUids {
  readonly #dir: string;
  readonly #range: UidRange;
  readonly #used = new Set<number>();

  /** `dir` keeps the cursor (`unit-uids.json`). */
  constructor(dir: string, range: UidRange = unitUidRangeOf(dir)) {
    this.#dir = dir;
    this.#range = range;
  }

  /** Marks a uid recorded by an adopted unit as taken. */
  use(uid: number): void {
    this.#used.add(uid);
  }

  /** Gives a removed unit's uid back (handed out again only after the rest of the range). */
  release(uid: number): void {
    this.#used.delete(uid);
  }

  /**
   * The next free uid after the cursor, skipping uids in use, users of
   * `/etc/passwd`, subordinate ranges of `/etc/subuid` and `/etc/subgid`,
   * and owners of running processes (another agent's units).
   * @throws Error when the whole range is taken
   */
  async allocate(): Promise<number> {
    const taken = systemIds();
    const { first, count } = this.#range;
    let cursor = await this.#cursor();
    for (let tried = 0; tried < count; tried++) {
      const uid = first + ((cursor - first + tried) % count);
      if (this.#used.has(uid) || taken(uid)) continue;
      cursor = first + ((uid - first + 1) % count);
      await writeFileAtomic(join(this.#dir, CURSOR), JSON.stringify({ next: cursor }), 0o600);
      this.#used.add(uid);
      return uid;
    }
    throw new Error(`no free unit uid in ${first}..${first + count - 1}`);
  }

  async #cursor(): Promise<number> {
    try {
      const { next } = JSON.parse(await readFile(join(this.#dir, CURSOR), 'utf8')) as { next?: unknown };
      const { first, count } = this.#range;
      if (typeof next === 'number' && next >= first && next < first + count) return next;
    } catch {
      // none yet
    }
    return this.#range.first;
  }
}

/** Whether a uid (or gid) belongs to a user, group or subordinate range of the device, or runs a process. */
function systemIds(): (id: number) => boolean {
  const single = processOwners();
  const ranges: [number, number][] = [];
  for (const file of ['/etc/passwd', '/etc/group']) {
    for (const line of readLines(file)) {
      const id = Number(line.split(':')[2]);
      if (Number.isInteger(id)) single.add(id);
    }
  }
  for (const file of ['/etc/subuid', '/etc/subgid']) {
    for (const line of readLines(file)) {
      const [, start, size] = line.split(':').map(Number);
      if (Number.isInteger(start) && Number.isInteger(size)) ranges.push([start!, start! + size!]);
    }
  }
  return (id) => single.has(id) || ranges.some(([start, end]) => id >= start && id < end);
}

/** The uids of the running processes (a /proc entry belongs to its process's uid). */
function processOwners(): Set<number> {
  const owners = new Set<number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      owners.add(statSync(`/proc/${entry}`).uid);
    } catch {
      // gone meanwhile
    }
  }
  return owners;
}

function readLines(file: string): string[] {
  try {
    return readFileSync(file, 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
}
