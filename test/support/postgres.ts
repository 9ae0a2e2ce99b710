import { execFile } from 'node:child_process';
import { chown, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Where Debian's postgresql-15 package puts the server binaries (they are not on PATH). */
export const POSTGRES_BIN = '/usr/lib/postgresql/15/bin';

/** A throw-away PostgreSQL cluster on a free port, owned by the test that started it. */
export interface PostgresCluster {
  /** `postgres://postgres@127.0.0.1:PORT/postgres` (trust authentication, no password). */
  readonly url: string;
  readonly port: number;
  /** Stops the server (fast shutdown) and removes its files; idempotent. */
  stop(): Promise<void>;
  /** Stops the server with a fast shutdown (clients are disconnected) and starts it again on the same port. */
  restart(): Promise<void>;
  /** Crashes the server (immediate shutdown: no checkpoint, as on SIGKILL) and leaves it down. */
  kill(): Promise<void>;
  /** Starts a server that `kill()` left down; recovery replays the WAL. */
  start(): Promise<void>;
  /** Creates a fresh database and returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** Runs SQL through psql as the superuser and returns its (unaligned, tuples-only) output. */
  psql(sql: string, database?: string): Promise<string>;
}

/** Runs a command as the `postgres` user (tests run as root; PostgreSQL refuses to run as root). */
function asPostgres(command: string, args: readonly string[], timeoutMs = 60_000): Promise<string> {
  const asRoot = process.getuid?.() === 0;
  const [file, argv] = asRoot
    ? ['runuser', ['-u', 'postgres', '--', command, ...args]]
    : [command, [...args]];
  return new Promise((resolve, reject) => {
    execFile(file, argv, { timeout: timeoutMs }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.join(' ')} failed: ${stderr || error.message}`));
      else resolve(String(stdout));
    });
  });
}

/** A port nothing listens on right now. */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts a throw-away PostgreSQL 15 cluster: `initdb` into a temp dir (UTF-8,
 * C locale, trust authentication), `pg_ctl start` on a free port with its
 * socket in the same dir, fsync on (acknowledged commits survive `kill()`).
 * Call `stop()` when done.
 */
export async function startPostgres(): Promise<PostgresCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'outpost-pg-'));
  const data = join(dir, 'data');
  const postgresUid = Number((await asPostgres('id', ['-u'])).trim());
  const postgresGid = Number((await asPostgres('id', ['-g'])).trim());
  if (process.getuid?.() === 0) await chown(dir, postgresUid, postgresGid);
  // --no-sync only speeds up initdb itself; the server below runs with fsync on.
  await asPostgres(join(POSTGRES_BIN, 'initdb'), [
    '-D',
    data,
    '-U',
    'postgres',
    '-A',
    'trust',
    '-E',
    'UTF8',
    '--locale=C',
    '--no-sync',
  ]);
  const port = await freePort();
  const serverOptions = [
    `-p ${port}`,
    `-k ${dir}`,
    '-c listen_addresses=127.0.0.1',
    '-c fsync=on',
    '-c max_connections=200',
    '-c shared_buffers=32MB',
  ].join(' ');
  const pgCtl = (...args: string[]) => asPostgres(join(POSTGRES_BIN, 'pg_ctl'), ['-D', data, ...args]);
  const start = () => pgCtl('start', '-w', '-t', '60', '-l', join(dir, 'server.log'), '-o', serverOptions);
  let stopped = false;
  try {
    await start();
  } catch (error) {
    const log = await readFile(join(dir, 'server.log'), 'utf8').catch(() => '');
    await rm(dir, { recursive: true, force: true });
    throw new Error(`PostgreSQL did not start: ${log}`, { cause: error });
  }
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const psql = (sql: string, database = 'postgres') =>
    asPostgres(join(POSTGRES_BIN, 'psql'), [
      '-h',
      '127.0.0.1',
      '-p',
      String(port),
      '-U',
      'postgres',
      '-d',
      database,
      '-X',
      '-A',
      '-t',
      '-v',
      'ON_ERROR_STOP=1',
      '-c',
      sql,
    ]);
  return {
    url,
    port,
    psql,
    async stop() {
      if (stopped) return;
      stopped = true;
      await pgCtl('stop', '-m', 'fast', '-w').catch(() => {
        // Already down (kill() without start()).
      });
      await rm(dir, { recursive: true, force: true });
    },
    async restart() {
      await pgCtl('stop', '-m', 'fast', '-w');
      await start();
    },
    async kill() {
      await pgCtl('stop', '-m', 'immediate', '-w');
    },
    start: async () => {
      await start();
    },
    async createDatabase(name: string) {
      await psql(`CREATE DATABASE "${name}"`);
      return `postgres://postgres@127.0.0.1:${port}/${name}`;
    },
  };
}
