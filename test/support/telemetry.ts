/** Telemetry from the user's side: `outpost telemetry watch` as a process and its lines, and a connector to publish for. */
import { spawn } from 'node:child_process';
import type { ApiClient } from './https-client.ts';
import { type HubProcess, OUTPOST_BIN } from './hub-process.ts';
import { stopChild } from './process.ts';

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

/**
 * Creates namespace `namespace` and, when the hub has the OpcUaConnector kind, connector
 * `namespace/name` (placed on no device: the tests play the devices themselves) with the
 * features `temperature` and `setpoint`. Returns whether the kind exists.
 */
export async function createConnector(admin: ApiClient, namespace: string, name: string): Promise<boolean> {
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
        devices: { matchLabels: { role: 'nothing-matches' } },
      },
    },
  });
  if (connector.status !== 201) throw new Error(`connector: ${connector.text}`);
  return true;
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
