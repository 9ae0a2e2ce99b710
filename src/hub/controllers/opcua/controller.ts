/**
 * The OpcUaConnector renderer: each connector becomes a Workload (its
 * StatefulSet and `config.yaml` Secret) and a Placement, owned by it, kept
 * equal to what the connector says, and summarised back into its status.
 */
import type { KindDefinition, KubeObject } from '../../../api/index.ts';
import { type Client, type Controller, keyFor, keyOf, type Manager } from '../../../controller/index.ts';
import { kindOf } from '../support.ts';
import { credentialsSecretKey } from './credentials.ts';
import { createOpcUaReconciler, type OpcUaInformers, type OpcUaReconcilerOptions } from './reconciler.ts';

export interface OpcUaRendererOptions extends Omit<OpcUaReconcilerOptions, 'service' | 'informers'> {
  /** @default 2 */
  readonly workers?: number;
}

/** What {@link addOpcUaRenderer} set up, for tests. */
export interface OpcUaRenderer {
  readonly controller: Controller;
  readonly informers: OpcUaInformers;
  /** Whether nothing is queued or running (delayed rechecks aside). */
  idle(): boolean;
}

const SECRET_INDEX = 'opcua:credentials-secret';

/**
 * Adds the renderer to a manager. Keyed by connector (`namespace/name`); it
 * is queued by the connector's own events, by events of the Workload and
 * Placement it owns or whose name it claims (a hand edit is put back, a
 * deleted one re-created, their status summarised), by changes of the Secret
 * its credentials come from, and by the telemetry table when a device's
 * connector reports.
 */
export function addOpcUaRenderer(manager: Manager, options: OpcUaRendererOptions = {}): OpcUaRenderer {
  const service = manager.client;
  const informers: OpcUaInformers = {
    connectors: manager.informer(kindOf(service, 'OpcUaConnector')),
    workloads: manager.informer(kindOf(service, 'Workload')),
    placements: manager.informer(kindOf(service, 'Placement')),
    secrets: manager.informer(secretKind(service)),
    devices: manager.informer(kindOf(service, 'Device')),
  };
  informers.connectors.addIndex(SECRET_INDEX, (connector) => {
    const key = credentialsSecretKey(connector);
    return key === undefined ? [] : [key];
  });
  const controller = manager.controller({
    reconciler: createOpcUaReconciler({ ...options, service, informers }),
    workers: options.workers ?? 2,
  });
  controller.watch(informers.connectors);
  /** A rendered object's connector: its controller, and the connector of the same name (whose name it takes). */
  const connectorsOf = (object: KubeObject) => {
    const keys = new Set<string>();
    for (const ref of object.metadata.ownerReferences ?? []) {
      if (ref.kind === 'OpcUaConnector' && ref.apiVersion === 'outpost.dev/v1alpha1')
        keys.add(keyFor(object.metadata.namespace, ref.name));
    }
    if (informers.connectors.get(object.metadata.namespace, object.metadata.name!)) keys.add(keyOf(object));
    return keys;
  };
  controller.watch(informers.workloads, connectorsOf);
  controller.watch(informers.placements, connectorsOf);
  controller.watch(informers.secrets, (secret) =>
    informers.connectors.byIndex(SECRET_INDEX, keyOf(secret)).map(keyOf),
  );
  controller.reads(informers.devices);
  const telemetry = options.telemetry;
  if (telemetry) {
    manager.add({
      async start(signal) {
        const off = telemetry.onConnectorChange((namespace, name) =>
          controller.enqueue(keyFor(namespace, name)),
        );
        await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
        off();
      },
    });
  }
  return {
    controller,
    informers,
    idle: () => controller.queue.length === 0 && controller.queue.processing === 0,
  };
}

function secretKind(service: Pick<Client, 'registry'>): KindDefinition {
  const def = service.registry.byKind('v1', 'Secret');
  if (!def) throw new Error('the registry does not serve Secret');
  return def;
}
