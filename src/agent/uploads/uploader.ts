/**
 * The agent's uploader: for every Workload placed with `uploads`, it scans
 * the upload directories, takes each completed file (unchanged in size and
 * modification time for the settle time), smallest first, and uploads it
 * through the hub: hash (SHA-256) → open a session (the hub answers what it
 * already holds, or the offset it holds) → chunks from that offset → commit
 * (the hub verifies the hash). A broken connection or a restart resumes from
 * the offset the hub acknowledged (persisted in the data dir, and asked
 * again at open), never from zero.
 */
import { createHash } from 'node:crypto';
import { chmod, lstat, mkdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Mailbox, MailboxObject, WorkloadUpload } from '../../api/index.ts';
import { objectPathProblem } from '../../api/index.ts';
import { delay, writeFileAtomic } from '../../util/index.ts';
import { type HubApi, HubStatusError } from '../hub-client/index.ts';
import { uploadDirOf } from './mounts.ts';
import { type OpenedFile, openInside, UnsafeFileError } from './safe-open.ts';
import { scanDir } from './scan.ts';

/** Options of {@link Uploader}. */
export interface UploaderOptions {
  readonly api: HubApi;
  readonly device: string;
  /** Where upload directories live (outside the data dir: workloads write there). */
  readonly root: string;
  /** The agent's data dir (session state is kept there). */
  readonly dataDir: string;
  readonly log: Logger;
  /** How long a file must stay unchanged to count as complete. @default 2000 */
  readonly settleMs?: number;
  /** How often the directories are scanned. @default 1000 */
  readonly pollMs?: number;
  /** Bytes per chunk. @default 1 MiB */
  readonly chunkBytes?: number;
  /** Called when the status changed (the heartbeat sends it). */
  readonly onChange?: () => void;
}

interface Watched {
  readonly source: MailboxObject['source'];
  readonly upload: WorkloadUpload;
  readonly dir: string;
}

interface Candidate {
  readonly watched: Watched;
  readonly path: string;
  readonly relative: string;
  readonly key: string;
  readonly size: number;
  readonly mtimeMs: number;
}

/** What is kept across restarts: files done, and the session of each file under way. */
interface State {
  done: Record<string, { size: number; mtimeMs: number }>;
  sessions: Record<string, { size: number; mtimeMs: number; sha256: string; offset: number }>;
}

