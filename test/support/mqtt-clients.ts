/**
 * MQTT clients on the hub's own broker (`wss://HUB/mqtt`): a device's with its enrolled
 * credentials, an admin's from a kubeconfig, and what they subscribe to, receive and publish.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import mqtt, { connect, type IClientOptions, type MqttClient } from 'mqtt';
import WebSocket from 'ws';
import YAML from 'yaml';
import type { DeviceCredentials } from '../../src/agent/enrollment/index.ts';
import type { HubProcess } from './hub-process.ts';

/** The CA, certificate and key of a kubeconfig (the admin's is in system:masters). */
export async function kubeconfigCredentials(
  path: string,
): Promise<{ ca: string; cert: string; key: string }> {
  const config = YAML.parse(await readFile(path, 'utf8'));
  const decode = (data: string) => Buffer.from(data, 'base64').toString('utf8');
  return {
    ca: decode(config.clusters[0].cluster['certificate-authority-data']),
    cert: decode(config.users[0].user['client-certificate-data']),
    key: decode(config.users[0].user['client-key-data']),
  };
}

/** The hub's MQTT-over-WebSocket URL. */
export function mqttUrlOf(hub: Pick<HubProcess, 'url'>): string {
  return `${hub.url.replace(/^https:/, 'wss:')}/mqtt`;
}

/** Connects mqtt.js (MQTT 3.1.1) with `tls` credentials; resolves on CONNACK, rejects on a refusal or close. */
export function connectMqtt(url: string, options: IClientOptions = {}): Promise<MqttClient> {
  const client = connect(url, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 10_000, ...options });
  return new Promise((resolve, reject) => {
    const fail = (error: Error) => {
      client.end(true);
      reject(error);
    };
    client.once('connect', () => {
      client.off('error', fail);
      resolve(client);
    });
    client.once('error', fail);
    client.once('close', () => fail(new Error('connection closed before CONNACK')));
  });
}

/** A device's mqtt.js client on the hub. */
export function connectDevice(
  hub: Pick<HubProcess, 'url'>,
  credentials: DeviceCredentials,
  options: IClientOptions = {},
): Promise<MqttClient> {
  return connectMqtt(mqttUrlOf(hub), {
    ca: credentials.caPem,
    cert: credentials.certPem,
    key: credentials.keyPem,
    clientId: `${credentials.name}-test`,
    ...options,
  });
}

/** Messages a client received, in order. */
export interface Received {
  /** `retained`: a retained message delivered because of the subscription (not published since). */
  readonly messages: Array<{ topic: string; body: Record<string, unknown>; retained: boolean }>;
}

/** Subscribes (QoS 1) and collects what arrives; resolves with the granted QoS per filter (128 = refused). */
export async function collect(client: MqttClient, filter: string): Promise<Received & { granted: number[] }> {
  const messages: Received['messages'] = [];
  client.on('message', (topic, payload, packet) => {
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(payload.toString()) as Record<string, unknown>;
    } catch {
      body = { raw: payload.toString() };
    }
    messages.push({ topic, body, retained: packet.retain });
  });
  const granted = await client.subscribeAsync(filter, { qos: 1 });
  return { messages, granted: granted.map((grant) => grant.qos) };
}

/** Subscribes to `filters` in one SUBSCRIBE; returns the SUBACK's codes (128 = refused). */
export async function subscribeCodes(client: MqttClient, filters: string[]): Promise<number[]> {
  try {
    return (await client.subscribeAsync(filters, { qos: 1 })).map((grant) => grant.qos);
  } catch (error) {
    // mqtt.js rejects a SUBACK that refuses any filter; the packet still tells each code.
    const granted = (error as { packet?: { granted?: number[] } }).packet?.granted;
    if (!granted) throw error;
    return granted;
  }
}

/** The HTTP status the hub answers a WebSocket upgrade of `/mqtt` with these TLS credentials (101 when upgraded). */
export function upgradeStatus(
  hub: Pick<HubProcess, 'url'>,
  tls: { ca: string; cert?: string; key?: string },
): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(mqttUrlOf(hub), ['mqtt'], tls);
    ws.once('open', () => {
      ws.terminate();
      resolve(101);
    });
    ws.once('unexpected-response', (_request, response) => {
      resolve(response.statusCode ?? 0);
      ws.terminate();
    });
    ws.once('error', reject);
  });
}

/** A publish with QoS 1, resolved on PUBACK. */
export async function publish(
  client: MqttClient,
  topic: string,
  body: unknown,
  retain = false,
): Promise<void> {
  await client.publishAsync(topic, JSON.stringify(body), { qos: 1, retain });
}

/** Resolves once the client's connection is closed. */
export function closed(client: MqttClient): Promise<number> {
  return new Promise((resolve) => {
    if (client.disconnected || !client.connected) return resolve(Date.now());
    client.once('close', () => resolve(Date.now()));
  });
}

/** A message received on the hub's broker. */
export interface HubMessage {
  readonly topic: string;
  readonly body: {
    value?: unknown;
    seq?: number;
    sourceTimestamp?: string;
    connected?: boolean;
    error?: string;
  };
}

/**
 * An admin (system:masters) MQTT client on the hub's own broker
 * (`wss://HUB/mqtt`), recording every message on `filters` in arrival order.
 */
export async function observeHub(
  hub: Pick<HubProcess, 'url' | 'kubeconfig'>,
  filters: string[],
  messages: HubMessage[] = [],
): Promise<{ messages: HubMessage[]; close(): Promise<void> }> {
  const config = YAML.parse(readFileSync(hub.kubeconfig, 'utf8'));
  const decode = (data: string) => Buffer.from(data, 'base64').toString('utf8');
  const client = await mqtt.connectAsync(`${hub.url.replace(/^https/, 'wss')}/mqtt`, {
    protocolVersion: 4,
    clientId: `opcua-test-${randomBytes(4).toString('hex')}`,
    reconnectPeriod: 0,
    ca: decode(config.clusters[0].cluster['certificate-authority-data']),
    cert: decode(config.users[0].user['client-certificate-data']),
    key: decode(config.users[0].user['client-key-data']),
  });
  client.on('message', (topic, payload) => {
    messages.push({ topic, body: JSON.parse(payload.toString()) as HubMessage['body'] });
  });
  await client.subscribeAsync(filters, { qos: 1 });
  return { messages, close: () => client.endAsync(true) };
}
