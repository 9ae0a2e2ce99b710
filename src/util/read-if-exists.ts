import { readFile } from 'node:fs/promises';

/**
 * Reads a UTF-8 file; undefined when it does not exist (state not written
 * yet). Any other failure (permissions, a folder in its place) throws.
 */
export async function readFileIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
