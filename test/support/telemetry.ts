/** Telemetry from the user's side: `outpost telemetry watch` as a process and its lines, and a connector to publish for. */
import { spawn } from 'node:child_process';
import { PLACED_LABEL } from './enrollment.ts';
import type { ApiClient } from './https-client.ts';
import { type HubProcess, OUTPOST_BIN } from './hub-process.ts';
import { stopChild } from './process.ts';
import { waitFor } from './wait.ts';

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
 * `namespace/name` with the features `temperature` and `setpoint`, placed on the devices with
 * `devices` (by default those `enrollDevice` labels): the tests play those devices
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
