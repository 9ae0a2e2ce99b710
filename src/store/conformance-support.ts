import assert from 'node:assert/strict';
import type { Render, Store, StoredObject, WatchEvent, WatchEventType, WatchSink } from './store.ts';

/** A fresh, empty store to run one test against, as an engine's test file provides it. */
export interface OpenedStore {
  readonly store: Store;
  /** Closes the store and opens it again on the same data; absent when the engine cannot. */
  readonly reopen?: () => Promise<Store>;
  /** Closes whatever is open and removes the data. */
  readonly cleanup: () => Promise<void>;
}

/** Opens a fresh, empty store for one test (see `describeStoreConformance`). */
export type OpenStore = () => Promise<OpenedStore>;

/** How long a test waits for an event before failing with a message (a deadline, never a sleep). */
const EVENT_DEADLINE_MS = 5_000;

/** Runs `body` against a fresh store and always cleans up, also when it fails. */
export async function withStore(
  open: OpenStore,
  body: (opened: OpenedStore) => Promise<void>,
): Promise<void> {
  const opened = await open();
  try {
    await body(opened);
  } finally {
    await opened.cleanup();
  }
}

/** The JSON the tests store: the revision the writer was given, and a payload. */
export interface Doc {
  readonly revision: number;
  readonly data: string;
}

/** Renders `data` with the revision the write gets, as the hub renders resourceVersion. */
export function doc(data: string): Render {
  return (revision) => JSON.stringify({ revision, data } satisfies Doc);
}

/** Reads back what {@link doc} rendered. */
export function parseDoc(value: string): Doc {
  return JSON.parse(value) as Doc;
}

/** The payloads of stored objects, keyed, for compact assertions. */
export function dataOf(items: readonly StoredObject[]): Record<string, string> {
  return Object.fromEntries(items.map((item) => [item.key, parseDoc(item.value).data]));
}

/** Asserts a stored object is the rendering of `data` at its own revision. */
export function assertDoc(object: StoredObject | undefined, key: string, data: string): StoredObject {
  assert.ok(object, `expected ${key} to exist`);
  assert.equal(object.key, key);
  assert.deepEqual(parseDoc(object.value), { revision: object.revision, data });
  return object;
}

/** Collects what a watch delivers and lets a test wait for it. */
export class Recorder {
  readonly events: WatchEvent[] = [];
  readonly #waiters = new Set<() => void>();

  readonly sink: WatchSink = (batch) => {
    this.events.push(...batch);
    for (const wake of this.#waiters) wake();
  };

  /** Resolves once `predicate` holds for the events so far; fails after a deadline. */
  async until(predicate: (events: readonly WatchEvent[]) => boolean, what: string): Promise<void> {
    if (predicate(this.events)) return;
    await new Promise<void>((resolve, reject) => {
      const wake = () => {
        if (!predicate(this.events)) return;
        this.#waiters.delete(wake);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(wake);
        reject(new Error(`timed out waiting for ${what}; got ${JSON.stringify(summary(this.events))}`));
      }, EVENT_DEADLINE_MS);
      this.#waiters.add(wake);
    });
  }

  /** Resolves once an event at or beyond `revision` has arrived. */
  untilRevision(revision: number): Promise<void> {
    return this.until((events) => events.some((event) => event.revision >= revision), `revision ${revision}`);
  }
}

/** A running watch with its recorder. */
export interface RecordedWatch {
  readonly recorder: Recorder;
  readonly controller: AbortController;
  readonly done: Promise<void>;
}

/** Starts a watch that records into a fresh {@link Recorder}. */
export async function record(store: Store, prefix: string, afterRevision: number): Promise<RecordedWatch> {
  const recorder = new Recorder();
  const controller = new AbortController();
  const watch = await store.watch({ prefix, afterRevision, signal: controller.signal }, recorder.sink);
  return { recorder, controller, done: watch.done };
}