export class Uploader {
  readonly #options: UploaderOptions;
  readonly #stateFile: string;
  #state: State = { done: {}, sessions: {} };
  #watched: Watched[] = [];
  /** Last seen size and mtime of each file, and since when unchanged. */
  readonly #seen = new Map<string, { size: number; mtimeMs: number; since: number }>();
  readonly #refused = new Set<string>();
  #status = { queuedFiles: 0, queuedBytes: 0, uploadedBytes: 0, uploadedFiles: 0 } as {
    queuedFiles: number;
    queuedBytes: number;
    uploadedBytes: number;
    uploadedFiles: number;
    lastUploadTime?: string;
    lastError?: string;
    lastErrorTime?: string;
  };

  constructor(options: UploaderOptions) {
    this.#options = options;
    this.#stateFile = join(options.dataDir, 'uploads.json');
  }

  /** Device `status.uploads`, once anything is declared. */
  report(): Record<string, unknown> | undefined {
    return this.#watched.length > 0 || this.#status.uploadedFiles > 0 ? { ...this.#status } : undefined;
  }

  /** Takes the Mailbox's uploads and makes their directories (before the units that mount them start). */
  async setMailbox(mailbox: Mailbox): Promise<void> {
    const watched = new Map<string, Watched>();
    for (const entry of mailbox.spec?.objects ?? [])
      for (const upload of entry.uploads ?? []) {
        const dir = uploadDirOf(this.#options.root, entry.source, upload);
        watched.set(dir, { source: entry.source, upload, dir });
      }
    for (const { dir } of watched.values()) {
      // Writable by the workload's user, whoever it runs as; the sticky bit keeps users' files their
      // own. Only when made: the process runtime then gives it to the unit's uid alone (0770).
      const made = await mkdir(dir, { recursive: true, mode: 0o755 });
      if (made !== undefined) await chmod(dir, 0o1777); // mkdir's mode is masked by the umask
    }
    this.#watched = [...watched.values()];
  }

  async run(signal: AbortSignal): Promise<void> {
    this.#state = await readState(this.#stateFile);
    while (!signal.aborted) {
      try {
        await this.#pass(signal);
      } catch (error) {
        if (signal.aborted) break;
        this.#fail(error);
      }
      await delay(this.#options.pollMs ?? 1000, signal).catch(() => {});
    }
  }

  /** One scan and the uploads of the files found complete. */
  async #pass(signal: AbortSignal): Promise<void> {
    const now = Date.now();
    const settle = this.#options.settleMs ?? 2000;
    const ready: Candidate[] = [];
    for (const watched of this.#watched) {
      const { files, symlinks } = await scanDir(watched.dir);
      for (const link of symlinks) this.#refuse(link, new UnsafeFileError(link, 'a symbolic link'));
      for (const file of files) {
        const stats = await lstat(file.path).catch(() => undefined);
        if (!stats?.isFile()) continue;
        const prefix = watched.upload.target ? `${watched.upload.target}/` : '';
        const relative = `${prefix}${file.relative}`;
        const key = `${watched.source.namespace}/${watched.source.workload}/${relative}`;
        const done = this.#state.done[key];
        if (done && done.size === stats.size && done.mtimeMs === stats.mtimeMs) continue;
        const seen = this.#seen.get(file.path);
        if (!seen || seen.size !== stats.size || seen.mtimeMs !== stats.mtimeMs) {
          this.#seen.set(file.path, { size: stats.size, mtimeMs: stats.mtimeMs, since: now });
          continue;
        }
        if (now - seen.since < settle) continue;
        ready.push({ watched, path: file.path, relative, key, size: stats.size, mtimeMs: stats.mtimeMs });
      }
    }
    // Small files first: a large one does not hold up the many small ones behind it.
    ready.sort((a, b) => a.size - b.size);
    this.#status.queuedFiles = ready.length;
    this.#status.queuedBytes = ready.reduce((sum, c) => sum + c.size, 0);
    for (const candidate of ready) {
      if (signal.aborted) return;
      if (!inWindow(candidate.watched.upload.schedule, new Date())) continue;
      try {
        await this.#upload(candidate, signal);
        this.#status.queuedFiles -= 1;
        this.#status.queuedBytes -= candidate.size;
      } catch (error) {
        if (signal.aborted) return;
        if (error instanceof UnsafeFileError) this.#refuse(candidate.path, error);
        else {
          this.#fail(error);
          // The hub is unreachable or refused: the rest waits for the next pass.
          if (!(error instanceof HubStatusError)) return;
        }
      }
    }
  }

  async #upload(candidate: Candidate, signal: AbortSignal): Promise<void> {
    const problem = objectPathProblem(candidate.relative);
    if (problem) throw new UnsafeFileError(candidate.path, `its path ${problem}`);
    const file = await openInside(candidate.watched.dir, candidate.path);
    try {
      if (file.size !== candidate.size || file.mtimeMs !== candidate.mtimeMs) return; // changed: next pass
      await this.#send(candidate, file, signal);
    } finally {
      await file.handle.close();
    }
    const { deleteAfterUpload } = candidate.watched.upload;
    if (deleteAfterUpload) {
      // Only the file that was uploaded: not one written under the same name since.
      const now = await lstat(candidate.path).catch(() => undefined);
      if (now && now.ino === file.ino && now.size === file.size && now.mtimeMs === file.mtimeMs)
        await unlink(candidate.path);
      delete this.#state.done[candidate.key];
    } else this.#state.done[candidate.key] = { size: file.size, mtimeMs: file.mtimeMs };
    this.#seen.delete(candidate.path);
    this.#status.uploadedFiles += 1;
    this.#status.lastUploadTime = new Date().toISOString();
    await this.#save();
    this.#options.onChange?.();
  }

  async #send(candidate: Candidate, file: OpenedFile, signal: AbortSignal): Promise<void> {
    const { api, device } = this.#options;
    const kept = this.#state.sessions[candidate.key];
    const sha256 =
      kept && kept.size === file.size && kept.mtimeMs === file.mtimeMs ? kept.sha256 : await digest(file);
    this.#state.sessions[candidate.key] = {
      size: file.size,
      mtimeMs: file.mtimeMs,
      sha256,
      offset: kept?.offset ?? 0,
    };
    await this.#save();
    const base = `/agent/v1/devices/${device}/uploads`;
    const opened = await api.request<{ state: string; id?: string; offset?: number }>('POST', base, {
      body: {
        namespace: candidate.watched.source.namespace,
        workload: candidate.watched.source.workload,
        path: candidate.relative,
        size: file.size,
        sha256,
      },
      signal,
    });
    if (opened.state === 'open') {
      const id = opened.id!;
      let offset = opened.offset ?? 0;
      const chunkBytes = Math.min(
        this.#options.chunkBytes ?? 1024 * 1024,
        candidate.watched.upload.maxBandwidth ?? Infinity,
      );
      const buffer = Buffer.alloc(chunkBytes);
      while (offset < file.size) {
        const started = Date.now();
        const { bytesRead } = await file.handle.read(
          buffer,
          0,
          Math.min(chunkBytes, file.size - offset),
          offset,
        );
        if (bytesRead === 0) throw new Error(`${candidate.path} shrank while it was uploaded`);
        try {
          const answer = await api.request<{ offset: number }>('PUT', `${base}/${id}`, {
            bytes: buffer.subarray(0, bytesRead),
            headers: { 'upload-offset': String(offset) },
            signal,
            timeoutMs: 120_000,
          });
          this.#status.uploadedBytes += answer.offset - offset;
          offset = answer.offset;
        } catch (error) {
          const held = heldOffset(error);
          if (held === undefined) throw error;
          offset = held; // the hub holds another offset (a chunk it got before the connection broke)
        }
        this.#state.sessions[candidate.key]!.offset = offset;
        await this.#save();
        const limit = candidate.watched.upload.maxBandwidth;
        if (limit) {
          const wait = (bytesRead / limit) * 1000 - (Date.now() - started);
          if (wait > 0) await delay(wait, signal);
        }
      }
      try {
        await api.request('POST', `${base}/${id}/commit`, { signal, timeoutMs: 120_000 });
      } catch (error) {
        // Refused content (the file changed under the hash): hashed again and sent again next pass.
        if (error instanceof HubStatusError && error.statusCode === 422)
          delete this.#state.sessions[candidate.key];
        throw error;
      }
    }
    delete this.#state.sessions[candidate.key];
  }

  #refuse(path: string, error: Error): void {
    if (this.#refused.has(path)) return;
    this.#refused.add(path);
    this.#options.log.warn({ path, err: error.message }, 'file refused for upload');
    this.#fail(error);
  }

  #fail(error: unknown): void {
    this.#status.lastError = (error as Error).message;
    this.#status.lastErrorTime = new Date().toISOString();
    this.#options.log.warn({ err: (error as Error).message }, 'upload failed');
    this.#options.onChange?.();
  }

  async #save(): Promise<void> {
    await writeFileAtomic(this.#stateFile, JSON.stringify(this.#state), 0o600);
  }
}

