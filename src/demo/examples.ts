/**
 * The objects the demo writes into its hub, straight through the hub's
 * ObjectService (no HTTPS round trip): the examples of `examples/demo.yaml`,
 * the OpcUaConnector pointed at the simulator, and the agent's bootstrap
 * token. Writes are server-side applies, so a run whose objects already hold
 * writes nothing, and a checkout whose objects an older demo wrote is
 * brought up to date.
 */
import { readFile } from 'node:fs/promises';
import YAML from 'yaml';
import { generateBootstrapToken, hashTokenSecret, type KubeObject } from '../api/index.ts';
import { ApiError, type ObjectService } from '../hub/kube-api/index.ts';

const EXAMPLES = new URL('../../examples/demo.yaml', import.meta.url);
const FIELD_MANAGER = 'outpost-demo';

/** The device the demo's agent enrolls as. */
export const DEMO_DEVICE = 'demo-gateway';
/** The labels the demo agent enrolls with: the connector selects the role, the example placement the site. */
export const DEMO_LABELS = { site: 'berlin', role: 'opcua-gateway' } as const;
/** The demo's OpcUaConnector. */
export const DEMO_CONNECTOR = { namespace: 'default', name: 'line-1' } as const;

/**
 * Objects earlier versions of the demo applied that no longer belong to it:
 * removed when the demo wrote them (an inventory Device no agent ever was,
 * which kept the example placement from ever being ready).
 */
const RETIRED: readonly { apiVersion: string; kind: string; name: string }[] = [
  { apiVersion: 'outpost.dev/v1alpha1', kind: 'Device', name: 'gw-berlin-1' },
];

/** Applies every object of `examples/demo.yaml`, and removes the retired examples an older demo wrote. */
export async function applyExamples(service: ObjectService): Promise<void> {
  const documents = YAML.parseAllDocuments(await readFile(EXAMPLES, 'utf8')).map(
    (document) => document.toJS() as KubeObject,
  );
  for (const object of documents) await apply(service, object);
  for (const retired of RETIRED) {
    const def = service.registry.byKind(retired.apiVersion, retired.kind)!;
    try {
      const live = JSON.parse((await service.get(def, undefined, retired.name)).value) as KubeObject;
      const managers = (live.metadata.managedFields ?? []) as { manager?: string }[];
      if (managers.some((entry) => entry.manager === FIELD_MANAGER))
        await service.delete(def, undefined, retired.name, {});
    } catch (error) {
      if (!(error instanceof ApiError && error.reason === 'NotFound')) throw error;
    }
  }
}

/**
 * Applies the demo's OpcUaConnector reading `server` (the simulator):
 * Temperature, Pressure and the temperature set point twice a second, on the
 * devices with the demo's role.
 */
export async function applyConnector(service: ObjectService, server: string): Promise<void> {
  const { namespace, name } = DEMO_CONNECTOR;
  await apply(service, {
    apiVersion: 'outpost.dev/v1alpha1',
    kind: 'OpcUaConnector',
    metadata: { name, namespace },
    spec: {
      server,
      defaults: { samplingInterval: '500ms', publishingInterval: '500ms' },
      subscriptions: {
        temperature: 'ns=2;s=Temperature',
        pressure: 'ns=2;s=Pressure',
        temperatureSetpoint: 'ns=2;s=TemperatureSetpoint',
      },
      devices: { matchLabels: { role: DEMO_LABELS.role } },
    },
  } as KubeObject);
}

/** What a demo agent's token gives the Device it enrolls. */
export interface AgentTokenOptions {
  /** The labels the agent asks for. @default the demo's ({@link DEMO_LABELS}) */
  readonly labels?: Readonly<Record<string, string>>;
  /** Nested networks (`outpost demo --nested`): the gateway above and the device's level. */
  readonly parent?: string;
  readonly level?: number;
  readonly description?: string;
}

/** Creates a bootstrap token for a demo agent (one use, an hour) and returns it. */
export async function createAgentToken(
  service: ObjectService,
  options: AgentTokenOptions = {},
): Promise<string> {
  const { id, secret, token } = generateBootstrapToken();
  const def = service.registry.byKind('outpost.dev/v1alpha1', 'BootstrapToken')!;
  const expiration = new Date(Date.now() + 3600_000).toISOString().replace(/\.\d+Z$/, 'Z');
  await service.create(
    def,
    undefined,
    {
      apiVersion: 'outpost.dev/v1alpha1',
      kind: 'BootstrapToken',
      metadata: { name: id },
      spec: {
        secretHash: hashTokenSecret(secret),
        expiration,
        approval: 'auto',
        maxUses: 1,
        // The labels the agent asks for: a device gets only labels its token gives or allows.
        deviceLabels: { ...(options.labels ?? DEMO_LABELS) },
        ...(options.parent !== undefined ? { parent: options.parent } : {}),
        ...(options.level !== undefined ? { level: options.level } : {}),
        description: options.description ?? 'the npm start demo agent',
      },
    } as KubeObject,
    { fieldManager: FIELD_MANAGER },
  );
  return token;
}

async function apply(service: ObjectService, object: KubeObject): Promise<void> {
  const def = service.registry.byKind(object.apiVersion, object.kind);
  if (!def) throw new Error(`the demo cannot write ${object.apiVersion} ${object.kind}: unknown kind`);
  await service.patch(def, object.metadata.namespace, object.metadata.name!, 'apply', object, {
    fieldManager: FIELD_MANAGER,
    force: true,
  });
}
