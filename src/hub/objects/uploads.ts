/**
 * The upload protocol's decisions, apart from HTTP: open (already held,
 * deduplicated from content the device's target holds, or a session with
 * its offset), append a chunk, commit (verify the whole content's SHA-256,
 * then make the object visible), within each device's quota.
 */

import { createHash } from 'node:crypto';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { writeFileAtomic } from '../../util/index.ts';
import { type SessionInfo, type SessionStore, UploadSessions } from './sessions.ts';
import type { ObjectInfo, ObjectStorage } from './storage.ts';

/** A device's limits. */
export interface ObjectQuota {
  /** @default 1 GiB */
  readonly bytes: number;
  /** @default 100_000 */
  readonly objects: number;
}

export const DEFAULT_OBJECT_QUOTA: ObjectQuota = { bytes: 1024 ** 3, objects: 100_000 };

/** Thrown when an upload would take a device past its quota. */
export class QuotaExceededError extends Error {
  constructor(device: string, what: string) {
    super(`device "${device}" would exceed its object quota: ${what}`);
    this.name = 'QuotaExceededError';
  }
}

/** Thrown at commit when the content's SHA-256 is not the one declared; the session is discarded. */
export class HashMismatchError extends Error {
  constructor(declared: string, actual: string) {
    super(`the content's SHA-256 is ${actual}, not the declared ${declared}: refused, upload it again`);
    this.name = 'HashMismatchError';
  }
}

/** Thrown at commit before all bytes arrived. */
export class IncompleteUploadError extends Error {
  constructor(
    readonly held: number,
    size: number,
  ) {
    super(`the hub holds ${held} of ${size} bytes: send the rest before committing`);
    this.name = 'IncompleteUploadError';
  }
}

/** What opening an upload answers. */
export type OpenAnswer =
  | { readonly state: 'present'; readonly object: ObjectInfo }
  | { readonly state: 'deduplicated'; readonly object: ObjectInfo }
  | { readonly state: 'open'; readonly id: string; readonly offset: number };

/** What the agent declares of one file. */
export interface UploadDeclaration {
  readonly device: string;
  readonly key: string;
  readonly size: number;
  readonly sha256: string;
}

export class Uploads {
  readonly #storage: ObjectStorage;
  readonly #sessions: SessionStore;
  readonly #hashes: string;
  readonly #quota: ObjectQuota;
  /** Per device: bytes and objects stored, counted once from the backend and kept up to date. */
  readonly #usage = new Map<string, Promise<{ bytes: number; objects: number }>>();

  /**
   * `root` is a folder of this hub's own (dedup index; sessions unless `sessions` says where the
   * replicas share them).
   */
  constructor(options: {
    storage: ObjectStorage;
    root: string;
    sessions?: SessionStore;
    quota?: Partial<ObjectQuota>;
  }) {
    this.#storage = options.storage;
    this.#sessions = options.sessions ?? new UploadSessions(options.root);
    this.#hashes = join(options.root, 'hashes');
    this.#quota = { ...DEFAULT_OBJECT_QUOTA, ...options.quota };
  }

  get storage(): ObjectStorage {
    return this.#storage;
  }

