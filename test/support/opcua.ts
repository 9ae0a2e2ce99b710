/**
 * The OPC UA programs as processes: `outpost plc-sim` and `outpost opcua-connector`, their config
 * files and manifests, an independent OPC UA read, and the connector processes an agent runs.
 */
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { ConnectorConfig } from '../../src/api/index.ts';
import { isAlive, recordedProcesses, type WorkloadProcess } from './agent-workloads.ts';
import { removeDir } from './hub-process.ts';
import { type StartedProcess, startProcess } from './process.ts';

/** The compiled CLI when the test runner built it, else the sources through tsx. */
export function outpostArgs(...args: string[]): string[] {
  const bin = process.env.OUTPOST_TEST_BIN;
  return bin
    ? [bin, ...args]
    : ['--import', 'tsx', join(import.meta.dirname, '../../src/cli/main.ts'), ...args];
}

/**
 * Starts `outpost plc-sim` (inside `netns`, if given); resolves with its endpoint URL once it
 * listens (waiting up to `readyTimeoutMs`, 60 s by default).
 */
export async function startPlcSim(
  args: string[],
  options: { netns?: string; readyTimeoutMs?: number } = {},
): Promise<StartedProcess & { readonly ready: string }> {
  return startProcess({
    what: 'plc-sim',
    readyMeans: 'listening',
    args: outpostArgs('plc-sim', ...args),
    ...options,
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

/** `outpost plc-sim` on `port` (0: a free one) with its values changing every 200 ms. */
export function startSimulator(pkiDir: string, port = 0) {
  return startPlcSim(['--port', String(port), '--interval', '200ms', '--pki-dir', pkiDir]);
}

/** The port of a simulator's `opc.tcp://HOST:PORT/...` endpoint. */
export function portOf(endpoint: string): number {
  return Number(new URL(endpoint.replace(/^opc\.tcp:/, 'http:')).port);
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
