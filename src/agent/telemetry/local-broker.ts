import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import type { Aedes } from 'aedes';
import type { Logger } from 'pino';
import { readFileIfExists, writeFileAtomic } from '../../util/index.ts';
import { kindOfTopic } from './segment.ts';

/**
 * The agent's local MQTT endpoint: an aedes broker on 127.0.0.1 that the
 * device's workloads use (MQTT 3.1.1; aedes refuses MQTT 5). Its port is
 * chosen once and kept in `DATA_DIR/mqtt.json`, because workloads keep
 * running across agent restarts with the address in their environment; only
 * when that port is taken by someone else is a new one chosen (and logged:
 * workloads started before then must be restarted to follow).
 *
 * What a workload publishes under `telemetry/`, `status/` or `acks/` is
 * handed to `forward` before the workload gets its PUBACK (QoS 1), so a
 * message acknowledged locally is already in the outbox. Everything is also
 * delivered locally as by any broker. Local clients are trusted (they run
 * on the device); a connection from anything but the loopback address is
 * refused.
 *
 * aedes is loaded on the first connection, not at start: most devices run
 * no MQTT workload, and the broker's modules are a third of the agent's own
 * memory (agent-memory in docs/benchmarks.md). Until then the port is a
 * plain `net` listener, so the address is the same from the start; a
 * connection accepted while aedes loads waits (unread) for it.
 */

/** Options of {@link startLocalBroker}. */
export interface LocalBrokerOptions {
  readonly dataDir: string;
  /** Takes a message for the hub; the publishing client is acknowledged once it resolves. */
  readonly forward: (topic: string, payload: Buffer, retain: boolean) => Promise<void>;
  /** Larger messages are refused (the client is disconnected: MQTT 3.1.1 has no negative PUBACK). @default 262144 */
  readonly maxMessageBytes?: number;
  readonly log?: Pick<Logger, 'info' | 'warn' | 'debug'>;
  /**
   * Called when a local client subscribes to a filter that `commands/...`
   * topics match (the hub's commands have someone to go to).
   */
  readonly onCommandSubscriber?: () => void;
}

