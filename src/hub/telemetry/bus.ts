/**
 * The broker the hub itself reads devices' messages from and publishes
 * commands to: the embedded aedes, or with `--mqtt URL` the external broker
 * (which the embedded one is bridged to). The latest-value table and the
 * command dispatcher use only this narrow interface.
 */
import type { Aedes } from 'aedes';

/** Receives one message of a subscription. */
export type MessageHandler = (topic: string, payload: Buffer) => void;

/** Publish and subscribe on one broker, with QoS 0 or 1. */
export interface MessageBus {
  /** Resolves once the broker took the message (PUBACK from an external broker for QoS 1). */
  publish(topic: string, payload: Buffer | string, options: { qos: 0 | 1; retain?: boolean }): Promise<void>;
  /** Calls `handler` with every message matching `filter` from now on. */
  subscribe(filter: string, handler: MessageHandler): Promise<void>;
}

/** The embedded broker as a bus: publishes and subscriptions of the hub's process, no network. */
export function embeddedBus(aedes: Aedes): MessageBus {
  return {
    publish(topic, payload, options) {
      return new Promise((resolve, reject) => {
        aedes.publish(
          {
            cmd: 'publish',
            topic,
            payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
            qos: options.qos,
            retain: options.retain ?? false,
            dup: false,
          },
          (error) => (error ? reject(error) : resolve()),
        );
      });
    },
    subscribe(filter, handler) {
      return new Promise((resolve) => {
        aedes.subscribe(
          filter,
          (packet, done) => {
            try {
              handler(packet.topic, toBuffer(packet.payload));
            } finally {
              done();
            }
          },
          () => resolve(),
        );
      });
    },
  };
}

/** True when MQTT topic `topic` matches `filter` (`+` one level, `#` the rest, `$` topics only literally). */
export function topicMatches(filter: string, topic: string): boolean {
  if (topic.startsWith('$') && !filter.startsWith('$')) return false;
  const wanted = filter.split('/');
  const levels = topic.split('/');
  for (let i = 0; i < wanted.length; i++) {
    const level = wanted[i]!;
    if (level === '#') return true;
    if (i >= levels.length) return false;
    if (level !== '+' && level !== levels[i]) return false;
  }
  return wanted.length === levels.length;
}

export function toBuffer(payload: Buffer | Uint8Array | string): Buffer {
  if (Buffer.isBuffer(payload)) return payload;
  return typeof payload === 'string'
    ? Buffer.from(payload)
    : Buffer.from(payload.buffer, payload.byteOffset, payload.length);
}
