/**
 * Opening a file of an upload directory so that nothing outside the
 * directory can be read through it: O_NOFOLLOW refuses a symlink as the file
 * itself, a link count above one refuses a hard link (whose other name may
 * be anywhere), and the opened descriptor's own path (`/proc/self/fd/N`)
 * must lie inside the directory, which catches a parent directory replaced
 * by a symlink while the file was being found.
 */
import { constants } from 'node:fs';
import { type FileHandle, open, readlink, realpath } from 'node:fs/promises';
import { sep } from 'node:path';

/** Thrown when a file of an upload directory is refused; the message says why. */
export class UnsafeFileError extends Error {
  constructor(path: string, why: string) {
    super(`${path}: ${why}: not uploaded`);
    this.name = 'UnsafeFileError';
  }
}

/** An opened file and what it was when opened. */
export interface OpenedFile {
  readonly handle: FileHandle;
  readonly size: number;
  readonly mtimeMs: number;
  readonly ino: number;
}

/** Opens `path` (inside `dir`) for reading, refusing what could show anything outside `dir`. */
export async function openInside(dir: string, path: string): Promise<OpenedFile> {
  const root = await realpath(dir);
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOOP') throw new UnsafeFileError(path, 'a symbolic link');
    throw error;
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw new UnsafeFileError(path, 'not a regular file');
    if (stats.nlink !== 1) throw new UnsafeFileError(path, `a hard link (${stats.nlink} names)`);
    const real = await readlink(`/proc/self/fd/${handle.fd}`);
    if (!real.startsWith(root + sep))
      throw new UnsafeFileError(path, `resolves outside the upload directory (${real})`);
    return { handle, size: stats.size, mtimeMs: stats.mtimeMs, ino: stats.ino };
  } catch (error) {
    await handle.close();
    throw error;
  }
}
