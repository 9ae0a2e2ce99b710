/**
 * `outpost hub --mqtt URL`: the embedded broker bridged to an external one
 * (a Mosquitto, say). Everything devices send up
 * (`devices/+/{telemetry,status,acks}/#`) is copied from the embedded broker
 * to the external one, and commands (`devices/+/commands/#`) from the
 * external broker to the embedded one. The hub's latest-value table and its
 * command acks then follow the external broker, so values published there by
 * others (another hub replica's devices, another system) count too, and a
 * command published through any replica reaches the device wherever it is
 * connected.
 *
 * One mqtt.js connection, which reconnects by itself (every second) and
 * subscribes again when the external broker comes back. What devices send
 * while it is away is queued in memory up to a bound, then telemetry (not
 * status or acks) is dropped and counted.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Aedes } from 'aedes';
import { connect, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { embeddedBus, type MessageBus, type MessageHandler, toBuffer, topicMatches } from './bus.ts';
import { COMMAND_FILTER, UPWARD_FILTERS } from './topics.ts';

/** Messages copied to the external broker and not yet acknowledged, beyond which telemetry is dropped. */
const MAX_UNACKNOWLEDGED = 100_000;

/** Options of {@link startBridge}. */
export interface BridgeOptions {
  /** The embedded broker. */
  readonly aedes: Aedes;
  /** The external broker: `mqtt://HOST:PORT` (or `mqtts://`, `ws://`, `wss://`). */
  readonly url: string;
  readonly logger?: Logger;
  /** Milliseconds between reconnection attempts. @default 1000 */
  readonly reconnectPeriodMs?: number;
}

/** A running bridge. */
export interface Bridge {
  /** The external broker, for the latest-value table and commands. */
  readonly bus: MessageBus;
  /** Telemetry messages dropped because the external broker was away too long. */
  readonly dropped: number;
  close(): Promise<void>;
}

/** Connects to the external broker and starts copying both ways; resolves without waiting for the connection. */
export async function startBridge(options: BridgeOptions): Promise<Bridge> {
  const logger = options.logger?.child({ component: 'mqtt-bridge' });
  const client: MqttClient = connect(options.url, {
    protocolVersion: 4,
    clean: true,
    clientId: `outpost-hub-${hostname()}-${randomBytes(4).toString('hex')}`,
    reconnectPeriod: options.reconnectPeriodMs ?? 1000,
    connectTimeout: 5000,
    resubscribe: true,
  });
  let connectedOnce = false;
  let offline = false;
  client.on('connect', () => {
    if (offline || !connectedOnce)
      logger?.info({ url: options.url }, 'connected to the external MQTT broker');
    connectedOnce = true;
    offline = false;
  });
  client.on('offline', () => {
    if (!offline) logger?.warn({ url: options.url }, 'external MQTT broker unreachable; reconnecting');
    offline = true;
  });
  client.on('error', (err) => logger?.debug({ err }, 'external MQTT broker error'));

  const handlers: Array<{ filter: string; handler: MessageHandler }> = [];
  client.on('message', (topic, payload) => {
    for (const { filter, handler } of handlers) if (topicMatches(filter, topic)) handler(topic, payload);
  });
  const bus: MessageBus = {
    publish(topic, payload, publishOptions) {
      return new Promise((resolve, reject) => {
        client.publish(
          topic,
          payload,
          { qos: publishOptions.qos, retain: publishOptions.retain ?? false },
          (error) => (error ? reject(error) : resolve()),
        );
      });
    },
    subscribe(filter, handler) {
      handlers.push({ filter, handler });
      return new Promise((resolve, reject) => {
        // Before the first connection mqtt.js queues the SUBSCRIBE; resolve then rather than wait.
        if (!client.connected) {
          client.subscribe(filter, { qos: 1 });
          return resolve();
        }
        client.subscribe(filter, { qos: 1 }, (error) => (error ? reject(error) : resolve()));
      });
    },
  };

  // Embedded -> external: what devices send up. Each message is handed to mqtt.js at once (its
  // outgoing store keeps the order and the unacknowledged ones); the count bounds that store.
  let unacknowledged = 0;
  let dropped = 0;
  const embedded = embeddedBus(options.aedes);
  for (const filter of UPWARD_FILTERS) {
    const telemetry = filter.includes('/telemetry/');
    await new Promise<void>((resolve) => {
      options.aedes.subscribe(
        filter,
        (packet, done) => {
          if (telemetry && unacknowledged >= MAX_UNACKNOWLEDGED) {
            if (dropped++ === 0) logger?.warn('external MQTT broker away too long: dropping telemetry');
            return done();
          }
          unacknowledged++;
          client.publish(packet.topic, toBuffer(packet.payload), { qos: 1, retain: packet.retain }, () => {
            unacknowledged--;
          });
          done();
        },
        () => resolve(),
      );
    });
  }
  // External -> embedded: commands, whoever published them.
  await bus.subscribe(COMMAND_FILTER, (topic, payload) => {
    embedded
      .publish(topic, payload, { qos: 1 })
      .catch((err) => logger?.warn({ err, topic }, 'command not delivered'));
  });

  return {
    bus,
    get dropped() {
      return dropped;
    },
    async close() {
      await new Promise<void>((resolve) => client.end(true, {}, () => resolve()));
    },
  };
}
