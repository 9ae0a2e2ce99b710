/**
 * The gateway renderer: every Device with children gets its proxy and broker
 * (a Workload and a Placement in `outpost-system`), re-rendered whenever a
 * child comes, goes, moves or reports new addresses, and its `status.nested`.
 */
import type { Device, KubeObject } from '../../../api/index.ts';
import type { Controller, Manager } from '../../../controller/index.ts';
import { kindOf } from '../support.ts';
import {
  CHILDREN_INDEX,
  createGatewayReconciler,
  type GatewayInformers,
  type GatewayReconcilerOptions,
  PROXY_URL_INDEX,
  proxyUrlOf,
  REPORTED_PROXY_INDEX,
} from './reconciler.ts';
import { GATEWAY_LABEL } from './render.ts';

export interface GatewayRendererOptions extends Omit<GatewayReconcilerOptions, 'service' | 'informers'> {
  /** @default 1 */
  readonly workers?: number;
}

/** What {@link addGatewayRenderer} set up, for tests. */
export interface GatewayRenderer {
  readonly controller: Controller;
  readonly informers: GatewayInformers;
}

/**
 * Adds the renderer to a manager. Keyed by Device name; a Device's event
 * queues the device, every gateway above it, its children and the gateway whose proxy
 * its agent reports using (an update queues the keys of the old object too: a child that
 * moved re-renders the parent it left, and again once it uses its new parent's proxy).
 * Its Workload's,
 * Placement's and Mailbox's events queue the gateway they belong to.
 */
export function addGatewayRenderer(manager: Manager, options: GatewayRendererOptions): GatewayRenderer {
  const service = manager.client;
  const informers: GatewayInformers = {
    devices: manager.informer(kindOf(service, 'Device')),
    workloads: manager.informer(kindOf(service, 'Workload')),
    placements: manager.informer(kindOf(service, 'Placement')),
    mailboxes: manager.informer(kindOf(service, 'Mailbox')),
  };
  // Children by parent: a Device event (a heartbeat, thousands a minute in a fleet) must not walk every Device.
  informers.devices.addIndex(CHILDREN_INDEX, (device) => {
    const parent = (device.spec as Device['spec'])?.parent;
    return parent === undefined ? [] : [parent];
  });
  // A moved child is admitted by the gateway whose proxy it still uses (see movingChildren).
  informers.devices.addIndex(REPORTED_PROXY_INDEX, (device) => {
    const reported = (device.status as Device['status'])?.system?.hubProxy;
    return reported === undefined ? [] : [reported];
  });
  informers.devices.addIndex(PROXY_URL_INDEX, (device) => {
    const url = proxyUrlOf(device);
    return url === undefined ? [] : [url];
  });
  const controller = manager.controller({
    reconciler: createGatewayReconciler({ ...options, service, informers }),
    workers: options.workers ?? 1,
  });
  controller.watch(informers.devices, (device: KubeObject) => {
    const keys = new Set<string>([device.metadata.name!]);
    // Every gateway above: each one's bridge and ACL name every device below it.
    for (
      let parent = (device.spec as Device['spec'])?.parent;
      parent !== undefined && !keys.has(parent);
      parent = (informers.devices.get(undefined, parent)?.spec as Device['spec'])?.parent
    )
      keys.add(parent);
    // Its children: their status tells how their parent is.
    for (const child of informers.devices.byIndex(CHILDREN_INDEX, device.metadata.name!))
      keys.add(child.metadata.name!);
    // The gateway whose proxy it reports using: a moved child is admitted there until it switches.
    const reported = (device.status as Device['status'])?.system?.hubProxy;
    if (reported !== undefined)
      for (const gateway of informers.devices.byIndex(PROXY_URL_INDEX, reported))
        keys.add(gateway.metadata.name!);
    return keys;
  });
  const ownerOf = (object: KubeObject) =>
    (object.metadata.ownerReferences ?? []).filter((ref) => ref.kind === 'Device').map((ref) => ref.name);
  controller.watch(informers.workloads, ownerOf);
  controller.watch(informers.placements, ownerOf);
  controller.watch(informers.mailboxes, (mailbox: KubeObject) =>
    informers.devices.get(undefined, mailbox.metadata.name!)?.metadata.labels?.[GATEWAY_LABEL]
      ? [mailbox.metadata.name!]
      : [],
  );
  return { controller, informers };
}
