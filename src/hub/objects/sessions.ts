/**
 * Upload sessions on the hub's disk: `ROOT/sessions/<device>/<id>/` holds
 * `session.json` (key, size, SHA-256) and `part` (the bytes received so
 * far, appended in order). The session id is derived from the key and the
 * content's size and hash, so an agent that lost everything but the file
 * finds its session again, and the offset the hub holds is the part's
 * length: whatever reached the disk is never asked for again.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { writeFileAtomic } from '../../util/index.ts';

/** Bytes gathered before one write to the part file. */
const WRITE_BYTES = 1024 * 1024;
/** Running hashes kept (see UploadSessions #running). */
const MAX_RUNNING = 1000;

/** One session's fixed facts. */
export interface SessionInfo {
  readonly id: string;
  readonly device: string;
  readonly key: string;
  readonly size: number;
  readonly sha256: string;
}

/** Thrown when a chunk is sent at an offset other than the one held; `held` is where to go on. */
export class OffsetMismatchError extends Error {
  constructor(readonly held: number) {
    super(`the hub holds ${held} bytes of this upload: send from offset ${held}`);
    this.name = 'OffsetMismatchError';
  }
}

/** Thrown when more bytes than the declared size arrive. */
export class TooManyBytesError extends Error {
  constructor(readonly size: number) {
    super(`the upload was declared with ${size} bytes: more were sent`);
    this.name = 'TooManyBytesError';
  }
}

/**
 * Where upload sessions are kept: on one hub's disk ({@link UploadSessions}), or in the S3 bucket
 * the hub's replicas share (s3-sessions.ts), so that a session opened through one replica is
 * resumed and committed through another.
 */
export interface SessionStore {
  /** Opens (or finds again) the session; returns it with the offset held. */
  open(
    device: string,
    key: string,
    size: number,
    sha256: string,
  ): Promise<{ session: SessionInfo; offset: number }>;
  /** The session, or undefined when there is none (never opened, committed or discarded). */
  get(device: string, id: string): Promise<SessionInfo | undefined>;
  /** Bytes of the session held, from offset 0 without a gap. */
  held(device: string, id: string): Promise<number>;
  /** Appends `body` at `offset` (the offset held); bytes that arrived stay even when `body` breaks off. */
  append(session: SessionInfo, offset: number, body: Readable): Promise<number>;
  /** A local file with the session's content, and its SHA-256 (hex); storing it consumes the file. */
  assemble(session: SessionInfo): Promise<{ file: string; sha256: string }>;
  /** Removes the session (after a commit, or refused content). */
  discard(session: Pick<SessionInfo, 'device' | 'id'>): Promise<void>;
}

/** The id of the session of `key` with this content. */
export function sessionIdOf(key: string, size: number, sha256: string): string {
  return createHash('sha256').update(`${key}\n${size}\n${sha256}`).digest('hex').slice(0, 40);
}

/** Sessions of all devices, under one folder of the hub's data dir. */
export class UploadSessions implements SessionStore {
  readonly #root: string;
  /** Sessions a chunk is being written to: a second writer would interleave bytes. */
  readonly #busy = new Set<string>();
  /**
   * The SHA-256 so far of sessions whose every byte was written by this process, and how many
   * bytes it covers: the commit then need not read the content back (after a restart, or for a
   * session begun before it, the commit reads the file).
   */
  readonly #running = new Map<string, { hash: Hash; offset: number }>();

  constructor(root: string) {
    this.#root = join(root, 'sessions');
  }

  #dir(device: string, id: string): string {
    return join(this.#root, device, id);
  }

