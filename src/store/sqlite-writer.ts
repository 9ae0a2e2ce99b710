/**
 * Where the SQLite store's writes run: on the process's writer thread with a connection of their
 * own (a database file), or on the store's own connection (an in-memory database, which no other
 * connection can open). Either way one job at a time per store, answered in the order sent.
 */
import { extname } from 'node:path';
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import { type WriterJob, type WriterResult, writerFor } from './sqlite-commit.ts';
import type { ThreadReply, ThreadRequest } from './sqlite-writer-thread.ts';

export type WriterCallback = (result: WriterResult) => void;

export interface SqliteWriter {
  /** True when jobs commit on another connection (the store must pin its reads to what it acknowledged). */
  readonly threaded: boolean;
  /** Runs `job`; `done` is called once it has committed or failed (at once for the inline writer). */
  send(job: WriterJob, done: WriterCallback): void;
  close(): Promise<void>;
}

/** Runs jobs on the store's own connection, synchronously. */
export function inlineWriter(db: Database.Database): SqliteWriter {
  const run = writerFor(db);
  return {
    threaded: false,
    send: (job, done) => done(run(job)),
    close: async () => {},
  };
}

// The thread's module is a sibling of this one: `.js` in the build, `.ts` when run through tsx,
// whose loader a worker thread does not inherit on Node 20, so there the thread registers it first.
const EXTENSION = extname(new URL(import.meta.url).pathname);
const THREAD_URL = new URL(`./sqlite-writer-thread${EXTENSION}`, import.meta.url);

/** The process's writer thread, started with the first store on a file and kept while it lives. */
class WriterThread {
  readonly #worker: Worker;
  /** Per connection, the callbacks of its requests in the order sent. */
  readonly #waiting = new Map<number, WriterCallback[]>();
  #outstanding = 0;
  #failure: string | undefined;
  #nextId = 1;

  constructor(onExit: () => void) {
    this.#worker =
      EXTENSION === '.ts'
        ? new Worker(
            `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((tsx) => { tsx.register(); return import(${JSON.stringify(THREAD_URL.href)}); });`,
            { eval: true },
          )
        : new Worker(THREAD_URL);
    this.#worker.on('message', (reply: ThreadReply) => {
      const done = this.#waiting.get(reply.id)?.shift();
      this.#settled();
      done?.(reply.result);
    });
    this.#worker.on('error', (error) => this.#fail(`the SQLite writer thread failed: ${error.message}`));
    this.#worker.on('exit', (code) => {
      this.#fail(`the SQLite writer thread exited (code ${code})`);
      onExit();
    });
    // An idle thread must not keep the process alive; one with work outstanding is waited for.
    this.#worker.unref();
  }

  newConnection(): number {
    const id = this.#nextId++;
    this.#waiting.set(id, []);
    return id;
  }

  request(request: ThreadRequest, done: WriterCallback): void {
    const waiting = this.#waiting.get(request.id);
    if (this.#failure !== undefined || !waiting) {
      done({ ok: false, message: this.#failure ?? 'the writer connection is closed', seconds: 0 });
      return;
    }
    if (this.#outstanding++ === 0) this.#worker.ref();
    waiting.push(done);
    this.#worker.postMessage(request);
  }

  forget(id: number): void {
    this.#waiting.delete(id);
  }

  #settled(): void {
    if (--this.#outstanding === 0) this.#worker.unref();
  }

  #fail(message: string): void {
    this.#failure ??= message;
    for (const waiting of this.#waiting.values()) {
      for (const done of waiting.splice(0)) {
        this.#settled();
        done({ ok: false, message, seconds: 0 });
      }
    }
  }
}

let thread: WriterThread | undefined;

/** Runs jobs on the process's writer thread, on a connection of their own to `path`. */
export function threadWriter(path: string, synchronous: 'FULL' | 'NORMAL'): SqliteWriter {
  const current =
    thread ??
    new WriterThread(() => {
      if (thread === current) thread = undefined;
    });
  thread = current;
  const id = current.newConnection();
  let openFailure: string | undefined;
  current.request({ id, open: { path, synchronous } }, (result) => {
    if (!result.ok) openFailure = result.message;
  });
  return {
    threaded: true,
    send(job, done) {
      if (openFailure !== undefined) done({ ok: false, message: openFailure, seconds: 0 });
      else current.request({ id, job }, done);
    },
    close: () =>
      new Promise<void>((resolve) =>
        current.request({ id, close: true }, () => {
          current.forget(id);
          resolve();
        }),
      ),
  };
}
