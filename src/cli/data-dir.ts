/**
 * What `outpost hub` and `outpost agent` check before they write anything:
 * that the data dir can be made and written to, and (the hub) that its port
 * is free. Each failure is one {@link CliError} line naming the path or the
 * port and what to do, instead of SQLite's `unable to open database file`, a
 * spinning `mkdir` or a half-made data dir.
 */
import { mkdir, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, resolve } from 'node:path';
import { CliError } from './errors.ts';

/** The outcome of {@link prepareDataDir}. */
export interface PreparedDataDir {
  /** The absolute path. */
  readonly path: string;
  /** The outermost folder this call created, if any: what {@link removeCreated} removes. */
  readonly created?: string;
}

/**
 * Makes `dir` (and missing parents) and checks that a file can be written in
 * it. Node's own recursive `mkdir` spins forever where a parent exists but
 * refuses children with ENOENT (`/proc/x`), so folders are made one at a time.
 * @throws CliError naming the folder, the reason and what to do.
 */
export async function prepareDataDir(dir: string, option = '--data-dir'): Promise<PreparedDataDir> {
  const path = resolve(dir);
  let created: string | undefined;
  try {
    created = await makeDir(path);
  } catch (error) {
    throw new CliError(`${option} ${path} cannot be created: ${reason(error)}; ${advice(option)}`);
  }
  const probe = `${path}/.outpost-write-test-${process.pid}`;
  try {
    await writeFile(probe, '', { mode: 0o600 });
    await unlink(probe);
  } catch (error) {
    if (created) await removeCreated({ path, created });
    throw new CliError(`${option} ${path} is not writable: ${reason(error)}; ${advice(option)}`);
  }
  return created ? { path, created } : { path };
}

/** Removes what {@link prepareDataDir} created (after a failed start), never a folder that was there before. */
export async function removeCreated(prepared: PreparedDataDir): Promise<void> {
  if (prepared.created) await rm(prepared.created, { recursive: true, force: true }).catch(() => {});
}

/**
 * Resolves once nothing listens on `host:port` (a probe listens and closes at once).
 * Port 0 is always free.
 * @throws CliError for a port in use, a port this user may not use, or an address not on this machine.
 */
export async function checkPortFree(host: string, port: number, option = '--listen'): Promise<void> {
  if (port === 0) return;
  const server = createServer();
  try {
    await new Promise<void>((done, fail) => {
      server.once('error', fail);
      server.listen({ host, port, exclusive: true }, () => done());
    });
  } catch (error) {
    throw listenError(error, host, port, option);
  } finally {
    await new Promise<void>((done) => server.close(() => done()));
  }
}

/**
 * The one-line error for a failed `listen` on `host:port`; other errors are returned as they are.
 */
export function listenError(error: unknown, host: string, port: number, option = '--listen'): Error {
  const address = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  // The listener's own error, or the one a wrapper (the PLC simulator's) carries as its cause.
  const { code, cause } = error as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
  switch (code ?? cause?.code) {
    case 'EADDRINUSE':
      return new CliError(
        `${address} is already in use${option === '--listen' ? ' (another hub?)' : ''}: stop what listens there, or choose another ${option} (port 0 picks a free one)`,
      );
    case 'EACCES':
      return new CliError(
        `${address} may not be used by this user (ports below 1024 need privileges): choose another ${option}`,
      );
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
      return new CliError(`${host} is not an address of this machine: choose another ${option}`);
    default:
      return error as Error;
  }
}

/**
 * Turns a file system error met while starting (the store, the PKI, the
 * agent's files) into one line naming the path; other errors are returned as they are.
 */
export function fileError(error: unknown, dataDir: string, option = '--data-dir'): Error {
  const { code, path } = error as NodeJS.ErrnoException & { code?: string };
  if (code === 'SQLITE_CANTOPEN' || code === 'SQLITE_READONLY' || code === 'SQLITE_PERM')
    return new CliError(
      `cannot open the database in ${dataDir}: ${(error as Error).message} (${code}); ${advice(option)}`,
    );
  if (path && (code === 'EACCES' || code === 'EPERM' || code === 'EROFS' || code === 'ENOSPC'))
    return new CliError(`cannot write ${path}: ${reason(error)}; ${advice(option)}`);
  return error as Error;
}

/** Makes `path` and its missing parents, one level at a time; returns the outermost folder made. */
async function makeDir(path: string): Promise<string | undefined> {
  try {
    await mkdir(path, { mode: 0o700 });
    return path;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      if (!(await stat(path)).isDirectory())
        throw Object.assign(new Error('not a folder'), { code: 'ENOTDIR' });
      return undefined;
    }
    const parent = dirname(path);
    if (code !== 'ENOENT' || parent === path) throw error;
    const created = await makeDir(parent);
    try {
      // Once: a parent that exists and still answers ENOENT (procfs, a dangling link) will not change its mind.
      await mkdir(path, { mode: 0o700 });
    } catch (again) {
      if (created) await rm(created, { recursive: true, force: true }).catch(() => {});
      throw again;
    }
    return created ?? path;
  }
}

function reason(error: unknown): string {
  const { code } = error as NodeJS.ErrnoException;
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EROFS':
      return 'the file system is read-only';
    case 'ENOSPC':
      return 'the disk is full';
    case 'ENOTDIR':
      return 'a file is in the way of a folder';
    case 'ENOENT': {
      const path = (error as NodeJS.ErrnoException).path;
      return `${path ? dirname(path) : 'its parent'} does not accept new folders`;
    }
    default:
      return (error as Error).message;
  }
}

function advice(option: string): string {
  return `choose another ${option}, or give this user write access to it`;
}
