/**
 * MQTT brokers for the tests: an in-process aedes broker, a throw-away Mosquitto process on a free
 * port, and a client that records what a broker delivers.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { createServer, type Server, connect as tcpConnect } from 'node:net';
import { join } from 'node:path';
import { Aedes } from 'aedes';
import mqtt, { type MqttClient } from 'mqtt';
import { removeDir, tempDir } from './hub-process.ts';
import { stopChild } from './process.ts';
import { waitFor } from './wait.ts';

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
export interface MqttMessage {
  readonly topic: string;
  readonly body: Record<string, unknown>;
  readonly at: number;
}

/** An MQTT client that records every message on `topics`. */
export async function observe(
  url: string,
  topics: string[],
): Promise<{ client: MqttClient; messages: MqttMessage[]; close(): Promise<void> }> {
  const client = await mqtt.connectAsync(url, { protocolVersion: 4, reconnectPeriod: 200 });
  const messages: MqttMessage[] = [];
  client.on('message', (topic, payload) => {
    messages.push({ topic, body: JSON.parse(payload.toString()) as Record<string, unknown>, at: Date.now() });
  });
  await client.subscribeAsync(topics, { qos: 1 });
  return { client, messages, close: () => client.endAsync() };
}

/** Waits for a message on `topic` after index `from` that satisfies `match`. */
export function waitForMessage(
  messages: MqttMessage[],
  what: string,
  match: (message: MqttMessage) => boolean,
  from = 0,
  timeoutMs = 60_000,
): Promise<MqttMessage> {
  return waitFor(what, () => messages.slice(from).find(match), timeoutMs);
}

/** A free TCP port on 127.0.0.1 (closed again: the caller binds it at once). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (typeof address !== 'object' || !address) throw new Error('no port');
  return address.port;
}

/** A Mosquitto process on 127.0.0.1, anonymous, started with a generated config. */
export interface Mosquitto {
  readonly url: string;
  readonly port: number;
  /** Stops it (SIGTERM) and waits for the exit. */
  stop(): Promise<void>;
  /** Starts it again on the same port. */
  restart(): Promise<void>;
  /** Stops it and removes its directory. */
  cleanup(): Promise<void>;
}

export async function startMosquitto(): Promise<Mosquitto> {
  const dir = await tempDir('outpost-mosquitto-');
  const port = await freePort();
  const config = join(dir, 'mosquitto.conf');
  await writeFile(
    config,
    [`listener ${port} 127.0.0.1`, 'allow_anonymous true', 'persistence false', 'log_dest stderr', ''].join(
      '\n',
    ),
  );
  let child: ChildProcess | undefined;
  let log = '';
  const start = async () => {
    child = spawn('mosquitto', ['-c', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr!.on('data', (chunk: Buffer) => {
      log += chunk.toString();
    });
    const running = child;
    await waitFor(`mosquitto listening on ${port}`, async () => {
      if (running.exitCode !== null) throw new Error(`mosquitto exited: ${log}`);
      return accepts(port);
    });
  };
  await start();
  const stop = async () => {
    if (child) await stopChild(child);
  };
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    stop,
    restart: start,
    async cleanup() {
      await stop();
      await removeDir(dir);
    },
  };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
