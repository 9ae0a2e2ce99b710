/**
 * One queue per unit, for both runtimes: whatever changes a unit (apply,
 * remove, a restart, the retry of a parked unit) runs after every earlier
 * change of the same unit, never beside it; different units proceed in
 * parallel.
 */
export class UnitLocks {
  /** The tail of each unit's queue (never rejects); absent when the unit's queue is empty. */
  readonly #tails = new Map<string, Promise<unknown>>();

  /** Runs `task` after every earlier task of unit `id`; resolves or rejects with it. */
  async run<T>(id: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(id) ?? Promise.resolve();
    const run = previous.catch(() => {}).then(task);
    const tail = run.catch(() => {});
    this.#tails.set(id, tail);
    try {
      return await run;
    } finally {
      if (this.#tails.get(id) === tail) this.#tails.delete(id);
    }
  }

  /** Whether a task of unit `id` is queued or running (supervision leaves such a unit alone). */
  has(id: string): boolean {
    return this.#tails.has(id);
  }

  /** Resolves once every task queued so far has finished. */
  async settled(): Promise<void> {
    await Promise.allSettled(this.#tails.values());
  }
}
