/**
 * Which Devices exist, kept in memory by an informer, and which open
 * connections each device holds, so that deleting a Device revokes its
 * certificates at once: requests are checked against the index (a map
 * lookup), and the connections of a device that disappears are destroyed.
 *
 * Every hub replica runs its own index over the shared store, so revocation
 * reaches every replica as fast as its watch delivers the deletion.
 */
import type { Logger } from 'pino';
import type { KubeObject } from '../../api/index.ts';
import { type Client, Informer } from '../../controller/index.ts';

/**
 * A client connection: a TLS socket (HTTP/1.1, MQTT) or an HTTP/2 session, whose destruction
 * ends every request on it.
 */
export interface Connection {
  once(event: 'close', listener: () => void): unknown;
  destroy(): void;
}

/** Options of {@link DeviceIndex.start}. */
export interface DeviceIndexStartOptions {
  /** Stops the informer. */
  readonly signal: AbortSignal;
  readonly logger?: Logger;
}

/**
 * The index of Devices by name, and the connections authenticated as each.
 * Call {@link start} (and await it) before serving requests.
 */
export class DeviceIndex {
  #devices: Informer | undefined;
  readonly #connections = new Map<string, Set<Connection>>();
  #revokedCount = 0;

  /** True when a Device of this name exists with this uid and is not being deleted. */
  accepts(name: string, uid: string): boolean {
    const device = this.#devices?.get(undefined, name);
    return device !== undefined && device.metadata.uid === uid && !device.metadata.deletionTimestamp;
  }

  /** How many Devices the index holds. */
  get size(): number {
    return this.#devices?.size ?? 0;
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
   * Starts an informer over the Devices, which lists them and follows them
   * until `signal` aborts (listing again after a 410 or a dropped watch, which
   * revokes whatever disappeared in between); resolves once the first list is
   * in (the index is usable from then on), or when `signal` aborts first.
   *
   * The informer keeps of each Device only its name, uid and deletion, and
   * skips without parsing the writes that change neither (heartbeats and
   * status reports, nearly every Device event): at 10,000 devices the index is
   * on the heartbeat path.
   */
  async start(client: Client, options: DeviceIndexStartOptions): Promise<void> {
    const kind = client.registry.byKind('outpost.dev/v1alpha1', 'Device');
    if (!kind) throw new Error('the client must serve outpost.dev/v1alpha1 Device');
    const devices = new Informer({
      client,
      kind,
      logger: options.logger?.child({ component: 'device-index' }),
      transform: identityOf,
      unchanged: sameIdentity,
    });
    // Revoke when the incarnation the connections authenticated against is gone or going.
    devices.addEventHandler({
      onUpdate: (old, device) => {
        if (
          !old.metadata.deletionTimestamp &&
          (device.metadata.deletionTimestamp || device.metadata.uid !== old.metadata.uid)
        )
          this.#revoke(device.metadata.name!);
      },
      // The last state: revoked already when it was being deleted.
      onDelete: (device) => {
        if (!device.metadata.deletionTimestamp) this.#revoke(device.metadata.name!);
      },
    });
    this.#devices = devices;
    devices.start(options.signal).catch((err: unknown) => {
      options.logger?.error({ err }, 'device index stopped');
    });
    await devices.waitForSync(options.signal);
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
}

/** What the index keeps of a Device: its name, uid and deletion. */
function identityOf(device: KubeObject): KubeObject {
  const { name, uid, resourceVersion, deletionTimestamp } = device.metadata;
  return {
    apiVersion: device.apiVersion,
    kind: device.kind,
    metadata: deletionTimestamp
      ? { name, uid, resourceVersion, deletionTimestamp }
      : { name, uid, resourceVersion },
  };
}

/**
 * Whether a Device's new text keeps the cached uid and no deletion: a look at the text spares
 * parsing the whole Device (a recreated Device comes after its DELETED event).
 */
function sameIdentity(text: string, cached: KubeObject): boolean {
  return (
    !cached.metadata.deletionTimestamp &&
    !text.includes('"deletionTimestamp"') &&
    text.includes(`"uid":"${cached.metadata.uid}"`)
  );
}
