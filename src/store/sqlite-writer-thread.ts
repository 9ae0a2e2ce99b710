/**
 * The SQLite stores' writer thread, one per process: a connection of its own to each store's
 * database file, running the jobs each store posts (in order) and answering each once it has
 * committed, so that transactions and their fsyncs never block the hub's event loop. One thread
 * serves every store of the process because starting one costs far more than a store's open.
 */
import { parentPort } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { type WriterJob, type WriterResult, writerFor } from './sqlite-commit.ts';

/** What a store posts: its connection's id and what to do with it. */
export type ThreadRequest =
  | { readonly id: number; readonly open: { readonly path: string; readonly synchronous: 'FULL' | 'NORMAL' } }
  | { readonly id: number; readonly job: WriterJob }
  | { readonly id: number; readonly close: true };

/** Every request is answered, in the order of its connection's requests. */
export interface ThreadReply {
  readonly id: number;
  readonly result: WriterResult;
}

const port = parentPort;
if (!port) throw new Error('sqlite-writer-thread.ts runs only as a worker thread');
const connections = new Map<number, { db: Database.Database; run: (job: WriterJob) => WriterResult }>();

function handle(request: ThreadRequest): WriterResult {
  const started = performance.now();
  try {
    if ('open' in request) {
      const db = new Database(request.open.path);
      db.pragma(`synchronous = ${request.open.synchronous}`);
      db.pragma('busy_timeout = 5000');
      connections.set(request.id, { db, run: writerFor(db) });
    } else if ('close' in request) {
      connections.get(request.id)?.db.close();
      connections.delete(request.id);
    } else {
      const connection = connections.get(request.id);
      if (!connection) throw new Error('the store has no open writer connection');
      return connection.run(request.job);
    }
    return { ok: true, seconds: (performance.now() - started) / 1000 };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { ok: false, message, seconds: (performance.now() - started) / 1000 };
  }
}

port.on('message', (request: ThreadRequest) => {
  const reply: ThreadReply = { id: request.id, result: handle(request) };
  port.postMessage(reply);
});
