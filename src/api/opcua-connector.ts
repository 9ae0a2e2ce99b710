/**
 * `OpcUaConnector`: OPC UA connectivity for some devices, declared with
 * nothing Kubernetes-specific in it. The hub renders it into a Workload (the
 * connector's StatefulSet and its `config.yaml` Secret) and a Placement on the
 * selected devices (see `src/hub/controllers/opcua/`).
 */
import Type from 'typebox';
import type { FieldCause, KindDefinition, KubeObject } from './kind.ts';
import { ageColumn, Conditions, conditionStatus, LabelSelector, objectSchema, Time } from './meta.ts';
import { FEATURE_PATTERN, isNodeId, SECURITY_MODES, SECURITY_POLICIES } from './opcua-connector-config.ts';
import { validatePlacement } from './placement.ts';
import { labelCauses } from './validation.ts';

const DURATION_HELP = 'a duration such as 1s, 500ms, 1m30s (units ms, s, m, h)';

const Duration = (description: string) =>
  Type.String({ minLength: 1, description: `${description}: ${DURATION_HELP}. @default 1s` });

const SecretKey = (what: string, fallback: string) =>
  Type.String({ minLength: 1, description: `The Secret's key holding the ${what}. @default ${fallback}` });

export const OpcUaConnectorSchema = objectSchema(
  'outpost.dev/v1alpha1',
  'OpcUaConnector',
  'OPC UA connectivity for devices.',
  {
    spec: Type.Object(
      {
        server: Type.String({
          minLength: 1,
          description: 'The OPC UA server endpoint, an opc.tcp:// URL, e.g. opc.tcp://plc-1:4840/UA/Server.',
        }),
        credentials: Type.Optional(
          Type.Object(
            {
              username: Type.Optional(Type.String({ minLength: 1, description: 'Inline user name.' })),
              password: Type.Optional(Type.String({ description: 'Inline password (with username).' })),
              secretRef: Type.Optional(
                Type.Object(
                  {
                    name: Type.String({ minLength: 1, description: 'Name of a Secret of this namespace.' }),
                    usernameKey: Type.Optional(SecretKey('user name', 'username')),
                    passwordKey: Type.Optional(SecretKey('password', 'password')),
                  },
                  { description: 'Take the user name and password from a Secret of this namespace.' },
                ),
              ),
            },
            {
              description:
                'User name and password for the server: inline (username and password) or from a Secret (secretRef), not both. Anonymous when absent.',
            },
          ),
        ),
        security: Type.Optional(
          Type.Object(
            {
              mode: Type.Optional(
                Type.Enum([...SECURITY_MODES], { description: 'Message security mode. @default None' }),
              ),
              policy: Type.Optional(
                Type.Enum([...SECURITY_POLICIES], {
                  description: 'Security policy; None exactly when mode is None. @default None',
                }),
              ),
            },
            { description: 'OPC UA message security. @default mode None, policy None' },
          ),
        ),
        defaults: Type.Optional(
          Type.Object(
            {
              samplingInterval: Type.Optional(
                Duration('How often the server samples each node (0: as fast as it can)'),
              ),
              publishingInterval: Type.Optional(
                Duration('How often the server sends the changes it sampled (at least 10ms)'),
              ),
            },
            { description: 'Subscription settings for every feature.' },
          ),
        ),
        subscriptions: Type.Unsafe<Record<string, string>>({
          type: 'object',
          additionalProperties: { type: 'string' },
          description:
            'What to read: feature name -> OPC UA node id, e.g. temperature: "ns=2;s=Temperature". ' +
            'Node ids: [ns=N;]i=NUMBER, s=STRING, g=GUID or b=BASE64. Feature names are letters, digits, ' +
            "'_', '.' and '-' (a topic segment); values are published per feature.",
        }),
        devices: {
          ...LabelSelector,
          description:
            'The devices that run the connector, by label (as a Placement deviceSelector); {} selects every device.',
        },
      },
      { description: 'Which server to read, what, how, and on which devices.' },
    ),
    status: Type.Optional(
      Type.Object(
        {
          observedGeneration: Type.Optional(Type.Integer()),
          workload: Type.Optional(Type.String({ description: 'The Workload rendered (same name).' })),
          placement: Type.Optional(Type.String({ description: 'The Placement rendered (same name).' })),
          configHash: Type.Optional(
            Type.String({ description: 'sha256 of the config.yaml rendered into the Workload.' }),
          ),
          devices: Type.Optional(
            Type.Object(
              {
                matched: Type.Integer({ minimum: 0 }),
                running: Type.Integer({ minimum: 0 }),
                failed: Type.Integer({ minimum: 0 }),
                unreachable: Type.Integer({ minimum: 0 }),
                connected: Type.Optional(
                  Type.Integer({
                    minimum: 0,
                    description: 'Matched devices whose connector last said it is connected to the server.',
                  }),
                ),
              },
              { description: 'Device counts, from the Placement summary and the devices telemetry.' },
            ),
          ),
          lastValueTime: Type.Optional({
            ...Time,
            description: 'When the hub last received a value from any matched device.',
          }),
          connections: Type.Optional(
            Type.Array(
              Type.Object({
                device: Type.String(),
                connected: Type.Boolean(),
                error: Type.Optional(Type.String()),
                lastValueTime: Type.Optional(Time),
              }),
              {
                maxItems: 50,
                description:
                  'Per matched device, its connector last status (at most 50: disconnected devices first).',
              },
            ),
          ),
          conditions: Type.Optional({
            ...Conditions,
            description:
              'Rendered: the Workload and Placement hold the current spec (reasons Rendered, Conflict, Terminating, Refused, SecretNotFound, SecretKeyNotFound). ' +
              'Ready: every matched device runs the connector and, when the hub has heard from them, is connected to the server ' +
              '(reasons Connected, Running, NotRendered, Disconnected, or the Placement Ready reason: NoDevices, Failed, Unreachable, Progressing).',
          }),
        },
        { description: 'What was rendered and how the devices stand.' },
      ),
    ),
  },
);
export type OpcUaConnector = Type.Static<typeof OpcUaConnectorSchema>;
export type OpcUaConnectorSpec = OpcUaConnector['spec'];
export type OpcUaConnectorStatus = NonNullable<OpcUaConnector['status']>;

