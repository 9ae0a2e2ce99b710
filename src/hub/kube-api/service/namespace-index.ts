/**
 * Which namespaces exist and accept new content, kept in memory from the
 * store's own watch, so that a namespaced create does not read and parse its
 * namespace every time. The store publishes a process's own writes before it
 * acknowledges them, so a namespace created or marked for deletion through
 * this process is known here before its writer hears of it. Only a positive
 * answer is taken from memory: a namespace the index does not know, or knows
 * as being terminated, is read from the store, which also covers another
 * replica's writes that this process's watch has not delivered yet.
 */
import type { KindDefinition, KubeObject } from '../../../api/index.ts';
import type { Store, WatchEvent } from '../../../store/index.ts';
import { collectionPrefix } from './object-meta.ts';

export class NamespaceIndex {
  readonly #store: Store;
  readonly #prefix: string;
  /** Namespaces by name: true when the namespace accepts new content (no deletionTimestamp). */
  readonly #open = new Map<string, boolean>();
  #started: Promise<void> | undefined;

  constructor(store: Store, namespaceKind: KindDefinition) {
    this.#store = store;
    this.#prefix = collectionPrefix(namespaceKind, undefined);
  }

  /** True when `namespace` is known (from the watch) to exist and not to be terminating. */
  async accepts(namespace: string): Promise<boolean> {
    this.#started ??= this.#start();
    await this.#started;
    return this.#open.get(namespace) === true;
  }

  /**
   * Lists the namespaces and follows them from the list's revision. When the watch ends (the
   * store closed it, or a compaction raced the list), the index forgets everything and starts
   * again on the next question, answering "unknown" meanwhile.
   */
  async #start(): Promise<void> {
    const controller = new AbortController();
    try {
      const listed = await this.#store.list({ prefix: this.#prefix });
      this.#open.clear();
      for (const item of listed.items) this.#note(item.key, item.value);
      const watch = await this.#store.watch(
        { prefix: this.#prefix, afterRevision: listed.revision, signal: controller.signal },
        (events) => this.#apply(events),
      );
      void watch.done.then(
        () => this.#reset(),
        () => this.#reset(),
      );
    } catch {
      // Unknown until the next start: every answer falls back to reading the store.
      this.#reset();
    }
  }

  #reset(): void {
    this.#open.clear();
    this.#started = undefined;
  }

  #apply(events: readonly WatchEvent[]): void {
    for (const event of events) {
      if (event.type === 'DELETED') this.#open.delete(this.#nameOf(event.key));
      else this.#note(event.key, event.value);
    }
  }

  #note(key: string, value: string): void {
    // A Namespace is small; its deletionTimestamp is the only field read.
    const terminating = Boolean((JSON.parse(value) as KubeObject).metadata?.deletionTimestamp);
    this.#open.set(this.#nameOf(key), !terminating);
  }

  #nameOf(key: string): string {
    return key.slice(this.#prefix.length);
  }
}
