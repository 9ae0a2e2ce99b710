/** Helpers for the OPC UA connector's end-to-end tests: simulator, broker, connector and an MQTT observer. */
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { Aedes } from 'aedes';
import mqtt, { type MqttClient } from 'mqtt';
import { stringify } from 'yaml';
import type { ConnectorConfig } from '../../src/connectors/opcua/index.ts';
import { type StartedProcess, startProcess, waitFor } from '../support/index.ts';

/** The compiled CLI when the test runner built it, else the sources through tsx. */
export function outpostArgs(...args: string[]): string[] {
  const bin = process.env.OUTPOST_TEST_BIN;
  return bin
    ? [bin, ...args]
    : ['--import', 'tsx', join(import.meta.dirname, '../../src/cli/main.ts'), ...args];
}

/** Starts `outpost plc-sim`; resolves with its endpoint URL once it listens. */
export async function startPlcSim(args: string[]): Promise<StartedProcess & { readonly ready: string }> {
  return startProcess({
    what: 'plc-sim',
    readyMeans: 'listening',
    args: outpostArgs('plc-sim', ...args),
    ready: (stdout) => /plc-sim listening on (\S+)/.exec(stdout)?.[1],
  });
}

/** Starts `outpost opcua-connector --config FILE` against `mqttUrl`; ready once it logs that MQTT is connected. */
export async function startConnector(
  configFile: string,
  mqttUrl: string,
  pkiDir: string,
): Promise<StartedProcess & { readonly ready: true }> {
  const started = await startProcess({
    what: 'opcua-connector',
    readyMeans: 'running',
    args: outpostArgs('opcua-connector', '--config', configFile, '--pki-dir', pkiDir),
    env: { OUTPOST_MQTT_URL: mqttUrl },
    ready: (stdout) => (stdout.includes(' running: ') ? (true as const) : undefined),
  });
  return started;
}

/** Writes `config` as YAML to DIR/NAME. */
export function writeConfig(dir: string, name: string, config: ConnectorConfig): string {
  const file = join(dir, name);
  writeFileSync(file, stringify(config));
  return file;
}

/** An aedes broker on a free loopback port. */
export async function startBroker(): Promise<{ url: string; port: number; close(): Promise<void> }> {
  const aedes = await Aedes.createBroker();
  const server: Server = createServer((socket) => aedes.handle(socket));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    async close() {
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A received MQTT message, its payload parsed as JSON. */
export interface Received {
  readonly topic: string;
  readonly body: Record<string, unknown>;
  readonly at: number;
}

/** An MQTT client that records every message on `topics`. */
export async function observe(
  url: string,
  topics: string[],
): Promise<{ client: MqttClient; messages: Received[]; close(): Promise<void> }> {
  const client = await mqtt.connectAsync(url, { protocolVersion: 4, reconnectPeriod: 200 });
  const messages: Received[] = [];
  client.on('message', (topic, payload) => {
    messages.push({ topic, body: JSON.parse(payload.toString()) as Record<string, unknown>, at: Date.now() });
  });
  await client.subscribeAsync(topics, { qos: 1 });
  return { client, messages, close: () => client.endAsync() };
}

/** Waits for a message on `topic` after index `from` that satisfies `match`. */
export function waitForMessage(
  messages: Received[],
  what: string,
  match: (message: Received) => boolean,
  from = 0,
  timeoutMs = 60_000,
): Promise<Received> {
  return waitFor(what, () => messages.slice(from).find(match), timeoutMs);
}