const specOf = (object: KubeObject) => object.spec as OpcUaConnectorSpec | undefined;
const statusOf = (object: KubeObject) => object.status as OpcUaConnectorStatus | undefined;

export const opcUaConnectorKind: KindDefinition = {
  group: 'outpost.dev',
  version: 'v1alpha1',
  kind: 'OpcUaConnector',
  plural: 'opcuaconnectors',
  singular: 'opcuaconnector',
  shortNames: ['opcua'],
  // Workload-facing, as Kubernetes' Deployments: `kubectl get all` lists them.
  categories: ['all', 'outpost'],
  namespaced: true,
  schema: OpcUaConnectorSchema,
  description:
    'OPC UA connectivity for devices: which server, which nodes, and which devices run the connector. Rendered into a Workload and a Placement.',
  statusSubresource: true,
  strategicMergePatch: false,
  printerColumns: [
    { name: 'Server', type: 'string', description: 'The OPC UA server.', cell: (o) => specOf(o)?.server },
    {
      name: 'Features',
      type: 'integer',
      description: 'Features subscribed.',
      cell: (o) => Object.keys(specOf(o)?.subscriptions ?? {}).length,
    },
    {
      name: 'Matched',
      type: 'integer',
      description: 'Devices matched.',
      cell: (o) => statusOf(o)?.devices?.matched,
    },
    {
      name: 'Running',
      type: 'integer',
      description: 'Devices running the connector.',
      priority: 1,
      cell: (o) => statusOf(o)?.devices?.running,
    },
    {
      name: 'Connected',
      type: 'integer',
      description: 'Devices connected to the server.',
      cell: (o) => statusOf(o)?.devices?.connected,
    },
    {
      name: 'Ready',
      type: 'string',
      description: 'Ready condition.',
      cell: (o) => conditionStatus(o, 'Ready'),
    },
    {
      name: 'Last-Value',
      type: 'date',
      description: 'When a value last arrived.',
      priority: 1,
      cell: (o) => statusOf(o)?.lastValueTime,
    },
    ageColumn,
  ],
  validate: (object) => validateOpcUaConnector(specOf(object)),
};

/** Publishing intervals below this are refused (the server would revise them up anyway). */
export const MIN_PUBLISHING_INTERVAL_MS = 10;
/** Intervals above a day are surely a mistake. */
const MAX_INTERVAL_MS = 24 * 3600 * 1000;

