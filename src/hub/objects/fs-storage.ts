/**
 * The filesystem backend, under the hub's data dir: content at
 * `ROOT/data/<key>`, its size and SHA-256 at `ROOT/meta/<key>.json`. Both are
 * written as a temporary file that is fsynced and then renamed into place
 * (and the folder fsynced), so a crash leaves the old object or the new one,
 * never part of one. An object is visible once its content file is in place;
 * its meta file is written first, so a visible object always has one.
 */
import type { createReadStream } from 'node:fs';
import { link, mkdir, open, readdir, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { writeFileAtomic } from '../../util/index.ts';
import { type ObjectInfo, ObjectKeyConflictError, type ObjectStorage } from './storage.ts';

export class FsObjectStorage implements ObjectStorage {
  readonly location: string;
  readonly #data: string;
  readonly #meta: string;

  constructor(root: string) {
    this.#data = join(resolve(root), 'data');
    this.#meta = join(resolve(root), 'meta');
    this.location = `${pathToFileURL(this.#data).href}/`;
  }

  /** The file of `key` under `base`; refuses (as a last line of defence) anything leaving it. */
  #file(base: string, key: string, suffix = ''): string {
    const file = resolve(base, key) + suffix;
    if (!file.startsWith(base + sep)) throw new Error(`object key "${key}" leaves the object store`);
    return file;
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const data = this.#file(this.#data, key);
    const size = await stat(data).then(
      (s) => (s.isFile() ? s.size : undefined),
      () => undefined,
    );
    if (size === undefined) return undefined;
    try {
      const meta = JSON.parse(await readFile(this.#file(this.#meta, key, '.json'), 'utf8')) as ObjectInfo;
      return { key, size: meta.size, sha256: meta.sha256, modified: meta.modified };
    } catch {
      return undefined;
    }
  }

  async put(key: string, file: string, info: { size: number; sha256: string }): Promise<ObjectInfo> {
    const object: ObjectInfo = {
      key,
      size: info.size,
      sha256: info.sha256,
      modified: new Date().toISOString(),
    };
    const data = this.#file(this.#data, key);
    await this.#writeMeta(object);
    await this.#mkdirFor(data, key);
    await rename(file, data).catch((error: NodeJS.ErrnoException) => {
      throw error.code === 'EISDIR' || error.code === 'ENOTDIR' ? new ObjectKeyConflictError(key) : error;
    });
    await syncFolder(dirname(data));
    return object;
  }

  async copy(from: string, to: string): Promise<ObjectInfo | undefined> {
    const source = await this.head(from);
    if (!source) return undefined;
    const object: ObjectInfo = {
      key: to,
      size: source.size,
      sha256: source.sha256,
      modified: new Date().toISOString(),
    };
    const data = this.#file(this.#data, to);
    await this.#mkdirFor(data, to);
    // Content files are never changed in place (only replaced by rename), so a hard link is a copy.
    const temporary = `${data}.${process.pid}.${Date.now()}.link`;
    try {
      await link(this.#file(this.#data, from), temporary);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    await this.#writeMeta(object);
    await rename(temporary, data).catch(async (error: NodeJS.ErrnoException) => {
      await rm(temporary, { force: true });
      throw error.code === 'EISDIR' || error.code === 'ENOTDIR' ? new ObjectKeyConflictError(to) : error;
    });
    await syncFolder(dirname(data));
    return object;
  }

  async get(
    key: string,
  ): Promise<{ info: ObjectInfo; body: ReturnType<typeof createReadStream> } | undefined> {
    const info = await this.head(key);
    if (!info) return undefined;
    // Opened before answering: a concurrent replace renames over the path, this handle keeps the old content.
    const handle = await open(this.#file(this.#data, key), 'r').catch(() => undefined);
    if (!handle) return undefined;
    return { info, body: handle.createReadStream() };
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    const folder = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
    const start = this.#file(this.#data, folder);
    const keys: string[] = [];
    const walk = async (dir: string, keyPrefix: string): Promise<void> => {
      const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
      for (const entry of entries) {
        if (entry.name.endsWith('.link')) continue;
        const key = `${keyPrefix}/${entry.name}`;
        if (entry.isDirectory()) await walk(join(dir, entry.name), key);
        else if (entry.isFile()) keys.push(key);
      }
    };
    await walk(start, folder);
    keys.sort();
    const infos: ObjectInfo[] = [];
    for (const key of keys) {
      const info = await this.head(key);
      if (info) infos.push(info);
    }
    return infos;
  }

  async delete(key: string): Promise<boolean> {
    const data = this.#file(this.#data, key);
    const removed = await unlink(data).then(
      () => true,
      () => false,
    );
    await rm(this.#file(this.#meta, key, '.json'), { force: true });
    return removed;
  }

  async #writeMeta(object: ObjectInfo): Promise<void> {
    const meta = this.#file(this.#meta, object.key, '.json');
    await this.#mkdirFor(meta, object.key);
    await writeFileAtomic(meta, JSON.stringify(object), 0o600);
  }

  async #mkdirFor(file: string, key: string): Promise<void> {
    await mkdir(dirname(file), { recursive: true, mode: 0o700 }).catch((error: NodeJS.ErrnoException) => {
      throw error.code === 'EEXIST' || error.code === 'ENOTDIR' ? new ObjectKeyConflictError(key) : error;
    });
  }
}

async function syncFolder(folder: string): Promise<void> {
  const handle = await open(folder, 'r');
  try {
    await handle.sync();
  } catch {
    // Some filesystems refuse fsync on a folder; the rename is still atomic there.
  } finally {
    await handle.close();
  }
}
