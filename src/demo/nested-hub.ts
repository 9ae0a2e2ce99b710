/**
 * What `outpost demo --nested` does in its hub, straight through the hub's
 * ObjectService: declare a device a gateway of the level below, wait for
 * what the gateway renderer and the agents report, and show the devices as
 * `kubectl get devices` does (with each device's parent and level).
 */
import type { KubeObject } from '../api/index.ts';
import { table } from '../cli/token-command.ts';
import type { ObjectService } from '../hub/kube-api/index.ts';
import { delay } from '../util/index.ts';

/** A Device as the demo reads it. */
interface DeviceView {
  readonly spec?: { parent?: string; level?: number };
  readonly status?: {
    phase?: string;
    nested?: {
      parent?: string;
      parentBroker?: string;
      hubProxy?: string;
      proxy?: { ready?: boolean };
      broker?: { ready?: boolean };
    };
  };
}

const FIELD_MANAGER = 'outpost-demo';

function devices(service: ObjectService) {
  return service.registry.byKind('outpost.dev/v1alpha1', 'Device')!;
}

/**
 * Declares `name` the gateway of the level below: its level, where the level
 * below reaches it, and the network it is in (so that its child enrolls
 * through its proxy before its Device exists). Short heartbeats: a child
 * learns its parent's broker from the Device its heartbeat gets back.
 */
export async function declareGateway(
  service: ObjectService,
  name: string,
  gateway: { level: number; address: string; childNetwork: string },
): Promise<void> {
  await setSpec(service, name, {
    level: gateway.level,
    heartbeat: { periodSeconds: 5 },
    gateway: { address: gateway.address, childNetworks: [gateway.childNetwork] },
  });
}

/** Merges `spec` into the Device `name`. */
export async function setSpec(
  service: ObjectService,
  name: string,
  spec: Record<string, unknown>,
): Promise<void> {
  await service.patch(devices(service), undefined, name, 'merge', { spec }, { fieldManager: FIELD_MANAGER });
}

/**
 * Waits until the Device `name` exists and `ready` says yes of it, asking
 * twice a second; gives up (throws, naming `what`) after `timeoutMs` or once
 * `stopping()` says the demo is stopping.
 */
export async function waitForDevice(
  service: ObjectService,
  name: string,
  what: string,
  ready: (device: DeviceView) => boolean,
  stopping: () => boolean,
  timeoutMs = 300_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!stopping()) {
    const stored = await service.find(devices(service), undefined, name);
    if (stored && ready(JSON.parse(stored.value) as DeviceView)) return;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${Math.round(timeoutMs / 1000)} s`);
    await delay(500);
  }
  throw new Error('stopping');
}

/** Whether a gateway's rendered proxy runs (its agent reports it ready). */
export function proxyRunning(device: DeviceView): boolean {
  return device.status?.nested?.proxy?.ready === true;
}

/** Whether a gateway's rendered broker runs (its agent reports it ready). */
export function brokerRunning(device: DeviceView): boolean {
  return device.status?.nested?.broker?.ready === true;
}

/**
 * The devices as `kubectl get devices` shows them (its own columns: the
 * Device kind's printer columns), with how each reaches its parent.
 */
export async function deviceTable(service: ObjectService): Promise<string> {
  const def = devices(service);
  const shown = ['Phase', 'Parent', 'Level'];
  const columns = def.printerColumns.filter((column) => shown.includes(column.name));
  const { items } = await service.list(def, undefined, {});
  const rows = items.map((stored) => {
    const object = JSON.parse(stored.value) as KubeObject;
    const cells = columns.map((column) => {
      const cell = column.cell(object);
      return cell === undefined || cell === null ? '' : String(cell);
    });
    return [object.metadata.name ?? '', ...cells, (object as DeviceView).status?.nested?.parent ?? ''];
  });
  return table([['NAME', ...columns.map((column) => column.name.toUpperCase()), 'THROUGH PARENT'], ...rows]);
}