/** Semantic checks beyond the schema: URL, credentials, security, durations, features, node ids, selector. */
export function validateOpcUaConnector(spec: OpcUaConnectorSpec | undefined): FieldCause[] {
  if (!spec) return [];
  const causes: FieldCause[] = [];
  const invalid = (field: string, message: string) =>
    causes.push({ reason: 'FieldValueInvalid', field, message: `Invalid value: ${message}` });

  const serverProblem = opcTcpUrlProblem(spec.server);
  if (serverProblem) invalid('spec.server', `${JSON.stringify(spec.server)}: ${serverProblem}`);

  const credentials = spec.credentials;
  if (credentials) {
    const inline = credentials.username !== undefined || credentials.password !== undefined;
    if (inline && credentials.secretRef) {
      causes.push({
        reason: 'FieldValueForbidden',
        field: 'spec.credentials.secretRef',
        message: 'Forbidden: may not be set together with username and password',
      });
    } else if (!inline && !credentials.secretRef) {
      causes.push({
        reason: 'FieldValueRequired',
        field: 'spec.credentials',
        message: 'Required value: username and password, or secretRef',
      });
    } else if (inline) {
      if (credentials.username === undefined)
        causes.push({
          reason: 'FieldValueRequired',
          field: 'spec.credentials.username',
          message: 'Required value: a password needs a username',
        });
      if (credentials.password === undefined)
        causes.push({
          reason: 'FieldValueRequired',
          field: 'spec.credentials.password',
          message: 'Required value: a username needs a password',
        });
    }
    const ref = credentials.secretRef;
    for (const key of ['usernameKey', 'passwordKey'] as const) {
      const value = ref?.[key];
      if (value !== undefined && !SECRET_KEY.test(value))
        invalid(
          `spec.credentials.secretRef.${key}`,
          `${JSON.stringify(value)}: a Secret key consists of alphanumeric characters, '-', '_' or '.'`,
        );
    }
  }

  const mode = spec.security?.mode ?? 'None';
  const policy = spec.security?.policy ?? 'None';
  if (mode === 'None' && policy !== 'None')
    invalid('spec.security.policy', `${JSON.stringify(policy)}: must be None when mode is None`);
  if (mode !== 'None' && policy === 'None')
    invalid('spec.security.policy', `"None": must not be None when mode is ${mode}`);

  const intervals = [
    ['samplingInterval', spec.defaults?.samplingInterval, 0],
    ['publishingInterval', spec.defaults?.publishingInterval, MIN_PUBLISHING_INTERVAL_MS],
  ] as const;
  for (const [name, text, minimum] of intervals) {
    if (text === undefined) continue;
    const ms = parseDurationMs(text);
    const field = `spec.defaults.${name}`;
    if (ms === undefined) invalid(field, `${JSON.stringify(text)}: must be ${DURATION_HELP}`);
    else if (ms < minimum) invalid(field, `${JSON.stringify(text)}: must be at least ${minimum}ms`);
    else if (ms > MAX_INTERVAL_MS) invalid(field, `${JSON.stringify(text)}: must be at most 24h`);
  }

  const features = Object.entries(spec.subscriptions);
  if (features.length === 0)
    causes.push({
      reason: 'FieldValueRequired',
      field: 'spec.subscriptions',
      message: 'Required value: at least one feature',
    });
  for (const [feature, nodeId] of features) {
    const field = `spec.subscriptions.${feature}`;
    if (!FEATURE.test(feature) || feature.length > MAX_FEATURE_LENGTH)
      invalid(
        field,
        `${JSON.stringify(feature)}: a feature name is at most ${MAX_FEATURE_LENGTH} letters, digits, '_', '.' or '-', starting with a letter, digit or '_' (it is an MQTT topic segment)`,
      );
    if (!isNodeId(nodeId))
      invalid(
        field,
        `${JSON.stringify(nodeId)}: not an OPC UA node id; expected [ns=N;]i=NUMBER, s=STRING, g=GUID or b=BASE64, e.g. ns=2;s=Temperature or i=2258`,
      );
  }

  // The device selector is a Placement's deviceSelector: the same checks, under this kind's field name.
  for (const cause of validatePlacement({ workloadSelector: {}, deviceSelector: spec.devices })) {
    causes.push({ ...cause, field: cause.field.replace(/^spec\.deviceSelector/, 'spec.devices') });
  }
  causes.push(...labelCauses(spec.devices.matchLabels ?? {}, 'spec.devices.matchLabels'));
  return causes;
}

const FEATURE = new RegExp(FEATURE_PATTERN);
const MAX_FEATURE_LENGTH = 128;
const SECRET_KEY = /^[-._a-zA-Z0-9]+$/;

/** Why `text` is not an `opc.tcp://HOST[:PORT][/PATH]` URL, or undefined when it is one. */
export function opcTcpUrlProblem(text: string): string | undefined {
  if (!text.startsWith('opc.tcp://')) return 'must be an opc.tcp:// URL, e.g. opc.tcp://plc-1:4840/UA/Server';
  if (/\s/.test(text)) return 'must not contain white space';
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'not a valid URL';
  }
  if (url.hostname === '') return 'needs a host';
  if (url.username !== '' || url.password !== '') return 'must not carry credentials (use spec.credentials)';
  if (url.search !== '' || url.hash !== '') return 'must not have a query or fragment';
  return undefined;
}

const DURATION = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h))+$/;
const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Milliseconds of a duration written as Go writes them, restricted to the
 * units that make sense here: `500ms`, `1s`, `1.5s`, `1m30s`, `2h`, or `0`.
 * Undefined when `text` is not one.
 */
export function parseDurationMs(text: string): number | undefined {
  if (text === '0') return 0;
  if (!DURATION.test(text)) return undefined;
  let total = 0;
  for (const part of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) {
    total += Number(part[1]) * UNIT_MS[part[2]!]!;
  }
  return Math.round(total);
}