/** Events reduced to what assertions compare: type, key, revision, payloads. */
export function summary(events: readonly WatchEvent[]): Array<[string, string, number, string, string?]> {
  return events.map((event) => {
    const row: [string, string, number, string, string?] = [
      event.type,
      event.key,
      event.revision,
      parseDoc(event.value).data,
    ];
    if (event.prevValue !== undefined) row.push(parseDoc(event.prevValue).data);
    return row;
  });
}

/** Whether `key` is in a watch's scope: every key, a `/`-ending prefix, or the exact key. */
export function watchScope(prefix: string, key: string): boolean {
  return prefix === '' || prefix.endsWith('/') ? key.startsWith(prefix) : key === prefix;
}

/** Asserts strictly increasing revisions (each event once, in order). */
export function assertIncreasing(revisions: readonly number[], what: string): void {
  for (let index = 1; index < revisions.length; index++) {
    assert.ok(
      revisions[index]! > revisions[index - 1]!,
      `${what}: ${revisions[index - 1]} then ${revisions[index]}`,
    );
  }
}

/** Reads every page of a list at one revision; asserts each page keeps that revision. */
export async function listAll(
  store: Store,
  prefix: string,
  options: { limit?: number; revision?: number } = {},
): Promise<{ items: StoredObject[]; revision: number; pages: number }> {
  const items: StoredObject[] = [];
  let revision = options.revision;
  let afterKey: string | undefined;
  let pages = 0;
  for (;;) {
    const page = await store.list({ prefix, limit: options.limit, afterKey, revision });
    pages++;
    if (pages > 1) assert.equal(page.revision, revision, 'every page is read at the first page revision');
    revision = page.revision;
    items.push(...page.items);
    if (page.continueAfter === undefined) return { items, revision, pages };
    afterKey = page.continueAfter;
  }
}

/**
 * Writes through the store and records the watch events those writes must
 * produce, so a test can compare what a watcher got with what it should get.
 * Concurrent writes must touch different keys (each write expects the key's
 * revision as the journal last saw it).
 */
export class Journal {
  readonly #store: Store;
  readonly #events: WatchEvent[] = [];
  readonly #current = new Map<string, StoredObject>();

  constructor(store: Store) {
    this.#store = store;
  }

  current(key: string): StoredObject | undefined {
    return this.#current.get(key);
  }

  async create(key: string, data: string): Promise<StoredObject> {
    const object = await this.#store.create(key, doc(data));
    this.#record('ADDED', object, undefined);
    return object;
  }

  async update(key: string, data: string): Promise<StoredObject> {
    const before = this.#expect(key);
    const object = await this.#store.update(key, before.revision, doc(data));
    this.#record('MODIFIED', object, before);
    return object;
  }

  /** Deletes `key`; the tombstone is its last payload rendered at the delete revision. */
  async delete(key: string): Promise<StoredObject> {
    const before = this.#expect(key);
    const object = await this.#store.delete(key, before.revision, doc(parseDoc(before.value).data));
    this.#record('DELETED', object, before);
    return object;
  }

  /** Creates `key` when absent, else updates it. */
  write(key: string, data: string): Promise<StoredObject> {
    return this.#current.has(key) ? this.update(key, data) : this.create(key, data);
  }

  /** The events a watch of `prefix` from `afterRevision` must deliver, in order. */
  after(prefix: string, afterRevision: number): WatchEvent[] {
    return this.#events
      .filter((event) => event.revision > afterRevision && watchScope(prefix, event.key))
      .sort((a, b) => a.revision - b.revision);
  }

  #expect(key: string): StoredObject {
    const object = this.#current.get(key);
    if (!object) throw new Error(`journal: ${key} does not exist`);
    return object;
  }

  #record(type: WatchEventType, object: StoredObject, before: StoredObject | undefined): void {
    const event: WatchEvent = { type, key: object.key, revision: object.revision, value: object.value };
    this.#events.push(before ? { ...event, prevValue: before.value } : event);
    if (type === 'DELETED') this.#current.delete(object.key);
    else this.#current.set(object.key, object);
  }
}
