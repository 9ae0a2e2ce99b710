import { readFile } from 'node:fs/promises';
import YAML from 'yaml';
import type { KubeObject } from '../api/index.ts';
import { ApiError, type ObjectService } from '../hub/kube-api/index.ts';

const EXAMPLES = new URL('../../examples/demo.yaml', import.meta.url);

/** Creates the example objects of `examples/demo.yaml` that do not exist yet. */
export async function applyExamples(service: ObjectService): Promise<void> {
  const documents = YAML.parseAllDocuments(await readFile(EXAMPLES, 'utf8')).map(
    (document) => document.toJS() as KubeObject,
  );
  for (const object of documents) {
    const def = service.registry.byKind(object.apiVersion, object.kind);
    if (!def) throw new Error(`examples/demo.yaml: unknown kind ${object.apiVersion} ${object.kind}`);
    try {
      await service.create(def, object.metadata.namespace, object, { fieldManager: 'outpost-demo' });
    } catch (error) {
      if (!(error instanceof ApiError && error.reason === 'AlreadyExists')) throw error;
    }
  }
}

/** The device the demo's agent enrolls as. */
export const DEMO_DEVICE = 'demo-gateway';
/** The label the demo agent enrolls with, which the connector selects. */
export const DEMO_ROLE = 'opcua-gateway';
/** The demo's OpcUaConnector. */
export const DEMO_CONNECTOR = { namespace: 'default', name: 'line-1' } as const;

/**
 * Creates the demo's OpcUaConnector, or points it at `server` (the
 * simulator's port is new on every run): read Temperature, Pressure and the
 * temperature set point twice a second on the demo device.
 */
export async function applyConnector(service: ObjectService, server: string): Promise<void> {
  const def = service.registry.byKind('outpost.dev/v1alpha1', 'OpcUaConnector')!;
  const spec = {
    server,
    defaults: { samplingInterval: '500ms', publishingInterval: '500ms' },
    subscriptions: {
      temperature: 'ns=2;s=Temperature',
      pressure: 'ns=2;s=Pressure',
      temperatureSetpoint: 'ns=2;s=TemperatureSetpoint',
    },
    devices: { matchLabels: { role: DEMO_ROLE } },
  };
  const { namespace, name } = DEMO_CONNECTOR;
  const object = {
    apiVersion: 'outpost.dev/v1alpha1',
    kind: 'OpcUaConnector',
    metadata: { name, namespace },
    spec,
  };
  try {
    await service.create(def, namespace, object, { fieldManager: 'outpost-demo' });
  } catch (error) {
    if (!(error instanceof ApiError && error.reason === 'AlreadyExists')) throw error;
    await service.patch(def, namespace, name, 'merge', { spec }, { fieldManager: 'outpost-demo' });
  }
}