  /** Opens (or finds again) the session; returns it with the offset held. */
  async open(
    device: string,
    key: string,
    size: number,
    sha256: string,
  ): Promise<{ session: SessionInfo; offset: number }> {
    const id = sessionIdOf(key, size, sha256);
    const dir = this.#dir(device, id);
    const session: SessionInfo = { id, device, key, size, sha256 };
    const existing = await this.get(device, id);
    if (!existing) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await writeFileAtomic(join(dir, 'session.json'), JSON.stringify(session), 0o600);
    }
    return { session, offset: await this.held(device, id) };
  }

  /** The session, or undefined when there is none (never opened, committed or discarded). */
  async get(device: string, id: string): Promise<SessionInfo | undefined> {
    if (!/^[0-9a-f]{40}$/.test(id)) return undefined;
    try {
      return JSON.parse(await readFile(join(this.#dir(device, id), 'session.json'), 'utf8')) as SessionInfo;
    } catch {
      return undefined;
    }
  }

  /** Bytes of the session on disk. */
  async held(device: string, id: string): Promise<number> {
    return stat(join(this.#dir(device, id), 'part')).then(
      (s) => s.size,
      () => 0,
    );
  }

  /**
   * Appends `body` at `offset` (which must be the offset held), flushing to
   * disk before it returns the new offset. Bytes that arrived before the
   * connection broke stay: the next chunk starts after them. What arrives is
   * gathered into writes of up to WRITE_BYTES (one system call per network
   * read costs more than the copy), and hashed on the way (see #running).
   */
  async append(session: SessionInfo, offset: number, body: Readable): Promise<number> {
    const name = `${session.device}/${session.id}`;
    if (this.#busy.has(name)) throw new OffsetMismatchError(await this.held(session.device, session.id));
    this.#busy.add(name);
    try {
      const held = await this.held(session.device, session.id);
      if (offset !== held) throw new OffsetMismatchError(held);
      const known = this.#running.get(name);
      this.#running.delete(name);
      let running: { hash: Hash; offset: number } | undefined =
        known?.offset === held ? known : held === 0 ? { hash: createHash('sha256'), offset: 0 } : undefined;
      const handle = await open(join(this.#dir(session.device, session.id), 'part'), 'a', 0o600);
      let written = held;
      let pending: Buffer[] = [];
      let pendingBytes = 0;
      const flush = async () => {
        if (pendingBytes === 0) return;
        const buffers = pending;
        const total = pendingBytes;
        pending = [];
        pendingBytes = 0;
        const { bytesWritten } = await handle.writev(buffers);
        // A short write leaves the hash behind the file: the commit reads the file instead.
        if (bytesWritten !== total) running = undefined;
        for (const buffer of buffers) running?.hash.update(buffer);
        written += bytesWritten;
      };
      try {
        for await (const chunk of body) {
          const buffer = chunk as Buffer;
          if (written + pendingBytes + buffer.length > session.size)
            throw new TooManyBytesError(session.size);
          pending.push(buffer);
          pendingBytes += buffer.length;
          if (pendingBytes >= WRITE_BYTES) await flush();
        }
      } finally {
        await flush().finally(async () => {
          await handle.sync().catch(() => undefined);
          await handle.close();
        });
      }
      if (running) {
        running.offset = written;
        this.#keepRunning(name, running);
      }
      return written;
    } finally {
      this.#busy.delete(name);
    }
  }

  #keepRunning(name: string, running: { hash: Hash; offset: number }): void {
    // Bounded: a session left for long is hashed from its file at commit instead.
    if (this.#running.size >= MAX_RUNNING) {
      const oldest = this.#running.keys().next().value;
      if (oldest !== undefined) this.#running.delete(oldest);
    }
    this.#running.set(name, running);
  }

  /**
   * The part file itself (no copy), and its hash: the running hash when every byte held went
   * through this process (checked by the length it covers), else read from the file.
   */
  async assemble(session: SessionInfo): Promise<{ file: string; sha256: string }> {
    const name = `${session.device}/${session.id}`;
    const file = join(this.#dir(session.device, session.id), 'part');
    const running = this.#running.get(name);
    this.#running.delete(name);
    if (running && running.offset === (await this.held(session.device, session.id)))
      return { file, sha256: running.hash.digest('hex') };
    const hash = createHash('sha256');
    for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
    return { file, sha256: hash.digest('hex') };
  }

  /** Removes the session (after a commit, or refused content). */
  async discard(session: Pick<SessionInfo, 'device' | 'id'>): Promise<void> {
    this.#running.delete(`${session.device}/${session.id}`);
    await rm(this.#dir(session.device, session.id), { recursive: true, force: true });
  }
}