  usage(device: string): Promise<{ bytes: number; objects: number }> {
    let usage = this.#usage.get(device);
    if (!usage) {
      usage = this.#storage.list(`devices/${device}/`).then((items) => ({
        bytes: items.reduce((sum, item) => sum + item.size, 0),
        objects: items.length,
      }));
      usage.catch(() => this.#usage.delete(device));
      this.#usage.set(device, usage);
    }
    return usage;
  }

  async open(declaration: UploadDeclaration): Promise<OpenAnswer> {
    const { device, key, size, sha256 } = declaration;
    const current = await this.#storage.head(key);
    if (current && current.sha256 === sha256 && current.size === size)
      return { state: 'present', object: current };
    await this.#checkQuota(device, size, current);
    const held = await this.#heldElsewhere(declaration);
    if (held) {
      const copy = await this.#storage.copy(held, key);
      if (copy && copy.sha256 === sha256) {
        await this.#counted(device, copy, current);
        return { state: 'deduplicated', object: copy };
      }
    }
    const { session, offset } = await this.#sessions.open(device, key, size, sha256);
    return { state: 'open', id: session.id, offset };
  }

  async session(device: string, id: string): Promise<SessionInfo | undefined> {
    return this.#sessions.get(device, id);
  }

  append(session: SessionInfo, offset: number, body: Readable): Promise<number> {
    return this.#sessions.append(session, offset, body);
  }

  /**
   * Verifies the session's whole content against the declared SHA-256 and
   * stores it: only then does the object exist. A mismatch discards the
   * session (the agent starts over, from its own file).
   */
  async commit(session: SessionInfo): Promise<ObjectInfo> {
    const held = await this.#sessions.held(session.device, session.id);
    if (held !== session.size) throw new IncompleteUploadError(held, session.size);
    const { file, sha256: actual } = await this.#sessions.assemble(session);
    if (actual !== session.sha256) {
      await rm(file, { force: true });
      await this.#sessions.discard(session);
      throw new HashMismatchError(session.sha256, actual);
    }
    const current = await this.#storage.head(session.key);
    await this.#checkQuota(session.device, session.size, current).catch(async (error: unknown) => {
      await rm(file, { force: true });
      throw error;
    });
    const object = await this.#storage.put(session.key, file, session);
    await this.#sessions.discard(session);
    await this.#counted(session.device, object, current);
    return object;
  }

  /** Removes an object; false when there was none. */
  async delete(device: string, key: string): Promise<boolean> {
    const current = await this.#storage.head(key);
    const removed = await this.#storage.delete(key);
    if (removed && current) {
      const usage = await this.usage(device);
      usage.bytes -= current.size;
      usage.objects -= 1;
    }
    return removed;
  }

  async #checkQuota(device: string, size: number, replaced: ObjectInfo | undefined): Promise<void> {
    const usage = await this.usage(device);
    const bytes = usage.bytes - (replaced?.size ?? 0) + size;
    if (bytes > this.#quota.bytes)
      throw new QuotaExceededError(
        device,
        `${usage.bytes} bytes stored + ${size} > ${this.#quota.bytes} bytes`,
      );
    if (!replaced && usage.objects + 1 > this.#quota.objects)
      throw new QuotaExceededError(device, `${usage.objects} objects stored, at most ${this.#quota.objects}`);
  }

  /** Counts a stored object and records its content for deduplication. */
  async #counted(device: string, object: ObjectInfo, replaced: ObjectInfo | undefined): Promise<void> {
    const usage = await this.usage(device);
    usage.bytes += object.size - (replaced?.size ?? 0);
    if (!replaced) usage.objects += 1;
    const file = this.#hashFile(device, scopeOf(object.key), object.sha256);
    await mkdir(join(file, '..'), { recursive: true, mode: 0o700 });
    await writeFileAtomic(file, object.key, 0o600);
  }

  /** A key in the declaration's scope that held this content when last seen. */
  async #heldElsewhere(declaration: UploadDeclaration): Promise<string | undefined> {
    const file = this.#hashFile(declaration.device, scopeOf(declaration.key), declaration.sha256);
    const key = await readFile(file, 'utf8').catch(() => undefined);
    if (!key || key === declaration.key) return undefined;
    const info = await this.#storage.head(key);
    return info?.sha256 === declaration.sha256 ? key : undefined;
  }

  #hashFile(device: string, scope: string, sha256: string): string {
    const scopeId = createHash('sha256').update(scope).digest('hex').slice(0, 32);
    return join(this.#hashes, device, scopeId, sha256);
  }
}

/**
 * The dedup scope of a key `devices/<d>/<ns>/<workload>/...`: the device's
 * target for that workload (content is shared within it, never across
 * devices or namespaces).
 */
function scopeOf(key: string): string {
  return key.split('/').slice(2, 4).join('/');
}
