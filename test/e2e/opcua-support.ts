/** Helpers for the OPC UA connector's end-to-end tests: simulator, broker, connector and an MQTT observer. */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Aedes } from 'aedes';
import mqtt, { type MqttClient } from 'mqtt';
import YAML, { stringify } from 'yaml';
import type { ConnectorConfig } from '../../src/api/index.ts';
import {
  type AgentProcess,
  type HubProcess,
  isAlive,
  kubectl,
  recordedProcesses,
  removeDir,
  type StartedProcess,
  startAgent,
  startProcess,
  type WorkloadProcess,
  waitFor,
} from '../support/index.ts';
import { createToken } from './enrollment-support.ts';

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

// ---------------------------------------------------------------------------
// The whole path: hub and agent processes, the simulator, connectors applied with kubectl.
// ---------------------------------------------------------------------------

/** `outpost plc-sim` on `port` (0: a free one) with its values changing every 200 ms. */
export function startSimulator(pkiDir: string, port = 0) {
  return startPlcSim(['--port', String(port), '--interval', '200ms', '--pki-dir', pkiDir]);
}

/** The port of a simulator's `opc.tcp://HOST:PORT/...` endpoint. */
export function portOf(endpoint: string): number {
  return Number(new URL(endpoint.replace(/^opc\.tcp:/, 'http:')).port);
}

/**
 * Enrolls and starts `outpost agent` named `name` with device labels `labels`
 * (`k=v,...`), stopping its workloads when it stops (so a test leaves none).
 */
export async function startLabelledAgent(
  hub: HubProcess,
  options: { name: string; labels: string; dataDir: string; hubUrl?: string; args?: readonly string[] },
): Promise<AgentProcess> {
  const token = await createToken(hub, ['--labels', options.labels]);
  return startAgent({
    hubUrl: options.hubUrl ?? hub.url,
    token,
    dataDir: options.dataDir,
    name: options.name,
    args: ['--stop-workloads-on-exit', ...(options.args ?? [])],
  });
}

/** An OpcUaConnector manifest: `subscriptions` read from `server` on the devices labelled `devices`. */
export function connectorManifest(
  namespace: string,
  name: string,
  server: string,
  subscriptions: Record<string, string>,
  devices: Record<string, string>,
): Record<string, unknown> {
  return {
    apiVersion: 'outpost.dev/v1alpha1',
    kind: 'OpcUaConnector',
    metadata: { name, namespace },
    spec: {
      server,
      defaults: { samplingInterval: '200ms', publishingInterval: '200ms' },
      subscriptions,
      devices: { matchLabels: devices },
    },
  };
}

/** `kubectl ARGS` that must succeed; returns stdout. */
export async function kubectlOk(hub: HubProcess, args: readonly string[], input?: string): Promise<string> {
  const result = await kubectl(hub, args, input);
  if (result.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout;
}

/** An object as `kubectl get -o yaml` shows it (what the tests look at). */
export interface ObjectYaml {
  metadata: { name: string; uid: string; generation?: number };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
}

/** `kubectl get ARGS -o yaml`, parsed; undefined when kubectl cannot get it. */
export async function kubectlGet<T = ObjectYaml>(hub: HubProcess, ...args: string[]): Promise<T | undefined> {
  const result = await kubectl(hub, ['get', ...args, '-o', 'yaml']);
  return result.code === 0 ? (YAML.parse(result.stdout) as T) : undefined;
}

/** One line of `outpost telemetry watch`: `TIME  DEVICE  NS/CONNECTOR  FEATURE  VALUE`. */
export interface TelemetryLine {
  readonly time: string;
  readonly device: string;
  readonly connector: string;
  readonly feature: string;
  readonly value: string;
}

/** The complete lines `outpost telemetry watch` printed so far. */
export function telemetryLines(stdout: string): TelemetryLine[] {
  return stdout
    .split('\n')
    .slice(0, -1)
    .map((line) => line.split('  '))
    .filter((fields) => fields.length >= 5)
    .map(([time, device, connector, feature, ...value]) => ({
      time: time!,
      device: device!,
      connector: connector!,
      feature: feature!,
      value: value.join('  '),
    }));
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

/**
 * Reads the value of `nodeId` on the OPC UA server `endpoint` with a plain
 * node-opcua client (an independent look at the simulator).
 */
export async function readOpcUaValue(endpoint: string, nodeId: string, pkiDir: string): Promise<unknown> {
  // node-opcua prints load-time warnings on stdout unless told otherwise when it loads.
  process.env.NODEOPCUA_LOG_LEVEL ??= '3';
  const opcua = await import('node-opcua');
  const client = opcua.OPCUAClient.create({
    endpointMustExist: false,
    connectionStrategy: { maxRetry: 3, initialDelay: 200, maxDelay: 1000 },
    clientCertificateManager: new opcua.OPCUACertificateManager({
      rootFolder: pkiDir,
      automaticallyAcceptUnknownCertificate: true,
    }),
  });
  await client.connect(endpoint);
  try {
    const session = await client.createSession();
    try {
      const dataValue = await session.read({ nodeId, attributeId: opcua.AttributeIds.Value });
      if (!dataValue.statusCode.isGood()) throw new Error(`read ${nodeId}: ${dataValue.statusCode.name}`);
      return dataValue.value.value as unknown;
    } finally {
      await session.close();
    }
  } finally {
    await client.disconnect();
  }
}

/** The live connector processes (process runtime) the agent with `dataDir` recorded for `unitPart`. */
export function liveConnectorProcesses(dataDir: string, unitPart: string): WorkloadProcess[] {
  return recordedProcesses(dataDir).filter((p) => p.unit.includes(unitPart) && isAlive(p.pid));
}

/** Removes the certificate store a connector makes for itself under the temp dir (process runtime). */
export async function removeConnectorPki(namespace: string, name: string): Promise<void> {
  await removeDir(join(tmpdir(), `outpost-opcua-connector-${namespace}-${name}`));
}

/** A TCP pass-through to the hub that the test can shut, so an agent reconnects only when the test is ready. */
export class Gate {
  open = true;
  readonly #sockets = new Set<Socket>();
  readonly #server: Server;

  constructor(readonly target: () => number) {
    this.#server = createServer((socket) => {
      if (!this.open) return socket.destroy();
      const upstream = tcpConnect(this.target(), '127.0.0.1');
      for (const s of [socket, upstream]) {
        this.#sockets.add(s);
        s.on('error', () => {});
        s.on('close', () => {
          this.#sockets.delete(s);
          socket.destroy();
          upstream.destroy();
        });
      }
      socket.pipe(upstream).pipe(socket);
    });
  }

  /** Listens on a free loopback port; resolves with its `https://` URL. */
  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    return `https://127.0.0.1:${(this.#server.address() as { port: number }).port}`;
  }

  /** Refuses new connections and cuts the open ones. */
  shut(): void {
    this.open = false;
    for (const socket of this.#sockets) socket.destroy();
  }

  close(): Promise<void> {
    this.shut();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

/**
 * Waits for every one of `starts` (each assigning what it started), then
 * throws the first failure: a process started in parallel with one that
 * failed is assigned, so the test's cleanup stops it (with `Promise.all` it
 * would be left running, keeping the test file alive).
 */
export async function settleAll(starts: readonly Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(starts);
  const failed = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (failed) throw failed.reason;
}
