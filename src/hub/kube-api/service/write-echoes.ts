import type { KubeObject } from '../../../api/index.ts';

/**
 * The objects of this process's writes that asked for it (`WriteOptions.echo`),
 * by the text they were stored as, while each write is being committed: the
 * store hands a write's watch event to in-process watchers before the write
 * returns, and an informer that finds the event's text here takes the object
 * instead of parsing the text (the echo of a controller's own write, e.g. the
 * Mailbox controller's 10,000 writes of a fan-out, is then neither parsed nor
 * allocated again). The text was rendered from exactly that object with its
 * assigned resourceVersion, so the object is that text parsed. Entries live
 * only for the write's duration: at most one per write in flight.
 */
export class WriteEchoes {
  readonly #objects = new Map<string, KubeObject>();

  /**
   * Runs a store write whose render callback passes each text it renders through `remember`,
   * which makes that text stand for `object` until the write settles.
   */
  async during<T>(object: KubeObject, write: (remember: (text: string) => string) => Promise<T>): Promise<T> {
    const texts: string[] = [];
    try {
      return await write((text) => {
        texts.push(text);
        this.#objects.set(text, object);
        return text;
      });
    } finally {
      for (const text of texts) this.#objects.delete(text);
    }
  }

  /** The object a write in flight stored as exactly `text`, if any. */
  objectOf(text: string): KubeObject | undefined {
    return this.#objects.get(text);
  }

  /** Writes in flight that asked for an echo (for tests: nothing is kept once they settle). */
  get size(): number {
    return this.#objects.size;
  }
}
