/**
 * How many watches one client may hold open at once. A device needs a handful (its Mailbox);
 * one that opened five hundred on its own Mailbox held 350 MB of the hub's memory in their
 * buffers. Beyond its share a watch is a 429 that says when to try again.
 */
import { errors } from '../errors.ts';

/** Counts open watches per client and refuses those beyond `max`. */
export class WatchLimiter {
  readonly #open = new Map<string, number>();

  constructor(readonly max: number) {}

  /**
   * Takes one of `client`'s places; the returned function gives it back (once, however often it
   * is called). @throws ApiError 429 (retry after 1 s) when `client` holds `max` already
   */
  acquire(client: string): () => void {
    const open = this.#open.get(client) ?? 0;
    if (open >= this.max)
      throw errors.tooManyRequests(
        `too many watches open for ${client}: at most ${this.max} at once; close one or retry later`,
        1,
      );
    this.#open.set(client, open + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.#open.get(client) ?? 1) - 1;
      if (left === 0) this.#open.delete(client);
      else this.#open.set(client, left);
    };
  }

  /** Watches `client` holds open now. */
  openFor(client: string): number {
    return this.#open.get(client) ?? 0;
  }
}
