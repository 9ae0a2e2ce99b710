import { createHash } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import YAML from 'yaml';
import type {
  ConnectorConfig,
  KubeObject,
  OpcUaConnectorSpec,
  OwnerReferenceShape,
} from '../../../api/index.ts';
import { parseDurationMs } from '../../../api/index.ts';
import { VERSION } from '../../../version.ts';
import { controllerReference } from '../support.ts';

/** The label every rendered object carries: the connector's name. */
export const CONNECTOR_LABEL = 'outpost.dev/connector';
/** The key of the rendered Secret holding the connector's configuration. */
export const CONFIG_KEY = 'config.yaml';
/** Where the connector container finds its configuration. */
export const CONFIG_DIR = '/etc/outpost/connector';
/** The connector image, built by `scripts/build-connector-image.sh` for this version. */
export const CONNECTOR_IMAGE = `localhost/outpost-opcua-connector:${VERSION}`;

const DEFAULT_INTERVAL_MS = 1000;

/** A user name and password for the OPC UA server, resolved from the spec or a Secret. */
export interface Credentials {
  readonly username: string;
  readonly password: string;
}

/** What the renderer makes of one connector: the objects it owns and the config they carry. */
export interface Rendered {
  readonly workload: KubeObject;
  readonly placement: KubeObject;
  /** `sha256:` and the hex digest of the config text. */
  readonly configHash: string;
}

/** The ownerReference every rendered object carries to its connector. */
export function ownerReferenceTo(connector: KubeObject): OwnerReferenceShape {
  return controllerReference(connector, true);
}

/**
 * The connector's `config.yaml` content, as `src/connectors/opcua` reads it (`src/api/opcua-connector-config.ts`).
 * Subscriptions are sorted by feature: the same spec always gives the same text
 * (and so the same content hash on the devices), whatever order a client wrote.
 */
export function connectorConfig(
  namespace: string,
  name: string,
  spec: OpcUaConnectorSpec,
  credentials: Credentials | undefined,
): ConnectorConfig {
  const subscriptions: Record<string, string> = {};
  for (const feature of Object.keys(spec.subscriptions).sort())
    subscriptions[feature] = spec.subscriptions[feature]!;
  const interval = (text: string | undefined) =>
    text === undefined ? DEFAULT_INTERVAL_MS : (parseDurationMs(text) ?? DEFAULT_INTERVAL_MS);
  return {
    connector: { namespace, name },
    server: spec.server,
    securityMode: spec.security?.mode ?? 'None',
    securityPolicy: spec.security?.policy ?? 'None',
    ...(credentials
      ? { credentials: { username: credentials.username, password: credentials.password } }
      : {}),
    samplingIntervalMs: interval(spec.defaults?.samplingInterval),
    publishingIntervalMs: interval(spec.defaults?.publishingInterval),
    subscriptions,
  };
}

/**
 * Renders a connector into its Workload (a Secret `NAME-config` with
 * `config.yaml`, and a StatefulSet `NAME` running the connector image with
 * that Secret mounted) and its Placement (that Workload, on `spec.devices`),
 * both named as the connector and owned by it.
 */
export function renderConnector(connector: KubeObject, credentials: Credentials | undefined): Rendered {
  const namespace = connector.metadata.namespace!;
  const name = connector.metadata.name!;
  const spec = connector.spec as OpcUaConnectorSpec;
  const text = YAML.stringify(connectorConfig(namespace, name, spec, credentials));
  const labels = { [CONNECTOR_LABEL]: name };
  const owner = ownerReferenceTo(connector);
  const secretName = `${name}-config`;
  const secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: secretName, labels },
    type: 'Opaque',
    // Base64, not stringData: nothing in it is ever taken for a `${device...}` parameter.
    data: { [CONFIG_KEY]: Buffer.from(text, 'utf8').toString('base64') },
  };
  const statefulSet = {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name, labels },
    spec: {
      replicas: 1,
      serviceName: name,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          hostNetwork: true,
          containers: [
            {
              name: 'connector',
              image: CONNECTOR_IMAGE,
              command: ['outpost', 'opcua-connector', '--config', `${CONFIG_DIR}/${CONFIG_KEY}`],
              volumeMounts: [{ name: 'config', mountPath: CONFIG_DIR, readOnly: true }],
            },
          ],
          volumes: [{ name: 'config', secret: { secretName } }],
        },
      },
    },
  };
  const workload: KubeObject = {
    apiVersion: 'outpost.dev/v1alpha1',
    kind: 'Workload',
    metadata: { name, namespace, labels, ownerReferences: [owner] },
    spec: { resources: [secret, statefulSet] },
  };
  const placement: KubeObject = {
    apiVersion: 'outpost.dev/v1alpha1',
    kind: 'Placement',
    metadata: { name, namespace, labels, ownerReferences: [owner] },
    spec: { workloadSelector: { names: [name] }, deviceSelector: structuredClone(spec.devices) },
  };
  return { workload, placement, configHash: `sha256:${createHash('sha256').update(text).digest('hex')}` };
}

/** Whether `object` names `uid` as its controller (it is this connector's to rewrite). */
export function controlledBy(object: KubeObject, uid: string | undefined): boolean {
  return (object.metadata.ownerReferences ?? []).some((ref) => ref.controller === true && ref.uid === uid);
}

/**
 * The object to write so that `live` holds `desired`'s spec, labels and
 * ownerReference, or undefined when it already does. Labels and
 * ownerReferences others added are kept; everything in spec is the
 * connector's (a hand edit is put back).
 */
export function updateFor(live: KubeObject, desired: KubeObject): KubeObject | undefined {
  const labels = { ...live.metadata.labels, ...desired.metadata.labels };
  const owner = desired.metadata.ownerReferences![0]!;
  const current = live.metadata.ownerReferences ?? [];
  const ownerReferences = current.some((ref) => isDeepStrictEqual(ref, owner))
    ? current
    : [...current.filter((ref) => ref.uid !== owner.uid), owner];
  const unchanged =
    isDeepStrictEqual(live.spec, desired.spec) &&
    isDeepStrictEqual(live.metadata.labels ?? {}, labels) &&
    ownerReferences === current;
  if (unchanged) return undefined;
  return {
    ...live,
    metadata: { ...live.metadata, labels, ownerReferences },
    spec: desired.spec,
  };
}
