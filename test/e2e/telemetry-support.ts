/**
 * Helpers of the telemetry tests: enrolled devices with a real mqtt.js client
 * on the hub's `/mqtt` WebSocket endpoint, `outpost telemetry watch` as a
 * process, and a throw-away Mosquitto on a free port.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, connect as tcpConnect } from 'node:net';
import { join } from 'node:path';
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import WebSocket from 'ws';
import YAML from 'yaml';
import { type DeviceCredentials, enroll } from '../../src/agent/enrollment/index.ts';
import {
  type ApiClient,
  type HubProcess,
  OUTPOST_BIN,
  removeDir,
  tempDir,
  waitFor,
} from '../support/index.ts';
import { createToken, FACTS } from './enrollment-support.ts';

/** The label that places the tests' connectors (see {@link createConnector}) on a device. */
export const PLACED_LABEL = 'telemetry-test/placed';

/**
 * Enrolls device `name` with an auto-approving token (giving it `labels`, by default the one that
 * places the tests' connectors on it); returns its credentials.
 */
export async function enrollDevice(
  hub: HubProcess,
  name: string,
  dirs: string[],
  labels: Readonly<Record<string, string>> = { [PLACED_LABEL]: 'yes' },
): Promise<DeviceCredentials> {
  const entries = Object.entries(labels).map(([key, value]) => `${key}=${value}`);
  const token = await createToken(hub, entries.length > 0 ? ['--labels', entries.join(',')] : []);
  const dir = await tempDir('outpost-device-');
  dirs.push(dir);
  return enroll({ hubUrl: hub.url, token, name, dataDir: dir, facts: FACTS });
}

/**
 * Creates namespace `namespace` and, when the hub has the OpcUaConnector kind, connector
 * `namespace/name` with the features `temperature` and `setpoint`, placed on the devices with
 * `devices` (by default those {@link enrollDevice} labels): the tests play those devices
 * themselves, with no agent. Returns whether the kind exists.
 */
export async function createConnector(
  admin: ApiClient,
  namespace: string,
  name: string,
  devices: Readonly<Record<string, string>> = { [PLACED_LABEL]: 'yes' },
): Promise<boolean> {
  const created = await admin.request('POST', '/api/v1/namespaces', {
    body: { metadata: { name: namespace } },
  });
  if (created.status !== 201 && created.status !== 409) throw new Error(`namespace: ${created.text}`);
  const v1 = '/apis/outpost.dev/v1alpha1';
  const resources = (await admin.request('GET', v1)).json().resources as Array<{ name: string }>;
  if (!resources.some((resource) => resource.name === 'opcuaconnectors')) return false;
  const connector = await admin.request('POST', `${v1}/namespaces/${namespace}/opcuaconnectors`, {
    body: {
      apiVersion: 'outpost.dev/v1alpha1',
      kind: 'OpcUaConnector',
      metadata: { name },
      spec: {
        server: 'opc.tcp://127.0.0.1:4840/UA/Outpost',
        subscriptions: { temperature: 'ns=2;s=Temperature', setpoint: 'ns=2;s=SetPoint' },
        devices: { matchLabels: devices },
      },
    },
  });
  if (connector.status !== 201) throw new Error(`connector: ${connector.text}`);
  return true;
}

/**
 * Waits until Workload `namespace/workload` (a connector's) is placed on each of `devices`: their
 * Mailboxes hold its objects, and the hub accepts what they send up for it.
 */
export async function waitForPlacement(
  admin: ApiClient,
  devices: readonly string[],
  namespace: string,
  workload: string,
): Promise<void> {
  for (const device of devices)
    await waitFor(`${namespace}/${workload} placed on ${device}`, async () => {
      const mailbox = await admin.request('GET', `/apis/outpost.dev/v1alpha1/mailboxes/${device}`);
      if (mailbox.status !== 200) return false;
      const objects = (mailbox.json().spec?.objects ?? []) as Array<{
        source: { namespace: string; workload: string };
      }>;
      return objects.some(
        (object) => object.source.namespace === namespace && object.source.workload === workload,
      );
    });
}

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

/** `outpost telemetry watch ARGS` as a process, its stdout collected. */
export interface WatchProcess {
  stdout(): string;
  stderr(): string;
  stop(): Promise<void>;
}

export function startTelemetryWatch(hub: HubProcess, args: readonly string[]): WatchProcess {
  const child = spawn(
    process.execPath,
    [OUTPOST_BIN, 'telemetry', 'watch', ...args, '--kubeconfig', hub.kubeconfig],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return { stdout: () => stdout, stderr: () => stderr, stop: () => stopChild(child) };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  await exited;
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