async function readState(file: string): Promise<State> {
  try {
    const state = JSON.parse(await readFile(file, 'utf8')) as Partial<State>;
    return { done: state.done ?? {}, sessions: state.sessions ?? {} };
  } catch {
    return { done: {}, sessions: {} };
  }
}

async function digest(file: OpenedFile): Promise<string> {
  const hash = createHash('sha256');
  const buffer = Buffer.alloc(1024 * 1024);
  let position = 0;
  while (position < file.size) {
    const { bytesRead } = await file.handle.read(
      buffer,
      0,
      Math.min(buffer.length, file.size - position),
      position,
    );
    if (bytesRead === 0) break;
    hash.update(buffer.subarray(0, bytesRead));
    position += bytesRead;
  }
  return hash.digest('hex');
}

/** The offset a 409 says the hub holds. */
function heldOffset(error: unknown): number | undefined {
  if (!(error instanceof HubStatusError) || error.statusCode !== 409) return undefined;
  const match = /send from offset (\d+)/.exec(error.message);
  return match ? Number(match[1]) : undefined;
}

/** Whether `now` (UTC) lies in the daily window `HH:MM-HH:MM` (which may pass midnight). */
export function inWindow(schedule: string | undefined, now: Date): boolean {
  if (!schedule) return true;
  const [from, to] = schedule.split('-').map((t) => Number(t.slice(0, 2)) * 60 + Number(t.slice(3, 5))) as [
    number,
    number,
  ];
  const minute = now.getUTCHours() * 60 + now.getUTCMinutes();
  return from <= to ? minute >= from && minute < to : minute >= from || minute < to;
}
