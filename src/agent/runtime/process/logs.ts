import { copyFile, open, stat, truncate } from 'node:fs/promises';
import { delay } from '../../../util/index.ts';

/**
 * Container output files: one `output.log` per container (stdout and stderr
 * interleaved, as written), opened by the process itself in append mode so
 * that it survives the agent. Rotation is copy-then-truncate (the process
 * keeps its file descriptor, and O_APPEND writes continue at the new end):
 * the runtime checks sizes every few seconds and keeps one rotated file.
 * Hazards, accepted: lines written between the copy and the truncation are
 * lost, and while the agent is down nothing rotates (the file may grow by
 * whatever the workload writes meanwhile).
 */

/** Rotates `path` to `path.1` when it exceeds `maxBytes`. */
export async function rotateIfLarge(path: string, maxBytes: number): Promise<boolean> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch {
    return false;
  }
  if (size <= maxBytes) return false;
  await copyFile(path, `${path}.1`);
  await truncate(path, 0);
  return true;
}

/** The last `lines` lines of the stored output (rotated file first), or all of it. */
export async function readTail(path: string, lines?: number): Promise<string> {
  const text = (await readOptional(`${path}.1`)) + (await readOptional(path));
  if (lines === undefined) return text;
  if (lines <= 0) return '';
  const parts = text.split('\n');
  const trailing = parts[parts.length - 1] === '' ? parts.pop() : undefined;
  return parts.slice(-lines).join('\n') + (trailing === '' ? '\n' : '');
}

/**
 * Yields the output: the stored tail first, then (with `follow`) what is
 * appended, polled every `intervalMs` until `signal` aborts. Only whole lines
 * are yielded while following; a truncation (rotation) restarts at offset 0.
 */
export async function* followOutput(
  path: string,
  options: { tail?: number; follow?: boolean; signal?: AbortSignal; intervalMs?: number },
): AsyncGenerator<string> {
  const head = await readTail(path, options.tail);
  if (head) yield head;
  if (!options.follow) return;
  let offset = await sizeOf(path);
  let pending = '';
  while (!options.signal?.aborted) {
    // The wait's abort listener goes with it: one per poll would pile up on a long `logs -f`.
    await delay(options.intervalMs ?? 250, options.signal).catch(() => {});
    const size = await sizeOf(path);
    if (size < offset) offset = 0;
    if (size === offset) continue;
    const file = await open(path, 'r');
    try {
      const buffer = Buffer.alloc(size - offset);
      const { bytesRead } = await file.read(buffer, 0, buffer.length, offset);
      offset += bytesRead;
      pending += buffer.subarray(0, bytesRead).toString('utf8');
    } finally {
      await file.close();
    }
    const end = pending.lastIndexOf('\n');
    if (end >= 0) {
      yield pending.slice(0, end + 1);
      pending = pending.slice(end + 1);
    }
  }
}

async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

async function readOptional(path: string): Promise<string> {
  try {
    const file = await open(path, 'r');
    try {
      return await file.readFile('utf8');
    } finally {
      await file.close();
    }
  } catch {
    return '';
  }
}
