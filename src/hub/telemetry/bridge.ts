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
 * One mqtt.js connection, which reconnects by itself (every second); on each
 * connection it subscribes first, then sends what devices sent while the
 * broker was away (held in memory, in order, up to a bound beyond which
 * telemetry, not status or acks, is dropped and counted), so that the hub's
 * own table sees those messages too.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Aedes } from 'aedes';
import { connect, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { embeddedBus, type MessageBus, type MessageHandler, toBuffer, topicMatches } from './bus.ts';
import { COMMAND_FILTER, UPWARD_FILTERS } from './topics.ts';

/** Messages held or copied to the external broker and not yet acknowledged, beyond which telemetry is dropped. */
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

/** The external broker is unreachable (a command cannot be sent now). */
export class BrokerUnavailableError extends Error {}

/** Connects to the external broker and starts copying both ways; resolves without waiting for the connection. */
export async function startBridge(options: BridgeOptions): Promise<Bridge> {
  const logger = options.logger?.child({ component: 'mqtt-bridge' });
  const client: MqttClient = connect(options.url, {
    protocolVersion: 4,
    clean: true,
    clientId: `outpost-hub-${hostname()}-${randomBytes(4).toString('hex')}`,
    reconnectPeriod: options.reconnectPeriodMs ?? 1000,
    connectTimeout: 5000,
    // Subscriptions are made again on every connection, below, before anything held is sent.
    resubscribe: false,
  });
  const filters: string[] = [];
  const handlers: Array<{ filter: string; handler: MessageHandler }> = [];
  /** What devices sent while the external broker was away, in order. */
  const held: Array<{ topic: string; payload: Buffer; retain: boolean }> = [];
  let unacknowledged = 0;
  let dropped = 0;
  let ready = false;
  let everConnected = false;
  let closing = false;

  const send = (topic: string, payload: Buffer, retain: boolean) => {
    unacknowledged++;
    client.publish(topic, payload, { qos: 1, retain }, () => {
      unacknowledged--;
    });
  };
  client.on('connect', () => {
    logger?.info({ url: options.url, again: everConnected }, 'connected to the external MQTT broker');
    everConnected = true;
    const flush = () => {
      ready = true;
      for (const message of held.splice(0)) send(message.topic, message.payload, message.retain);
    };
    if (filters.length === 0) return flush();
    // Subscribed (SUBACK) before the held messages go: the hub's own table must see them too.
    client.subscribe([...filters], { qos: 1 }, (error) => {
      if (error) logger?.warn({ err: error }, 'external MQTT broker refused a subscription');
      flush();
    });
  });
  client.on('close', () => {
    if (ready && !closing)
      logger?.warn({ url: options.url }, 'external MQTT broker unreachable; reconnecting');
    ready = false;
  });
  client.on('error', (err) => logger?.debug({ err }, 'external MQTT broker error'));
  client.on('message', (topic, payload) => {
    for (const { filter, handler } of handlers) if (topicMatches(filter, topic)) handler(topic, payload);
  });

  const bus: MessageBus = {
    publish(topic, payload, publishOptions) {
      // Fail at once rather than hold a command that will have timed out when it goes.
      if (!ready)
        return Promise.reject(new BrokerUnavailableError(`the MQTT broker ${options.url} is unreachable`));
      return new Promise((resolve, reject) => {
        client.publish(
          topic,
          payload,
          { qos: publishOptions.qos, retain: publishOptions.retain ?? false },
          (error) => (error ? reject(error) : resolve()),
        );
      });
    },
    async subscribe(filter, handler) {
      handlers.push({ filter, handler });
      filters.push(filter);
      if (ready) await client.subscribeAsync(filter, { qos: 1 });
    },
  };

  // Embedded -> external: what devices send up, handed to mqtt.js at once while connected (its
  // outgoing store keeps the order and the unacknowledged ones), held in order while not.
  for (const filter of UPWARD_FILTERS) {
    const telemetry = filter.includes('/telemetry/');
    await new Promise<void>((resolve) => {
      options.aedes.subscribe(
        filter,
        (packet, done) => {
          if (telemetry && held.length + unacknowledged >= MAX_UNACKNOWLEDGED) {
            if (dropped++ === 0) logger?.warn('external MQTT broker away too long: dropping telemetry');
            return done();
          }
          const payload = toBuffer(packet.payload);
          if (ready) send(packet.topic, payload, packet.retain);
          else held.push({ topic: packet.topic, payload, retain: packet.retain });
          done();
        },
        () => resolve(),
      );
    });
  }
  // External -> embedded: commands, whoever published them.
  const embedded = embeddedBus(options.aedes);
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
      closing = true;
      await new Promise<void>((resolve) => client.end(true, {}, () => resolve()));
    },
  };
}
