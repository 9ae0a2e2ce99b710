/**
 * Lists the files of an upload directory without following anything:
 * directories are entered by their entries' own type (a symlink is never
 * entered), and symlinks are reported as refused.
 */
import type { Dirent } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';

/** A file found, with its path relative to the upload directory. */
export interface FoundFile {
  readonly path: string;
  readonly relative: string;
}

/** The regular files under `dir`, and the symlinks met (refused). At most `limit` files. */
export async function scanDir(
  dir: string,
  limit = 100_000,
): Promise<{ files: FoundFile[]; symlinks: string[] }> {
  const files: FoundFile[] = [];
  const symlinks: string[] = [];
  const walk = async (folder: string): Promise<void> => {
    let entries: Dirent[];
    try {
      entries = await readdir(folder, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      if (files.length >= limit) return;
      const path = join(folder, entry.name);
      if (entry.isSymbolicLink()) symlinks.push(path);
      else if (entry.isDirectory()) await walk(path);
      else if (entry.isFile()) files.push({ path, relative: relative(dir, path) });
    }
  };
  await walk(dir);
  return { files, symlinks };
}
