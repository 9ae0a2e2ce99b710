import { randomBytes } from 'node:crypto';
import { open, readFile } from 'node:fs/promises';
import type { EncryptionKey } from './encrypting-store.ts';

/**
 * The key file: one key per line, `NAME:BASE64` (32 bytes once decoded);
 * blank lines and `#` comments are ignored. The first key encrypts new
 * writes; the others only decrypt (keep an old key below a new one while
 * rotating). Keep it out of backups of the database.
 */
export class EncryptionKeyFileError extends Error {
  override name = 'EncryptionKeyFileError';
}

/** Parses the text of a key file. @throws EncryptionKeyFileError */
export function parseEncryptionKeys(text: string, path: string): EncryptionKey[] {
  const keys: EncryptionKey[] = [];
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const match = /^([A-Za-z0-9._-]+):([A-Za-z0-9+/]+={0,2})$/.exec(line);
    const secret = match ? Buffer.from(match[2]!, 'base64') : undefined;
    // The line itself is never echoed: it holds the key.
    if (!match || secret?.length !== 32) {
      throw new EncryptionKeyFileError(
        `${path}, line ${index + 1}: expected NAME:BASE64 with a 32-byte (AES-256) key`,
      );
    }
    if (keys.some((key) => key.name === match[1])) {
      throw new EncryptionKeyFileError(`${path}, line ${index + 1}: key ${match[1]} is listed twice`);
    }
    keys.push({ name: match[1]!, secret });
  });
  if (keys.length === 0) throw new EncryptionKeyFileError(`${path} holds no key`);
  return keys;
}

/** Reads a key file. @throws EncryptionKeyFileError when it is missing or malformed */
export async function readEncryptionKeys(path: string): Promise<EncryptionKey[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new EncryptionKeyFileError(`cannot read the encryption key file ${path}`, { cause: error });
  }
  return parseEncryptionKeys(text, path);
}

/**
 * Reads the key file at `path`, creating it with one new random key (mode
 * 0600, never replacing a file another process created meanwhile) when it
 * does not exist.
 */
export async function loadOrCreateEncryptionKeys(path: string, now = new Date()): Promise<EncryptionKey[]> {
  const name = `key-${now.toISOString().slice(0, 10).replaceAll('-', '')}`;
  const line = `${name}:${randomBytes(32).toString('base64')}\n`;
  try {
    const file = await open(path, 'wx', 0o600);
    try {
      await file.writeFile(
        `# Outpost secrets-at-rest keys: NAME:BASE64, the first encrypts. Losing it loses every Secret.\n${line}`,
      );
      await file.sync();
    } finally {
      await file.close();
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new EncryptionKeyFileError(`cannot create the encryption key file ${path}`, { cause: error });
    }
  }
  return readEncryptionKeys(path);
}