/** The running endpoint. */
export interface LocalBroker {
  readonly port: number;
  /** `mqtt://127.0.0.1:PORT`: what workloads get in `OUTPOST_MQTT_URL`. */
  readonly url: string;
  /** Publishes to local subscribers (QoS 1, not retained); resolves once delivered to them. */
  publish(topic: string, payload: Buffer): Promise<void>;
  close(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

/** Starts the endpoint on the port kept in `DATA_DIR/mqtt.json` (chosen now on the first start). */
export async function startLocalBroker(options: LocalBrokerOptions): Promise<LocalBroker> {
  const { log } = options;
  let broker: Promise<Aedes> | undefined;
  const server = createServer((socket) => {
    // Until aedes takes the socket, an error (the client gone) must not be unhandled.
    socket.on('error', () => {});
    broker ??= createBroker(options);
    broker.then(
      (aedes) => {
        if (!socket.destroyed) aedes.handle(socket);
      },
      (error: unknown) => {
        log?.warn({ err: (error as Error).message }, 'cannot start the local MQTT broker');
        socket.destroy();
        broker = undefined; // the next connection tries again
      },
    );
  });
  const port = await listenOnKeptPort(server, options.dataDir, log);
  return {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    async publish(topic, payload) {
      // No broker yet: no client ever connected, so no one subscribed.
      if (!broker) return;
      const aedes = await broker;
      await new Promise<void>((resolve, reject) =>
        aedes.publish({ cmd: 'publish', topic, payload, qos: 1, retain: false, dup: false }, (error) =>
          error ? reject(error) : resolve(),
        ),
      );
    },
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      const aedes = await broker?.catch(() => undefined);
      if (aedes) await new Promise<void>((resolve) => aedes.close(() => resolve()));
      await closed;
    },
  };
}

/** The aedes broker behind the endpoint, loaded and created on the first connection. */
async function createBroker(options: LocalBrokerOptions): Promise<Aedes> {
  const { log } = options;
  const maxBytes = options.maxMessageBytes ?? 256 * 1024;
  const [{ Aedes }, { writeToStream }] = await Promise.all([import('aedes'), import('mqtt-packet')]);
  // mqtt-packet (aedes' and mqtt.js' encoder, one copy) would build a process-wide cache of 65,536
  // two-byte Buffers (~6 MB) on its first write; the uplink's client turns it off too, but it may
  // connect after a local client was answered.
  writeToStream.cacheNumbers = false;
  const aedes = await Aedes.createBroker({
    preConnect(client, _packet, done) {
      const address = (client.conn as Socket).remoteAddress ?? '';
      if (LOOPBACK.has(address)) return done(null, true);
      log?.warn({ address }, 'local MQTT connection from outside the device refused');
      done(new Error('only local clients'), false);
    },
    authorizePublish(client, packet, done) {
      if (client === null || packet.topic.startsWith('$SYS')) return done(null);
      const kind = kindOfTopic(packet.topic);
      if (!kind) return done(null);
      const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
      if (payload.length > maxBytes) {
        log?.warn(
          { clientId: client.id, topic: packet.topic, bytes: payload.length, maxBytes },
          'local MQTT message too large for the hub: refused (client disconnected)',
        );
        return done(new Error(`message larger than ${maxBytes} bytes`));
      }
      options.forward(packet.topic, payload, packet.retain).then(
        () => done(null),
        (error: unknown) => {
          log?.warn(
            { err: (error as Error).message, topic: packet.topic },
            'cannot queue a message for the hub',
          );
          done(error as Error);
        },
      );
    },
  });
  aedes.on('clientError', (client, err) =>
    log?.debug({ err: err.message, clientId: client.id }, 'local MQTT client error'),
  );
  const { onCommandSubscriber } = options;
  if (onCommandSubscriber)
    aedes.on('subscribe', (subscriptions) => {
      if (subscriptions.some((subscription) => matchesCommands(subscription.topic))) onCommandSubscriber();
    });
  return aedes;
}

/** Whether some `commands/...` topic matches the MQTT topic filter `filter`. */
export function matchesCommands(filter: string): boolean {
  // A shared subscription `$share/GROUP/FILTER` filters with FILTER.
  const plain = filter.startsWith('$share/') ? filter.split('/').slice(2).join('/') : filter;
  const first = plain.split('/', 1)[0];
  return first === 'commands' || first === '+' || first === '#';
}

/** Listens on the port in `mqtt.json` when it is free, else on a new one that is then kept. */
async function listenOnKeptPort(
  server: Server,
  dataDir: string,
  log: LocalBrokerOptions['log'],
): Promise<number> {
  const path = join(dataDir, 'mqtt.json');
  const kept = parseKept(await readFileIfExists(path));
  if (kept !== undefined) {
    try {
      await listen(server, kept);
      return kept;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    }
  }
  await listen(server, 0);
  const port = (server.address() as { port: number }).port;
  await writeFileAtomic(path, `${JSON.stringify({ port })}\n`, 0o644);
  if (kept !== undefined)
    log?.warn(
      { kept, port },
      'the local MQTT port was taken by another program: a new one is used; workloads started before must be restarted to reach it',
    );
  return port;
}

function parseKept(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  try {
    const { port } = JSON.parse(text) as { port?: unknown };
    return Number.isInteger(port) && (port as number) > 0 && (port as number) < 65536
      ? (port as number)
      : undefined;
  } catch {
    return undefined;
  }
}

async function listen(server: Server, port: number): Promise<void> {
  server.listen({ host: '127.0.0.1', port, exclusive: true });
  try {
    await once(server, 'listening');
  } catch (error) {
    server.removeAllListeners('listening');
    throw error;
  }
}
