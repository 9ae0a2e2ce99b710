/**
 * Runs tasks one at a time per key, in arrival order. Read-modify-write
 * operations (patches, deletes) on one object queue behind each other in this
 * process instead of all reading the same revision and all but one failing
 * with a conflict; other keys are not held up.
 */
export class KeyedQueue {
  readonly #tails = new Map<string, Promise<void>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    const result = previous.then(task);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.#tails.set(key, tail);
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return result;
  }
}
