/**
 * Which Devices exist, kept in memory from a store watch, and which open
 * connections each device holds, so that deleting a Device revokes its
 * certificates at once: requests are checked against the index (a map
 * lookup), and the connections of a device that disappears are destroyed.
 *
 * Every hub replica runs its own index over the shared store, so revocation
 * reaches every replica as fast as its watch delivers the deletion.
 */
import type { Logger } from 'pino';
import type { Store, StoredObject, WatchEvent } from '../../store/index.ts';

/** Where Devices live in the store (`/<group>/<plural>/<name>`). */
const DEVICE_PREFIX = '/outpost.dev/devices/';
/** Pause before re-listing after a watch ended with an error (store hiccup, slow watcher). */
const RESYNC_DELAY_MS = 200;

/**
 * A client connection: a TLS socket (HTTP/1.1, MQTT) or an HTTP/2 session, whose destruction
 * ends every request on it.
 */
export interface Connection {
  once(event: 'close', listener: () => void): unknown;
  destroy(): void;
}

interface Entry {
  readonly uid: string;
  /** The Device has a deletionTimestamp: its certificates are refused already. */
  readonly deleting: boolean;
}

/** Options of {@link DeviceIndex.start}. */
export interface DeviceIndexStartOptions {
  /** Stops the watch. */
  readonly signal: AbortSignal;
  readonly logger?: Logger;
}

/**
 * The index of Devices by name, and the connections authenticated as each.
 * Call {@link start} (and await it) before serving requests.
 */
export class DeviceIndex {
  readonly #devices = new Map<string, Entry>();
  readonly #connections = new Map<string, Set<Connection>>();
  #revokedCount = 0;

  /** True when a Device of this name exists with this uid and is not being deleted. */
  accepts(name: string, uid: string): boolean {
    const entry = this.#devices.get(name);
    return entry !== undefined && entry.uid === uid && !entry.deleting;
  }

  /** How many Devices the index holds. */
  get size(): number {
    return this.#devices.size;
  }

  /** Connections destroyed by revocations so far (for tests and metrics). */
  get revokedConnections(): number {
    return this.#revokedCount;
  }

  /**
   * Remembers that `socket` is authenticated as device `name`, so that the
   * Device's deletion destroys it. The connection leaves the set when it closes.
   */
  track(name: string, socket: Connection): void {
    let sockets = this.#connections.get(name);
    if (!sockets) {
      sockets = new Set();
      this.#connections.set(name, sockets);
    }
    if (sockets.has(socket)) return;
    sockets.add(socket);
    socket.once('close', () => {
      const current = this.#connections.get(name);
      current?.delete(socket);
      if (current?.size === 0) this.#connections.delete(name);
    });
  }

  /**
   * Lists the Devices, then follows the store's watch until `signal` aborts;
   * resolves once the first list is in (the index is usable from then on).
   * A watch that fails (compaction, a slow watcher) is replaced by a new list
   * and watch, revoking whatever disappeared in between.
   */
  async start(store: Store, options: DeviceIndexStartOptions): Promise<void> {
    const revision = await this.#relist(store);
    void this.#follow(store, revision, options);
  }

  /** Applies a Device's current object (from a list or a watch event); exposed for tests. */
  apply(name: string, object: { uid?: string; deleting: boolean } | undefined): void {
    const before = this.#devices.get(name);
    if (!object?.uid) this.#devices.delete(name);
    else this.#devices.set(name, { uid: object.uid, deleting: object.deleting });
    const after = this.#devices.get(name);
    // Revoke when the incarnation the connections authenticated against is gone or going.
    if (before && !before.deleting && (!after || after.deleting || after.uid !== before.uid)) {
      this.#revoke(name);
    }
  }

  #revoke(name: string): void {
    const sockets = this.#connections.get(name);
    if (!sockets) return;
    this.#connections.delete(name);
    for (const socket of sockets) {
      this.#revokedCount++;
      socket.destroy();
    }
  }

  async #relist(store: Store): Promise<number> {
    const { items, revision } = await store.list({ prefix: DEVICE_PREFIX });
    const seen = new Set<string>();
    for (const item of items) {
      const name = item.key.slice(DEVICE_PREFIX.length);
      seen.add(name);
      this.apply(name, meta(item));
    }
    for (const name of [...this.#devices.keys()]) if (!seen.has(name)) this.apply(name, undefined);
    return revision;
  }

  async #follow(store: Store, from: number, options: DeviceIndexStartOptions): Promise<void> {
    let revision = from;
    while (!options.signal.aborted) {
      try {
        const watch = await store.watch(
          { prefix: DEVICE_PREFIX, afterRevision: revision, signal: options.signal },
          (events) => {
            for (const event of events) {
              revision = event.revision;
              this.#onEvent(event);
            }
          },
        );
        await watch.done;
      } catch (err) {
        if (options.signal.aborted) return;
        options.logger?.warn({ err }, 'device index watch ended; listing again');
      }
      if (options.signal.aborted) return;
      await delay(RESYNC_DELAY_MS);
      try {
        revision = await this.#relist(store);
      } catch (err) {
        if (options.signal.aborted) return;
        options.logger?.warn({ err }, 'device index list failed; retrying');
      }
    }
  }

  #onEvent(event: WatchEvent): void {
    const name = event.key.slice(DEVICE_PREFIX.length);
    if (event.type === 'DELETED') {
      this.apply(name, undefined);
      return;
    }
    // Most events are heartbeats, which change neither the uid nor the deletion: a look at the
    // text spares parsing the whole Device (a recreated Device comes after its DELETED event).
    const known = this.#devices.get(name);
    if (
      known &&
      !known.deleting &&
      !event.value.includes('"deletionTimestamp"') &&
      event.value.includes(`"uid":"${known.uid}"`)
    )
      return;
    this.apply(name, meta(event));
  }
}

function meta(item: StoredObject | WatchEvent): { uid?: string; deleting: boolean } {
  const object = JSON.parse(item.value) as { metadata?: { uid?: string; deletionTimestamp?: string } };
  return { uid: object.metadata?.uid, deleting: object.metadata?.deletionTimestamp !== undefined };
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
